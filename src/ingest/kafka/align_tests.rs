use super::*;

const SKEW: Duration = Duration::from_secs(5);
const IDLE: Duration = Duration::from_secs(2);

fn at(secs: u64) -> Timestamp {
    Timestamp::from_secs(1_000 + secs)
}

fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

fn two_lanes() -> Alignment {
    let mut align = Alignment::new(SKEW, IDLE);
    let fresh = align.assign([("t", 0, 1), ("t", 1, 2)], ms(0));
    assert_eq!(fresh.len(), 2);
    align
}

fn names(lanes: &[(Arc<str>, i32)]) -> Vec<(String, i32)> {
    lanes.iter().map(|(t, p)| (t.to_string(), *p)).collect()
}

#[test]
fn a_partition_ahead_of_the_slowest_is_held_and_resumes_at_half_the_skew() {
    let mut align = two_lanes();
    assert_eq!(
        align.admit("t", 1, at(0), ms(1)),
        Admit::Hold,
        "t/0 not read yet"
    );
    assert_eq!(align.admit("t", 0, at(0), ms(2)), Admit::Go);
    assert_eq!(names(&align.resumable(ms(3))), [("t".to_owned(), 1)]);
    assert_eq!(
        align.admit("t", 1, at(0), ms(4)),
        Admit::Go,
        "the held record again"
    );
    assert_eq!(
        align.admit("t", 1, at(5), ms(5)),
        Admit::Go,
        "exactly the skew"
    );
    assert_eq!(align.admit("t", 1, at(6), ms(6)), Admit::Hold);
    assert!(align.is_held("t", 1));
    assert!(!align.is_held("t", 0));
    assert_eq!(align.held(), 1);
    // t/0 catches up, but not yet within half the skew of t/1's 6 s.
    assert_eq!(align.admit("t", 0, at(3), ms(7)), Admit::Go);
    assert!(align.resumable(ms(8)).is_empty());
    assert_eq!(align.admit("t", 0, at(4), ms(9)), Admit::Go);
    assert_eq!(names(&align.resumable(ms(10))), [("t".to_owned(), 1)]);
    assert_eq!(align.held(), 0);
    assert!(!align.is_held("t", 1));
}

#[test]
fn an_idle_partition_does_not_hold_the_others_back() {
    let mut align = two_lanes();
    assert_eq!(
        align.admit("t", 0, at(0), ms(0)),
        Admit::Hold,
        "t/1 may have older spans"
    );
    // t/1 never delivers: after `idle` it stops counting.
    assert!(align.resumable(ms(1_999)).is_empty());
    assert_eq!(names(&align.resumable(ms(2_000))), [("t".to_owned(), 0)]);
    assert_eq!(align.admit("t", 0, at(0), ms(2_001)), Admit::Go);
    assert_eq!(align.admit("t", 0, at(600), ms(2_002)), Admit::Go);
    // t/1 wakes up with old spans: they are admitted (the graph judges them),
    // and now t/0 waits for it.
    assert_eq!(align.admit("t", 1, at(10), ms(5_000)), Admit::Go);
    assert_eq!(align.admit("t", 0, at(601), ms(5_001)), Admit::Hold);
    // Caught up again (no records for `idle`), t/1 lets t/0 go.
    assert_eq!(names(&align.resumable(ms(7_000))), [("t".to_owned(), 0)]);
}

#[test]
fn the_slowest_partition_is_never_held_so_there_is_no_deadlock() {
    let mut align = Alignment::new(SKEW, IDLE);
    align.assign([("a", 0, 1), ("a", 1, 2), ("b", 0, 3)], ms(0));
    assert_eq!(align.admit("a", 0, at(100), ms(1)), Admit::Hold);
    assert_eq!(align.admit("a", 1, at(120), ms(1)), Admit::Hold);
    // The last unknown partition delivers far behind: it runs, the others wait.
    assert_eq!(align.admit("b", 0, at(0), ms(1)), Admit::Go);
    assert!(align.resumable(ms(2)).is_empty());
    // All three jump far ahead at once (e.g. a final record per partition):
    // the lowest one always resumes.
    assert_eq!(align.admit("b", 0, at(500), ms(3)), Admit::Hold);
    assert_eq!(align.held(), 3);
    assert_eq!(names(&align.resumable(ms(4))), [("a".to_owned(), 0)]);
    assert_eq!(align.admit("a", 0, at(100), ms(5)), Admit::Go);
    assert_eq!(align.admit("a", 0, at(118), ms(6)), Admit::Go);
    assert_eq!(names(&align.resumable(ms(7))), [("a".to_owned(), 1)]);
    assert_eq!(align.admit("a", 0, at(200), ms(8)), Admit::Hold);
    // a/1 turns idle; b/0 is held (so never idle) and far ahead: a/0 goes,
    // but only up to b/0's position plus the skew.
    assert_eq!(names(&align.resumable(ms(60_000))), [("a".to_owned(), 0)]);
    assert_eq!(align.admit("a", 0, at(200), ms(60_001)), Admit::Go);
    assert_eq!(align.admit("a", 0, at(506), ms(60_002)), Admit::Hold);
}

