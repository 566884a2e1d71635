//! `deploy/config/example.yaml` documents every option with its default:
//! it must parse, validate, and equal the built-in defaults.

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
