//! The attribute tables: which OTLP attribute keys we read, under their
//! current and deprecated semantic-convention names (CONVENTIONS.md §3).
//!
//! Decoders call [`ResourceAttrs::set`] and [`SpanAttrs::set`] once per
//! attribute with borrowed key and value; only the values we keep are held
//! (borrowed), nothing is allocated here. Resolution (which name wins) happens
//! later, in the parent module. Never does: validation or allocation.

use std::borrow::Cow;

use super::status::{RpcStatus, parse_rpc_status};

/// A string as it came off the wire: borrowed when possible, not yet UTF-8 checked.
pub(crate) type Text<'a> = Cow<'a, [u8]>;

/// One attribute value, borrowed from the payload.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum AttrValue<'a> {
    /// `string_value`.
    Str(Text<'a>),
    /// `int_value`.
    Int(i64),
    /// `double_value`.
    Double(f64),
    /// `bool_value`.
    Bool(bool),
    /// `array_value`, reduced to its first string element (if any).
    Array(Option<Text<'a>>),
    /// Empty, `bytes_value`, `kvlist_value`: never read.
    Other,
}

impl<'a> AttrValue<'a> {
    /// The value as text: strings as they are, an array's first string,
    /// scalars formatted. Empty strings count as absent.
    pub(crate) fn into_text(self) -> Option<Text<'a>> {
        let text = match self {
            Self::Str(s) => s,
            Self::Array(first) => first?,
            Self::Int(i) => Cow::Owned(i.to_string().into_bytes()),
            Self::Double(d) => Cow::Owned(d.to_string().into_bytes()),
            Self::Bool(b) => Cow::Borrowed(if b { &b"true"[..] } else { &b"false"[..] }),
            Self::Other => return None,
        };
        (!text.is_empty()).then_some(text)
    }

    /// The value as an integer: ints, integral doubles, and decimal strings.
    pub(crate) fn as_int(&self) -> Option<i64> {
        match self {
            Self::Int(i) => Some(*i),
            Self::Double(d) if d.fract() == 0.0 && d.abs() < 9.0e15 => Some(*d as i64),
            Self::Str(s) => std::str::from_utf8(s).ok()?.trim().parse().ok(),
            _ => None,
        }
    }
}

/// Resource attributes we keep, by name.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct ResourceAttrs<'a> {
    pub(crate) service_name: Option<Text<'a>>,
    pub(crate) service_namespace: Option<Text<'a>>,
    pub(crate) service_version: Option<Text<'a>>,
    pub(crate) vcs_ref_head_revision: Option<Text<'a>>,
    pub(crate) vcs_repository_ref_revision: Option<Text<'a>>,
    pub(crate) container_image_tags: Option<Text<'a>>,
    pub(crate) environment_name: Option<Text<'a>>,
    pub(crate) environment_legacy: Option<Text<'a>>,
    pub(crate) service_instance_id: Option<Text<'a>>,
    pub(crate) k8s_pod_uid: Option<Text<'a>>,
    pub(crate) k8s_pod_name: Option<Text<'a>>,
    pub(crate) host_name: Option<Text<'a>>,
    pub(crate) db_system_name: Option<Text<'a>>,
    pub(crate) db_system_legacy: Option<Text<'a>>,
    pub(crate) messaging_system: Option<Text<'a>>,
}

impl<'a> ResourceAttrs<'a> {
    /// Records one resource attribute; unknown keys are ignored.
    pub(crate) fn set(&mut self, key: &[u8], value: AttrValue<'a>) {
        let slot = match key {
            b"service.name" => &mut self.service_name,
            b"service.namespace" => &mut self.service_namespace,
            b"service.version" => &mut self.service_version,
            b"vcs.ref.head.revision" => &mut self.vcs_ref_head_revision,
            b"vcs.repository.ref.revision" => &mut self.vcs_repository_ref_revision,
            b"container.image.tags" => &mut self.container_image_tags,
            b"deployment.environment.name" => &mut self.environment_name,
            b"deployment.environment" => &mut self.environment_legacy,
            b"service.instance.id" => &mut self.service_instance_id,
            b"k8s.pod.uid" => &mut self.k8s_pod_uid,
            b"k8s.pod.name" => &mut self.k8s_pod_name,
            b"host.name" => &mut self.host_name,
            b"db.system.name" => &mut self.db_system_name,
            b"db.system" => &mut self.db_system_legacy,
            b"messaging.system" => &mut self.messaging_system,
            _ => return,
        };
        if let Some(text) = value.into_text() {
            *slot = Some(text);
        }
    }
}

/// Span attributes we keep, by name; current and deprecated names in separate
/// slots so that the current name wins whatever the order.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct SpanAttrs<'a> {
    pub(crate) http_route: Option<Text<'a>>,
    pub(crate) http_method: Option<Text<'a>>,
    pub(crate) http_method_legacy: Option<Text<'a>>,
    pub(crate) http_status: Option<i64>,
    pub(crate) http_status_legacy: Option<i64>,
    /// `rpc.response.status_code` or `rpc.status_code` (string names).
    pub(crate) rpc_status: Option<RpcStatus>,
    /// `rpc.grpc.status_code` (int).
    pub(crate) rpc_status_legacy: Option<RpcStatus>,
    /// `otel.status_code` (`OK`/`ERROR`, from Jaeger/Zipkin translations).
    pub(crate) otel_status_error: Option<bool>,
    pub(crate) peer_service: Option<Text<'a>>,
    pub(crate) peer_service_legacy: Option<Text<'a>>,
    pub(crate) db_system_name: Option<Text<'a>>,
    pub(crate) db_system_legacy: Option<Text<'a>>,
    pub(crate) db_namespace: Option<Text<'a>>,
    pub(crate) db_name_legacy: Option<Text<'a>>,
    pub(crate) server_address: Option<Text<'a>>,
    pub(crate) net_peer_name: Option<Text<'a>>,
    pub(crate) server_port: Option<i64>,
    pub(crate) net_peer_port: Option<i64>,
    pub(crate) network_peer_address: Option<Text<'a>>,
    pub(crate) net_sock_peer_addr: Option<Text<'a>>,
    pub(crate) network_peer_port: Option<i64>,
    pub(crate) messaging_system: Option<Text<'a>>,
    pub(crate) messaging_destination: Option<Text<'a>>,
    pub(crate) messaging_destination_legacy: Option<Text<'a>>,
}