#[test]
fn reassignment_keeps_unchanged_lanes_and_resets_the_others() {
    let mut align = two_lanes();
    assert_eq!(align.admit("t", 0, at(0), ms(0)), Admit::Hold);
    assert_eq!(align.admit("t", 1, at(0), ms(0)), Admit::Go);
    // t/1 revoked, t/2 assigned, t/0 unchanged (still held).
    let fresh = align.assign([("t", 0, 1), ("t", 2, 3)], ms(10));
    assert_eq!(names(&fresh), [("t".to_owned(), 2)]);
    assert!(align.is_held("t", 0));
    assert_eq!(align.held(), 1);
    // t/2 has no position yet: t/0 stays held until it delivers or idles.
    assert!(align.resumable(ms(11)).is_empty());
    assert_eq!(names(&align.resumable(ms(2_010))), [("t".to_owned(), 0)]);
    // t/0 reassigned under a new epoch starts over, not held.
    assert_eq!(align.admit("t", 0, at(0), ms(2_011)), Admit::Go);
    assert_eq!(
        align.admit("t", 0, at(100), ms(2_012)),
        Admit::Go,
        "t/2 idle"
    );
    align.admit("t", 2, at(0), ms(2_013));
    assert_eq!(align.admit("t", 0, at(101), ms(2_014)), Admit::Hold);
    let fresh = align.assign([("t", 0, 4), ("t", 2, 3)], ms(2_015));
    assert_eq!(names(&fresh), [("t".to_owned(), 0)]);
    assert!(!align.is_held("t", 0));
    assert_eq!(align.held(), 0);
}

#[test]
fn a_stall_does_not_make_partitions_idle() {
    let mut align = two_lanes();
    align.admit("t", 1, at(0), ms(0));
    assert_eq!(align.admit("t", 0, at(0), ms(0)), Admit::Go);
    assert_eq!(names(&align.resumable(ms(0))), [("t".to_owned(), 1)]);
    // Backpressure held everything for 10 s.
    align.stalled(ms(10_000));
    assert_eq!(
        align.admit("t", 1, at(9), ms(10_001)),
        Admit::Hold,
        "t/0 is not idle"
    );
}

#[test]
fn off_or_unassigned_admits_everything() {
    let mut off = Alignment::new(Duration::ZERO, IDLE);
    off.assign([("t", 0, 1), ("t", 1, 2)], ms(0));
    assert!(!off.enabled());
    assert_eq!(off.admit("t", 0, at(1_000), ms(0)), Admit::Go);
    let mut align = two_lanes();
    assert_eq!(align.admit("deployments", 0, at(1_000), ms(0)), Admit::Go);
    let mut single = Alignment::new(SKEW, IDLE);
    single.assign([("t", 0, 1)], ms(0));
    assert_eq!(single.admit("t", 0, at(0), ms(0)), Admit::Go);
    assert_eq!(single.admit("t", 0, at(1_000), ms(1)), Admit::Go);
}

/// Admits records of topic `t`, each `(partition, span end s, now ms)`, in
/// order; what each got.
fn admits(align: &mut Alignment, records: &[(i32, u64, u64)]) -> Vec<Admit> {
    records
        .iter()
        .map(|&(partition, end, now)| align.admit("t", partition, at(end), ms(now)))
        .collect()
}

#[test]
fn a_partition_read_to_its_end_stops_holding_the_others_at_once() {
    use Admit::{Go, Hold};
    let mut align = two_lanes();
    assert_eq!(admits(&mut align, &[(0, 0, 1)]), [Hold], "t/1 not read yet");
    // t/1 is empty: its end is reached before it ever delivered.
    align.reached_end("t", 1);
    assert_eq!(names(&align.resumable(ms(2))), [("t".to_owned(), 0)]);
    // t/0 goes on freely; a new record of t/1 makes it active again, well
    // before `IDLE`, and t/0 is held behind it.
    let got = admits(
        &mut align,
        &[(0, 0, 3), (0, 100, 4), (1, 100, 5), (0, 200, 6)],
    );
    assert_eq!(got, [Go, Go, Go, Hold]);
}

#[test]
fn the_end_of_a_held_partition_does_not_free_the_others() {
    use Admit::{Go, Hold};
    let mut align = two_lanes();
    align.reached_end("t", 0); // t/0 empty so far: it holds nobody back
    // t/1 delivers, t/0's first record comes, t/1 runs ahead.
    assert_eq!(
        admits(&mut align, &[(1, 0, 1), (0, 0, 2), (1, 60, 3)]),
        [Go, Go, Hold]
    );
    // t/1's end is reached with its record parked: it stays held, and t/0
    // (the slowest) is never held.
    align.reached_end("t", 1);
    assert!(align.is_held("t", 1));
    assert!(align.resumable(ms(4)).is_empty());
    assert_eq!(admits(&mut align, &[(0, 1, 5)]), [Go]);
}

#[test]
fn releasing_the_park_of_a_partition_read_to_its_end_keeps_it_at_its_end() {
    use Admit::{Go, Hold};
    let mut align = two_lanes();
    assert_eq!(admits(&mut align, &[(1, 0, 1), (0, 0, 2)]), [Hold, Go]);
    assert_eq!(names(&align.resumable(ms(3))), [("t".to_owned(), 1)]);
    assert_eq!(align.admit_parked("t", 1, at(0), ms(3)), Go);
    // t/1 runs ahead and is held with its last record parked, then
    // librdkafka says t/1 was read to its end.
    assert_eq!(admits(&mut align, &[(1, 60, 4)]), [Hold]);
    align.reached_end("t", 1);
    // t/0 catches up; t/1 resumes and its parked record goes on.
    assert_eq!(admits(&mut align, &[(0, 58, 5)]), [Go]);
    assert_eq!(names(&align.resumable(ms(6))), [("t".to_owned(), 1)]);
    assert_eq!(align.admit_parked("t", 1, at(60), ms(6)), Go);
    // t/1 has nothing more: t/0 must not wait `IDLE` behind it.
    assert_eq!(admits(&mut align, &[(0, 100, 7)]), [Go]);
    // A fresh record of t/1 makes it active again.
    assert_eq!(admits(&mut align, &[(1, 61, 8), (0, 200, 9)]), [Go, Hold]);
}
