//! Names of inferred (virtual) nodes, computed from a span's peer attributes.
//!
//! Rules (SERVICE_GRAPH.md §7.4/§7.5; Tempo's database precedence):
//!
//! * **Database** (a CLIENT span with `db.*` attributes): `peer.service` ›
//!   `server.address` › `network.peer.address[:port]` › `db.namespace` ›
//!   `db.system`. Aliases were resolved at ingest (`db.namespace` else
//!   `db.name`; `db.system.name` else `db.system`; `server.address` else
//!   `net.peer.name`), so we follow the *current* semantic-convention name
//!   where Tempo follows its attribute list (see `tests/it/peer_fixtures.rs`).
//! * **Other CLIENT spans**: `peer.service` › `server.address[:port]` ›
//!   `network.peer.address[:port]`.
//! * **PRODUCER spans**: `peer.service` › messaging node (`system/destination`)
//!   › `server.address[:port]` › `network.peer.address[:port]`.
//! * **Root SERVER/CONSUMER spans** (the caller is not traced): `peer.service`
//!   › (consumers) messaging node › `user`.
//!
//! There is no `unknown` node: a client span with no name stays unpaired and
//! is counted (the OTel connector's `unknown` collapses every uninstrumented
//! peer into one node).
//!
//! Never does: allocate when the name already exists as a node (the caller
//! interns), or look at anything but [`PeerAttrs`].

use std::borrow::Cow;

use crate::model::{NodeKind, PeerAttrs, SpanKind};

/// The name of the virtual client of root server spans without a peer name.
pub const USER: &str = "user";

/// An inferred node: its name and what it stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct VirtualName<'a> {
    /// Borrowed from the span unless a port had to be appended.
    pub(crate) name: Cow<'a, str>,
    pub(crate) kind: NodeKind,
}

fn non_empty(value: &Option<std::sync::Arc<str>>) -> Option<&str> {
    value.as_deref().filter(|v| !v.is_empty())
}

fn with_port(host: &str, port: Option<u16>) -> Cow<'_, str> {
    match port {
        Some(port) => Cow::Owned(joined(host, ':', Digits::of(port).as_str())),
        None => Cow::Borrowed(host),
    }
}

/// `a{sep}b` in one exact allocation. Virtual names are built per client
/// span, so this avoids `format!` (its formatting machinery cost more than
/// the rest of the naming).
fn joined(a: &str, sep: char, b: &str) -> String {
    let mut out = String::with_capacity(a.len() + sep.len_utf8() + b.len());
    out.push_str(a);
    out.push(sep);
    out.push_str(b);
    out
}

/// The decimal digits of a port, without the formatting machinery.
struct Digits {
    buf: [u8; 5],
    start: usize,
}

impl Digits {
    fn of(mut n: u16) -> Self {
        let mut buf = [b'0'; 5];
        let mut start = buf.len();
        loop {
            start -= 1;
            buf[start] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        Self { buf, start }
    }

    fn as_str(&self) -> &str {
        // Only ASCII digits were written.
        std::str::from_utf8(&self.buf[self.start..]).unwrap_or_default()
    }
}

fn messaging(peer: &PeerAttrs) -> Option<Cow<'_, str>> {
    match (
        non_empty(&peer.messaging_system),
        non_empty(&peer.messaging_destination),
    ) {
        (Some(system), Some(dest)) => Some(Cow::Owned(joined(system, '/', dest))),
        (Some(one), None) | (None, Some(one)) => Some(Cow::Borrowed(one)),
        (None, None) => None,
    }
}

fn named<'a>(name: impl Into<Cow<'a, str>>, kind: NodeKind) -> VirtualName<'a> {
    VirtualName {
        name: name.into(),
        kind,
    }
}

/// The database node a CLIENT span with `db.*` attributes talks to.
pub(crate) fn database(peer: &PeerAttrs) -> Option<VirtualName<'_>> {
    let name = non_empty(&peer.peer_service)
        .map(Cow::Borrowed)
        .or_else(|| non_empty(&peer.server_address).map(Cow::Borrowed))
        .or_else(|| {
            non_empty(&peer.network_peer_address).map(|a| with_port(a, peer.network_peer_port))
        })
        .or_else(|| non_empty(&peer.db_namespace).map(Cow::Borrowed))
        .or_else(|| non_empty(&peer.db_system).map(Cow::Borrowed))?;
    Some(named(name, NodeKind::Database))
}

/// The server a CLIENT or PRODUCER span would reach if no server span answers.
pub(crate) fn virtual_server(kind: SpanKind, peer: &PeerAttrs) -> Option<VirtualName<'_>> {
    if let Some(name) = non_empty(&peer.peer_service) {
        return Some(named(name, NodeKind::External));
    }
    if kind == SpanKind::Producer
        && let Some(name) = messaging(peer)
    {
        return Some(named(name, NodeKind::Messaging));
    }
    if let Some(host) = non_empty(&peer.server_address) {
        return Some(named(with_port(host, peer.server_port), NodeKind::External));
    }
    non_empty(&peer.network_peer_address)
        .map(|a| named(with_port(a, peer.network_peer_port), NodeKind::External))
}

