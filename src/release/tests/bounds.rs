//! Memory bounds and determinism.

use super::*;
use crate::release::Config;

fn small() -> ReleaseIndex {
    let config = Config {
        max_releases_per_service: 3,
        max_versions_per_service: 4,
        max_services: 2,
        timeline_max_points: 8,
        dedup_capacity: 4,
        baseline_windows: 1,
        ..Config::default()
    };
    ReleaseIndex::new(config.validate().unwrap())
}

#[test]
fn releases_and_versions_per_service_are_capped() {
    let mut ix = small();
    for i in 0..10u64 {
        let v = format!("v{i}");
        ix.observe_window(&window(i * 60, &[("prod", "svc", &v, 100, 2)]));
    }
    let rs = ix.releases_of("svc", "prod");
    let versions: Vec<&str> = rs.iter().map(|r| &*r.key.version).collect();
    assert_eq!(versions, ["v7", "v8", "v9"], "oldest releases dropped");
    assert_eq!(rs[0].previous_version.as_deref(), Some("v6"));
}

#[test]
fn services_are_capped_least_recently_active_first() {
    let mut ix = small();
    ix.observe_window(&window(0, &[("prod", "a", "v1", 1, 1)]));
    ix.observe_window(&window(60, &[("prod", "b", "v1", 1, 1)]));
    ix.observe_window(&window(
        120,
        &[("prod", "a", "v1", 1, 1), ("prod", "c", "v1", 1, 1)],
    ));
    assert_eq!(ix.service_count(), 2);
    assert_eq!(
        ix.current_version("b", "prod"),
        None,
        "b was least recently active"
    );
    assert_eq!(ix.current_version("a", "prod"), Some("v1"));
    assert_eq!(ix.current_version("c", "prod"), Some("v1"));
}

#[test]
fn timeline_is_thinned_not_truncated() {
    let mut ix = small();
    let mut split = vec![(4, 0)];
    split.extend(std::iter::repeat_n((4, 1), 50));
    run_split(&mut ix, 0, &split);
    let tl = ix.timeline(&key("svc", "prod", "v2")).unwrap();
    assert!(tl.len() <= 8, "{}", tl.len());
    assert_eq!(tl[0].at, t(60), "the first point stays");
    assert_eq!(tl.last().unwrap().at, t(50 * 60), "the last point stays");
    assert!(tl.windows(2).all(|w| w[0].at < w[1].at));
}

#[test]
fn dedup_is_bounded() {
    let mut ix = small();
    for i in 0..10 {
        ix.apply_event(&deploy(&format!("e{i}"), "svc", "prod", "v2", 100));
    }
    assert_eq!(ix.dedup_len(), 4);
}

#[test]
fn same_inputs_same_outputs() {
    let run = || {
        let mut ix = index();
        let mut log = Vec::new();
        log.push(format!(
            "{:?}",
            ix.apply_event(&deploy("e1", "api", "prod", "2.0", 200))
        ));
        for i in 0..20u64 {
            let rows = [
                ("prod", "api", "1.0", 100, if i < 4 { 4 } else { 1 }),
                ("prod", "api", "2.0", 100, if i < 4 { 0 } else { 3 }),
                ("prod", "db", "x", 10, 1),
                ("staging", "api", if i < 10 { "1.0" } else { "2.0" }, 10, 1),
            ];
            let rows: Vec<_> = rows.into_iter().filter(|r| r.4 > 0).collect();
            log.push(format!("{:?}", ix.observe_window(&window(i * 60, &rows))));
        }
        log.push(format!("{:?}", ix.releases_since(t(0))));
        log
    };
    assert_eq!(run(), run());
}
