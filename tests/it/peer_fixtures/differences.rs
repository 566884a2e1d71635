//! Where the peer suite expects something else than the peers' files say:
//! our intended differences, per case, each with its reason.

use super::{Counter, Expectation, Want};
use epicenter::graph::{Expiry, HalfKind};

/// The mythical trace after `finish()`, as we see it: the three peer edges
/// (database node named `db`), plus `mythical-server → loki`: the `HTTP POST`
/// span carries `net.peer.name=loki`, which ingest resolves to
/// `server.address` (Tempo ignores `net.peer.name`; OTel says `unknown`).
/// `dns.lookup` and both `log_to_loki` carry no name: unpaired, no `unknown`.
fn mythical(e: &mut Expectation, db: &str) {
    for want in &mut e.edges {
        if want.connection_type == "database" {
            want.server = db.into();
        }
    }
    e.ensure(Want::new("mythical-requester", "mythical-server", "", 1));
    e.ensure(Want::new("mythical-server", db, "database", 1));
    e.ensure(Want::new(
        "mythical-requester",
        "mythical-recorder",
        "messaging_system",
        1,
    ));
    e.ensure(Want::new("mythical-server", "loki", "virtual_node", 1));
    e.exact = true;
    e.counter(Counter::Expired(HalfKind::Client, Expiry::Unpaired), 3);
}

/// Our intended differences from the peers, per case. `Err` skips the case.
pub(super) fn ours(id: &str, e: &mut Expectation) -> Result<(), String> {
    match id {
        // Ingest resolves `net.peer.name` as the deprecated alias of
        // `server.address` (CONVENTIONS.md §3.4), so the database is named by
        // its host like the `server.address` variants, not by `db.name`.
        "tempo.queue_database.dims"
        | "tempo.queue_database.prefix"
        | "tempo.queue_database.prefix_vnode_label"
        | "tempo.queue_database.connection_info"
        | "tempo.queue_database.filter.no_filters"
        | "tempo.database_node.trace-with-queue-database"
        | "tempo.database_node.trace-with-db-namespace" => mythical(e, "mythical-database"),
        "tempo.database_node.trace-with-queue-database2"
        | "tempo.database_node.trace-with-queue-database3"
        | "tempo.database_node.trace-without-database-name" => mythical(e, "mythical-database"),
        "tempo.database_node.trace-with-queue-database4" => mythical(e, "mythical-database:5432"),
        "tempo.database_node.trace-with-queue-database5" => mythical(e, "mythical-database"),
        "tempo.database_node.trace-with-both-db-attributes" => mythical(e, "priority-db"),
        "tempo.database_node.trace-with-db-system-name" => mythical(e, "postgresql"),
        // Ingest prefers the stable `db.system.name` over the deprecated
        // `db.system` (Tempo's attribute list happens to check `db.system` first).
        "tempo.database_node.trace-with-db-system-and-system-name" => {
            mythical(e, "microsoft.sql_server")
        }
        "tempo.queue_database.db_name_attr_override" => {
            return Err("`database_name_attributes` is not configurable".into());
        }
        id if id.starts_with("tempo.queue_database.filter.") => {
            return Err("`filter_policies` are not supported".into());
        }
        // Tempo rejects the push; we hold the first half and count the rest.
        "tempo.queue_database.too_many_items" => e.counter(Counter::RejectedFullAtLeast, 1),
        "tempo.failed_requests" | "tempo.virtual_nodes" => e.exact = true,
        // Tempo's `edges` counter also counts the expired, unmatched server's
        // edge object; we count edges in the graph.
        "tempo.expired_edges" => {
            e.exact = true;
            e.counter(Counter::Edges, 3);
        }
        "alloy_static.happy" | "otel.extra_dimensions" | "otel.happy_inline" => e.exact = true,
        // We have no `success_codes` option: the 404 stays a client failure.
        "alloy_static.success_codes" => {
            e.edge("lb", "app").failed = Some(2);
            e.exact = true;
        }
        // Same single edge as Alloy; our counter is per store, not per side.
        "alloy_static.max_items_1" => {
            e.counters.clear();
            e.counter(Counter::RejectedFull, 11);
            e.exact = true;
        }
        // Root-key fix: every root SERVER is held under its own id, so none is
        // overwritten (Alloy keeps one per trace, named after the last writer)
        // and each becomes `user → server`. The six CLIENT spans carry no
        // name: unpaired.
        "alloy_static.unpaired" => {
            e.edges = vec![
                Want::new("user", "app", "virtual_node", 3),
                Want::new("user", "db", "virtual_node", 3),
            ];
            e.exact = true;
            e.counters.clear();
            e.counter(Counter::Expired(HalfKind::Client, Expiry::Unpaired), 6);
            e.counter(Counter::Expired(HalfKind::Server, Expiry::Unpaired), 0);
        }
        // No `unknown` node: the nameless orphan CLIENT is counted unpaired.
        "otel.virtual_node.server_side" => {
            e.edges.clear();
            e.exact = true;
            e.counter(Counter::Expired(HalfKind::Client, Expiry::Unpaired), 1);
        }
        // A root SERVER with `peer.service` is called by that peer (Tempo
        // PR #5381), not by `user` (OTel issues #36503/#45397).
        "otel.virtual_node.client_side" => {
            e.edge("user", "bar-requester").client = "external-platform".into();
            e.exact = true;
        }
        "otel.virtual_node.combined_legacy" => {
            e.edges.retain(|w| w.server != "unknown");
            e.edge("user", "bar-requester").client = "external-platform".into();
            e.exact = true;
            e.counter(Counter::Expired(HalfKind::Client, Expiry::Unpaired), 1);
        }
        // A database-flagged CLIENT never overrides a real SERVER: the pair is
        // a plain edge (Tempo blanks the server name and emits a virtual node).
        "tempo.db_client_overwrites_server" => {
            e.edges = vec![Want::new("svc-a", "svc-b", "", 1)];
            e.exact = true;
        }
        // Jaeger ignores span kinds; these spans are all INTERNAL, and we only
        // pair CLIENT/PRODUCER with SERVER/CONSUMER (no parent/child mode yet).
        "jaeger.memory.getdependencies" => {
            e.edges.clear();
            e.exact = true;
        }
        "otel.incomplete_client"
        | "otel.incomplete_root_server"
        | "otel.client_lost"
        | "otel.links_cross_trace"
        | "tempo.expired_by_kind" => e.exact = true,
        _ => {}
    }
    Ok(())
}
