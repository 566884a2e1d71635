//! The module dependency table of `src/lib.rs`, checked.

use std::fs;
use std::path::{Path, PathBuf};

/// Which `crate::` modules each module may import. Mirrors `src/lib.rs`.
/// `app`, `config`, `shutdown` and `main` are the wiring layer and exempt.
const ALLOWED: &[(&str, &[&str])] = &[
    ("model", &[]),
    ("telemetry", &[]),
    ("ingest", &["model", "telemetry", "proto"]),
    ("graph", &["model", "telemetry"]),
    ("store", &["model", "telemetry"]),
    ("history", &["model", "telemetry"]),
    ("query", &["model", "history", "analyze", "attribute"]),
    (
        "api",
        &["model", "store", "telemetry", "proto", "history", "query"],
    ),
    ("sim", &["model", "proto"]),
    ("attribute", &["model", "telemetry"]),
    ("release", &["model", "telemetry"]),
    ("baseline", &["model"]),
    ("detect", &["model", "baseline", "telemetry"]),
    ("emit", &["model", "telemetry", "proto"]),
    ("audit", &["model", "telemetry"]),
    ("report", &["model"]),
    (
        "analyze",
        &[
            "model",
            "telemetry",
            "release",
            "detect",
            "attribute",
            "emit",
            "store",
            "audit",
            "history",
        ],
    ),
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    if dir.is_file() {
        files.push(dir.to_path_buf());
        return files;
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return files;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(rust_files_under(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

/// Every `crate::<module>` path in the text, plus `$crate::` macro uses.
fn crate_paths_in(text: &str) -> Vec<String> {
    let mut used = Vec::new();
    for (at, _) in text.match_indices("crate::") {
        if text[..at].ends_with('$') {
            continue;
        }
        let rest = &text[at + "crate::".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            used.push(name);
        }
    }
    used
}

#[test]
fn modules_only_import_what_the_architecture_allows() {
    let mut checked = 0;
    for (module, allowed) in ALLOWED {
        let mut files = rust_files_under(&src().join(module));
        files.extend(rust_files_under(&src().join(format!("{module}.rs"))));
        for file in files {
            checked += 1;
            let text = fs::read_to_string(&file).unwrap();
            for used in crate_paths_in(&text) {
                // Macros exported at the crate root (`rate_limited!`) are telemetry.
                let used = if used == "rate_limited" {
                    "telemetry".to_string()
                } else {
                    used
                };
                assert!(
                    used == *module || allowed.contains(&used.as_str()),
                    "{}: `{module}` may not use crate::{used}",
                    file.display(),
                );
            }
        }
    }
    assert!(
        checked > 10,
        "the scan found only {checked} files; is src/ where we think?"
    );
}

#[test]
fn the_scanner_sees_forbidden_imports() {
    let used = crate_paths_in("use crate::graph::Graph;\nlet x = crate::api::router;");
    assert_eq!(used, vec!["graph".to_string(), "api".to_string()]);
    assert!(crate_paths_in("$crate::telemetry::x").is_empty());
}
