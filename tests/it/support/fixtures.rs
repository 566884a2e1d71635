//! Where fixtures live, and loading OTLP/JSON or OTLP/YAML trace files into a
//! [`SpanBatch`] with the real decoder.

use std::path::{Path, PathBuf};

use epicenter::ingest::decode::decode_otlp_json;
use epicenter::model::SpanBatch;

/// The shared peer-fixture directory (`…/shared/fixtures`), if present.
///
/// Checks `EPICENTER_SHARED_DIR` (either the `shared` directory or its
/// `fixtures` directory), then `<repo>/../shared/fixtures`, then
/// `<repo>/../../shared/fixtures` (a worktree under `wt/`).
pub(crate) fn shared_fixtures_dir() -> Option<PathBuf> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut candidates = Vec::new();
    if let Some(dir) = std::env::var_os("EPICENTER_SHARED_DIR") {
        let dir = PathBuf::from(dir);
        candidates.push(dir.join("fixtures"));
        candidates.push(dir);
    }
    candidates.push(manifest.join("../shared/fixtures"));
    candidates.push(manifest.join("../../shared/fixtures"));
    candidates
        .into_iter()
        .find(|dir| dir.join("servicegraph").is_dir())
}

/// Fixtures we wrote ourselves (`tests/fixtures`).
pub(crate) fn own_fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Reads an OTLP trace file as a JSON value (`.yaml`/`.yml` files are YAML).
pub(crate) fn read_otlp_value(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    let yaml = matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    );
    if yaml {
        serde_norway::from_str(&text)
            .unwrap_or_else(|error| panic!("bad yaml {}: {error}", path.display()))
    } else {
        serde_json::from_str(&text)
            .unwrap_or_else(|error| panic!("bad json {}: {error}", path.display()))
    }
}

/// Decodes an OTLP/JSON value with the daemon's decoder; no span may be rejected.
pub(crate) fn decode_value(value: &serde_json::Value, origin: &str) -> SpanBatch {
    let bytes = serde_json::to_vec(value).expect("a json value serialises");
    let decoded = decode_otlp_json(&bytes).unwrap_or_else(|error| panic!("{origin}: {error}"));
    assert!(
        decoded.rejected.is_empty(),
        "{origin}: spans rejected: {:?}",
        decoded.rejected
    );
    decoded.batch
}
