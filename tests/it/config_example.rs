//! `deploy/config/example.yaml` documents every option with its default:
//! it must parse, validate, and equal the built-in defaults. And
//! `deploy/prometheus/alerts.yaml` must be well formed and name only
//! metrics the README documents.

use std::path::Path;

use epicenter::config::{self, Config, Source};

fn example() -> (std::path::PathBuf, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/config/example.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    (path, text)
}

#[test]
fn example_config_parses_and_validates() {
    let source = Source {
        file: Some(example()),
        ..Source::default()
    };
    if let Err(errors) = config::load(&source) {
        panic!("deploy/config/example.yaml is invalid:\n{errors}");
    }
}

#[test]
fn example_config_shows_exactly_the_defaults() {
    let (_, text) = example();
    let parsed: serde_json::Value = serde_norway::from_str(&text).unwrap();
    let defaults = serde_json::to_value(Config::default()).unwrap();
    assert_eq!(
        parsed, defaults,
        "example.yaml and the built-in defaults differ; update one of them"
    );
}

#[test]
fn prometheus_alerts_are_well_formed_and_name_documented_metrics() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("deploy/prometheus/alerts.yaml")).unwrap();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let parsed: serde_json::Value = serde_norway::from_str(&text).unwrap();
    let metric = regex::Regex::new(r"epicenter_([a-z0-9_]+)").unwrap();
    let mut rules = 0;
    for group in parsed["groups"].as_array().unwrap() {
        for rule in group["rules"].as_array().unwrap() {
            rules += 1;
            let name = rule["alert"].as_str().unwrap();
            let expr = rule["expr"].as_str().unwrap();
            let severity = rule["labels"]["severity"].as_str().unwrap();
            assert!(["critical", "warning"].contains(&severity), "{name}");
            assert!(!rule["annotations"]["summary"].as_str().unwrap().is_empty());
            for found in metric.captures_iter(expr) {
                let series = &found[1];
                assert!(
                    readme.contains(&format!("`{series}`"))
                        || readme.contains(&format!("`{series},")),
                    "{name}: epicenter_{series} is not in the README's metrics"
                );
            }
        }
    }
    assert!(rules >= 6, "{rules} rules");
}
