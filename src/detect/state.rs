//! Per-(series, signal) bookkeeping: recent verdicts as bit histories, the
//! onset walk-back, and stable anomaly ids.

use crate::model::{SeriesKey, Signal, Timestamp};

/// Recent verdicts of one signal of one series. Bit 0 is the latest window,
/// bit `i` the window `i` closes ago (every tracked series is judged every
/// window, so bit positions line up with [`super::core::Detect`]'s window ring).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct SignalState {
    /// Windows outside the band.
    pub(crate) outside: u64,
    /// Windows that survived the multiplicity correction.
    pub(crate) hit: u64,
    /// When the open anomaly was confirmed (window end), if one is open.
    pub(crate) open_since: Option<Timestamp>,
    /// Consecutive judged windows back inside the band while open.
    pub(crate) calm: u32,
    /// Start of the first of those calm windows.
    pub(crate) calm_since: Timestamp,
}

/// This window's verdict for one signal.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) enum Verdict {
    /// Too little volume or history.
    #[default]
    NotJudged,
    /// Judged, inside the band.
    Inside,
    /// Judged, outside the band; `q` is set when it survived BH (the adjusted p-value).
    Outside {
        finding: super::Finding,
        q: Option<f64>,
    },
}

impl SignalState {
    /// Shifts in this window's verdict.
    pub(crate) fn push(&mut self, verdict: &Verdict) {
        self.outside <<= 1;
        self.hit <<= 1;
        if let Verdict::Outside { q, .. } = verdict {
            self.outside |= 1;
            if q.is_some() {
                self.hit |= 1;
            }
        }
    }

    /// Whether `k` of the last `m` windows, including this one, were hits.
    pub(crate) fn confirmed(&self, k: u32, m: u32) -> bool {
        let mask = if m >= 64 { u64::MAX } else { (1u64 << m) - 1 };
        self.hit & 1 == 1 && (self.hit & mask).count_ones() >= k
    }

    /// How many windows back the excursion that ends in this window began:
    /// walks back over windows outside the band, tolerating one window inside
    /// it between two outside ones, up to `max_back` windows. 0 = this window.
    pub(crate) fn onset_back(&self, max_back: usize) -> usize {
        let max_back = max_back.min(63);
        let out = |i: usize| i <= max_back && (self.outside >> i) & 1 == 1;
        let mut onset = 0;
        let mut i = 1;
        while i <= max_back {
            if out(i) {
                onset = i;
                i += 1;
            } else if out(i + 1) {
                onset = i + 1;
                i += 2;
            } else {
                break;
            }
        }
        onset
    }
}

/// A stable id for an anomaly: FNV-1a (64 bit) of the series key, the signal
/// and the onset, rendered as 16 hex digits. Independent of process, platform
/// and Rust version, so replays and restarts produce the same id.
pub(crate) fn anomaly_id(key: &SeriesKey, signal: Signal, onset: Timestamp) -> String {
    let mut h = Fnv::default();
    match key {
        SeriesKey::Service {
            environment,
            service,
        } => {
            h.parts(&["service", environment, service]);
        }
        SeriesKey::Edge {
            environment,
            client,
            server,
            connection_type,
        } => {
            h.parts(&[
                "edge",
                environment,
                client,
                server,
                connection_type.as_str(),
            ]);
        }
        SeriesKey::EdgeByClientVersion {
            environment,
            client,
            client_version,
            server,
        } => {
            h.parts(&[
                "edge_client_version",
                environment,
                client,
                client_version,
                server,
            ]);
        }
        SeriesKey::EdgeByServerVersion {
            environment,
            client,
            server,
            server_version,
        } => {
            h.parts(&[
                "edge_server_version",
                environment,
                client,
                server,
                server_version,
            ]);
        }
        SeriesKey::Operation {
            environment,
            service,
            operation,
        } => {
            h.parts(&["operation", environment, service, operation]);
        }
        SeriesKey::ServiceVersion {
            environment,
            service,
            version,
        } => {
            h.parts(&["service_version", environment, service, version]);
        }
    }
    h.parts(&[signal.as_str()]);
    h.bytes(&onset.nanos().to_le_bytes());
    format!("{:016x}", h.0)
}

struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn bytes(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    /// Each part followed by a separator byte that cannot occur in UTF-8.
    fn parts(&mut self, parts: &[&str]) {
        for part in parts {
            self.bytes(part.as_bytes());
            self.bytes(&[0xff]);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn state(outside: u64, hit: u64) -> SignalState {
        SignalState {
            outside,
            hit,
            ..SignalState::default()
        }
    }

    #[test]
    fn confirmation_needs_k_of_m_including_now() {
        assert!(state(0, 0b11).confirmed(2, 3));
        assert!(state(0, 0b101).confirmed(2, 3));
        assert!(
            !state(0, 0b110).confirmed(2, 3),
            "the latest window must be a hit"
        );
        assert!(
            !state(0, 0b1001).confirmed(2, 3),
            "the older hit is out of the lookback"
        );
        assert!(state(0, 1).confirmed(1, 1));
    }

    #[test]
    fn onset_walks_back_over_outside_windows_with_one_gap() {
        assert_eq!(state(0b1, 0).onset_back(20), 0);
        assert_eq!(state(0b111, 0).onset_back(20), 2);
        assert_eq!(
            state(0b1011, 0).onset_back(20),
            3,
            "one inside window is tolerated"
        );
        assert_eq!(
            state(0b10011, 0).onset_back(20),
            1,
            "two inside windows end the run"
        );
        assert_eq!(state(u64::MAX, 0).onset_back(20), 20);
        assert_eq!(state(u64::MAX, 0).onset_back(1000), 63);
    }

    #[test]
    fn ids_are_stable_and_distinguish_their_inputs() {
        let key = SeriesKey::Service {
            environment: Arc::from("prod"),
            service: Arc::from("a"),
        };
        let other = SeriesKey::Service {
            environment: Arc::from("pro"),
            service: Arc::from("da"),
        };
        let t = Timestamp::from_secs(1_000);
        let id = anomaly_id(&key, Signal::ErrorRatio, t);
        assert_eq!(id, anomaly_id(&key.clone(), Signal::ErrorRatio, t));
        assert_eq!(id.len(), 16);
        assert_ne!(id, anomaly_id(&other, Signal::ErrorRatio, t));
        assert_ne!(id, anomaly_id(&key, Signal::LatencyP50, t));
        assert_ne!(
            id,
            anomaly_id(&key, Signal::ErrorRatio, Timestamp::from_secs(1_030))
        );
        // Pinned (computed independently): a change here changes every alert id downstream.
        assert_eq!(id, "a4d43b3cede4a837");
    }
}
