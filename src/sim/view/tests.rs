use std::sync::Arc;

use super::*;
use crate::model::{BucketCounts, ConnectionType, NodeKind, NodeSnapshot, PairingStats};

fn node(name: &str, kind: NodeKind, versions: &[(&str, u32)]) -> NodeSnapshot {
    NodeSnapshot {
        name: Arc::from(name),
        kind,
        namespace: None,
        environments: vec![Arc::from("production")],
        versions: versions.iter().map(|(v, n)| (Arc::from(*v), *n)).collect(),
        first_seen: Timestamp::from_secs(1_000),
        last_seen: Timestamp::from_secs(1_060),
    }
}

fn edge(
    client: &str,
    server: &str,
    ct: ConnectionType,
    requests: u64,
    failed: u64,
) -> EdgeSnapshot {
    EdgeSnapshot {
        client: Arc::from(client),
        server: Arc::from(server),
        connection_type: ct,
        requests,
        failed,
        client_latency: BucketCounts::default(),
        server_latency: BucketCounts::default(),
        client_p: [0.012, 0.030, 0.045],
        server_p: [0.010, 0.025, 0.040],
        by_server_version: Vec::new(),
        first_seen: Timestamp::from_secs(1_000),
        last_seen: Timestamp::from_secs(1_060),
    }
}

fn snapshot(watermark: u64, checkout_requests: u64, checkout_failed: u64) -> GraphSnapshot {
    GraphSnapshot {
        watermark: Timestamp::from_secs(watermark),
        nodes: vec![
            node("checkout", NodeKind::Service, &[("1.4.0", 2), ("1.5.0", 1)]),
            node("frontend", NodeKind::Service, &[("2.4.1", 3)]),
            node("orders-postgres", NodeKind::Database, &[]),
        ],
        edges: vec![
            edge(
                "frontend",
                "checkout",
                ConnectionType::Direct,
                checkout_requests,
                checkout_failed,
            ),
            edge(
                "checkout",
                "orders-postgres",
                ConnectionType::Database,
                500,
                0,
            ),
        ],
        pairing: PairingStats {
            pending: 7,
            unpaired: 2,
            dropped: 0,
        },
    }
}

fn row<'a>(view: &'a str, starts: &str) -> &'a str {
    view.lines()
        .find(|l| l.starts_with(starts))
        .unwrap_or_else(|| panic!("no row {starts:?} in\n{view}"))
}

#[test]
fn rates_and_error_ratios_come_from_snapshot_deltas() {
    let previous = snapshot(1_050, 1_000, 10);
    let current = snapshot(1_060, 1_200, 30);
    let view = render_live_view(&current, Some(&previous), 10.0);
    // 200 requests and 20 failures in 10 s: 20 req/s at 10 %.
    let edge_row = row(&view, "frontend → checkout");
    let cols: Vec<&str> = edge_row.split_whitespace().collect();
    assert_eq!(&cols[3..6], ["direct", "20.0", "10.00"], "{edge_row}");
    assert!(
        edge_row.contains("12.0/45.0 ms") && edge_row.contains("10.0/40.0 ms"),
        "{edge_row}"
    );
    // The database edge did not move: 0 req/s, no error ratio.
    let db_cols: Vec<&str> = row(&view, "checkout → orders-postgres")
        .split_whitespace()
        .collect();
    assert_eq!(&db_cols[3..6], ["database", "0.0", "-"]);
    // A service's rate is the sum of the edges into it.
    let svc_row = row(&view, "checkout ");
    assert!(svc_row.contains("1.4.0×2 1.5.0×1"), "{svc_row}");
    let cols: Vec<&str> = svc_row.split_whitespace().collect();
    assert_eq!(cols[cols.len() - 2..], ["20.0", "10.00"], "{svc_row}");
    assert!(row(&view, "orders-postgres ").contains("database"));
    assert!(view.contains("pairing: 7 pending · 2 unpaired · 0 dropped"));
    assert!(
        view.starts_with(
            "epicenter live graph · watermark 1970-01-01T00:17:40Z · 3 nodes · 2 edges"
        )
    );
}

#[test]
fn without_a_previous_snapshot_rates_are_lifetime_averages() {
    let current = snapshot(1_060, 1_200, 30);
    let view = render_live_view(&current, None, 10.0);
    // 1200 requests over the edge's 60 s life.
    let cols: Vec<&str> = row(&view, "frontend → checkout")
        .split_whitespace()
        .collect();
    assert_eq!(&cols[3..6], ["direct", "20.0", "2.50"]);
}

#[test]
fn a_new_edge_counts_everything_within_the_interval_and_long_names_are_clipped() {
    let previous = snapshot(1_050, 1_000, 10);
    let mut current = snapshot(1_060, 1_200, 30);
    current.edges.push(edge(
        "frontend",
        "a-very-long-service-name-indeed",
        ConnectionType::Direct,
        50,
        0,
    ));
    let view = render_live_view(&current, Some(&previous), 10.0);
    let r = row(&view, "frontend → a-very-long-service-n…");
    assert!(r.contains(" 5.0 "), "{r}");
    assert_eq!(
        live_view_footer("http://127.0.0.1:8080/"),
        "curl http://127.0.0.1:8080/api/v1/graph · http://127.0.0.1:8080/api/v1/services · http://127.0.0.1:8080/metrics · Ctrl-C to stop"
    );
}