/// The caller of a root SERVER or CONSUMER span whose client is not traced.
pub(crate) fn virtual_client(kind: SpanKind, peer: &PeerAttrs) -> VirtualName<'_> {
    if let Some(name) = non_empty(&peer.peer_service) {
        return named(name, NodeKind::External);
    }
    if kind == SpanKind::Consumer
        && let Some(name) = messaging(peer)
    {
        return named(name, NodeKind::Messaging);
    }
    named(USER, NodeKind::User)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Option<std::sync::Arc<str>> {
        Some(v.into())
    }

    #[test]
    fn database_precedence_follows_tempo_over_resolved_attributes() {
        let base = PeerAttrs {
            db_system: s("postgresql"),
            db_namespace: s("mydb"),
            ..Default::default()
        };
        assert_eq!(database(&base).unwrap().name, "mydb");
        let sys_only = PeerAttrs {
            db_system: s("postgresql"),
            ..Default::default()
        };
        assert_eq!(database(&sys_only).unwrap().name, "postgresql");
        let net = PeerAttrs {
            network_peer_address: s("10.0.0.1"),
            network_peer_port: Some(5432),
            ..base.clone()
        };
        assert_eq!(database(&net).unwrap().name, "10.0.0.1:5432");
        let host = PeerAttrs {
            server_address: s("db-1"),
            server_port: Some(5432),
            ..net.clone()
        };
        assert_eq!(
            database(&host).unwrap().name,
            "db-1",
            "no port on server.address for databases"
        );
        let peer = PeerAttrs {
            peer_service: s("orders-db"),
            ..host
        };
        assert_eq!(
            database(&peer).unwrap(),
            named("orders-db", NodeKind::Database)
        );
    }

    #[test]
    fn ports_are_written_like_format() {
        for port in [0u16, 7, 10, 99, 443, 8080, 9999, 10_000, 65_535] {
            assert_eq!(Digits::of(port).as_str(), port.to_string());
            assert_eq!(
                with_port("h", Some(port)),
                format!("h:{port}"),
                "port {port}"
            );
        }
        assert_eq!(joined("kafka", '/', "orders"), "kafka/orders");
    }

    #[test]
    fn empty_values_are_absent() {
        let peer = PeerAttrs {
            server_address: s(""),
            db_namespace: s("database"),
            ..Default::default()
        };
        assert_eq!(database(&peer).unwrap().name, "database");
        assert_eq!(
            virtual_server(
                SpanKind::Client,
                &PeerAttrs {
                    server_address: s(""),
                    ..Default::default()
                }
            ),
            None
        );
    }

    #[test]
    fn clients_without_any_name_have_no_virtual_server() {
        assert_eq!(
            virtual_server(SpanKind::Client, &PeerAttrs::default()),
            None
        );
        assert_eq!(
            virtual_server(SpanKind::Producer, &PeerAttrs::default()),
            None
        );
    }

    #[test]
    fn client_precedence_is_peer_service_then_address_then_network() {
        let mut peer = PeerAttrs {
            network_peer_address: s("10.1.1.1"),
            network_peer_port: Some(443),
            ..Default::default()
        };
        assert_eq!(
            virtual_server(SpanKind::Client, &peer).unwrap().name,
            "10.1.1.1:443"
        );
        peer.server_address = s("api.example.com");
        peer.server_port = Some(443);
        assert_eq!(
            virtual_server(SpanKind::Client, &peer).unwrap().name,
            "api.example.com:443"
        );
        peer.peer_service = s("payments");
        assert_eq!(
            virtual_server(SpanKind::Client, &peer).unwrap(),
            named("payments", NodeKind::External)
        );
    }

    #[test]
    fn producers_name_the_broker_destination() {
        let peer = PeerAttrs {
            messaging_system: s("kafka"),
            messaging_destination: s("orders"),
            server_address: s("kafka-1"),
            ..Default::default()
        };
        assert_eq!(
            virtual_server(SpanKind::Producer, &peer).unwrap(),
            named("kafka/orders", NodeKind::Messaging)
        );
        // A CLIENT span with messaging attributes is still named by its host.
        assert_eq!(
            virtual_server(SpanKind::Client, &peer).unwrap().name,
            "kafka-1"
        );
    }

    #[test]
    fn root_callers_are_peer_then_messaging_then_user() {
        assert_eq!(
            virtual_client(SpanKind::Server, &PeerAttrs::default()),
            named(USER, NodeKind::User)
        );
        let rabbit = PeerAttrs {
            messaging_system: s("rabbitmq"),
            ..Default::default()
        };
        assert_eq!(
            virtual_client(SpanKind::Consumer, &rabbit),
            named("rabbitmq", NodeKind::Messaging)
        );
        assert_eq!(
            virtual_client(SpanKind::Server, &rabbit),
            named(USER, NodeKind::User)
        );
        let peer = PeerAttrs {
            peer_service: s("external-producer"),
            ..rabbit
        };
        assert_eq!(
            virtual_client(SpanKind::Consumer, &peer),
            named("external-producer", NodeKind::External)
        );
    }
}