impl<'a> SpanAttrs<'a> {
    /// Records one span attribute; unknown keys are ignored.
    pub(crate) fn set(&mut self, key: &[u8], value: AttrValue<'a>) {
        let text_slot = match key {
            b"http.route" => &mut self.http_route,
            b"http.request.method" => &mut self.http_method,
            b"http.method" => &mut self.http_method_legacy,
            b"service.peer.name" => &mut self.peer_service,
            b"peer.service" => &mut self.peer_service_legacy,
            b"db.system.name" => &mut self.db_system_name,
            b"db.system" => &mut self.db_system_legacy,
            b"db.namespace" => &mut self.db_namespace,
            b"db.name" => &mut self.db_name_legacy,
            b"server.address" => &mut self.server_address,
            b"net.peer.name" => &mut self.net_peer_name,
            b"network.peer.address" => &mut self.network_peer_address,
            b"net.sock.peer.addr" => &mut self.net_sock_peer_addr,
            b"messaging.system" => &mut self.messaging_system,
            b"messaging.destination.name" => &mut self.messaging_destination,
            b"messaging.destination" => &mut self.messaging_destination_legacy,
            _ => return self.set_non_text(key, &value),
        };
        if let Some(text) = value.into_text() {
            *text_slot = Some(text);
        }
    }

    fn set_non_text(&mut self, key: &[u8], value: &AttrValue<'a>) {
        let int_slot = match key {
            b"http.response.status_code" => &mut self.http_status,
            b"http.status_code" => &mut self.http_status_legacy,
            b"server.port" => &mut self.server_port,
            b"net.peer.port" => &mut self.net_peer_port,
            b"network.peer.port" => &mut self.network_peer_port,
            b"rpc.response.status_code" | b"rpc.status_code" => {
                if let Some(status) = parse_rpc_status(value) {
                    self.rpc_status = Some(status);
                }
                return;
            }
            b"rpc.grpc.status_code" => {
                if let Some(status) = parse_rpc_status(value) {
                    self.rpc_status_legacy = Some(status);
                }
                return;
            }
            b"otel.status_code" => {
                if let AttrValue::Str(s) = value {
                    self.otel_status_error = Some(s.eq_ignore_ascii_case(b"error"));
                }
                return;
            }
            _ => return,
        };
        if let Some(i) = value.as_int() {
            *int_slot = Some(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> AttrValue<'_> {
        AttrValue::Str(Cow::Borrowed(text.as_bytes()))
    }

    #[test]
    fn text_conversion_covers_scalars_arrays_and_empty() {
        assert_eq!(s("x").into_text().as_deref(), Some(&b"x"[..]));
        assert_eq!(s("").into_text(), None);
        assert_eq!(AttrValue::Int(7).into_text().as_deref(), Some(&b"7"[..]));
        assert_eq!(
            AttrValue::Bool(true).into_text().as_deref(),
            Some(&b"true"[..])
        );
        let array = AttrValue::Array(Some(Cow::Borrowed(&b"v1"[..])));
        assert_eq!(array.into_text().as_deref(), Some(&b"v1"[..]));
        assert_eq!(AttrValue::Array(None).into_text(), None);
        assert_eq!(AttrValue::Other.into_text(), None);
    }

    #[test]
    fn integers_come_from_ints_doubles_and_decimal_strings() {
        assert_eq!(AttrValue::Int(503).as_int(), Some(503));
        assert_eq!(AttrValue::Double(404.0).as_int(), Some(404));
        assert_eq!(AttrValue::Double(404.5).as_int(), None);
        assert_eq!(s(" 8080 ").as_int(), Some(8080));
        assert_eq!(s("eighty").as_int(), None);
        assert_eq!(AttrValue::Bool(true).as_int(), None);
    }

    #[test]
    fn current_and_deprecated_names_land_in_separate_slots() {
        let mut attrs = SpanAttrs::default();
        attrs.set(b"peer.service", s("old"));
        attrs.set(b"service.peer.name", s("new"));
        attrs.set(b"http.status_code", AttrValue::Int(500));
        attrs.set(b"unrelated.key", s("ignored"));
        assert_eq!(attrs.peer_service.as_deref(), Some(&b"new"[..]));
        assert_eq!(attrs.peer_service_legacy.as_deref(), Some(&b"old"[..]));
        assert_eq!(attrs.http_status_legacy, Some(500));
        assert_eq!(attrs.http_status, None);
    }

    #[test]
    fn empty_values_do_not_overwrite() {
        let mut res = ResourceAttrs::default();
        res.set(b"service.name", s("cart"));
        res.set(b"service.name", s(""));
        res.set(b"service.version", AttrValue::Other);
        assert_eq!(res.service_name.as_deref(), Some(&b"cart"[..]));
        assert_eq!(res.service_version, None);
    }
}
