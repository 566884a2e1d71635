use super::*;

fn source(yaml: &str) -> Source {
    Source {
        file: Some((PathBuf::from("test.yaml"), yaml.to_string())),
        ..Source::default()
    }
}

#[test]
fn no_file_and_no_env_gives_embedded_defaults() {
    let settings = load(&Source::default()).unwrap();
    assert_eq!(settings.data_dir, PathBuf::from("./epicenter-data"));
    assert_eq!(settings.api.listen, "127.0.0.1:9470".parse().unwrap());
    assert!(
        settings.kafka.is_none(),
        "kafka is off until brokers are configured"
    );
}

#[test]
fn environment_overrides_the_file_and_flags_override_both() {
    let mut src = source("api:\n  listen: 127.0.0.1:1000\ndata_dir: /tmp/a\n");
    src.env
        .push(("EPICENTER_API__LISTEN".into(), "127.0.0.1:2000".into()));
    src.env.push(("EPICENTER_DATA_DIR".into(), "/tmp/b".into()));
    let settings = load(&src).unwrap();
    assert_eq!(settings.api.listen, "127.0.0.1:2000".parse().unwrap());
    assert_eq!(settings.data_dir, PathBuf::from("/tmp/b"));
    let settings = load(&src.flag("api.listen", "127.0.0.1:3000")).unwrap();
    assert_eq!(settings.api.listen, "127.0.0.1:3000".parse().unwrap());
}

#[test]
fn unrelated_epicenter_variables_are_not_config_keys() {
    let mut src = Source::default();
    src.env
        .push(("EPICENTER_TEST_KAFKA".into(), "127.0.0.1:9092".into()));
    src.env
        .push(("EPICENTER_PYTHON".into(), "/usr/bin/python3".into()));
    assert!(load(&src).is_ok());
}

#[test]
fn every_error_is_reported_at_once() {
    let src = source(
        "bogus: 1\napi:\n  listen: not-an-address\nlog:\n  format: xml\ningest:\n  queue_batches: 0\n",
    );
    let errors = load(&src).unwrap_err().0;
    let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
    for key in ["bogus", "api.listen", "log.format", "ingest.queue_batches"] {
        assert!(keys.contains(&key), "missing error for {key}: {errors:?}");
    }
}

#[test]
fn a_type_error_in_one_section_does_not_hide_another() {
    let src = source("graph:\n  window_secs: ten\napi:\n  nope: 1\n");
    let errors = load(&src).unwrap_err().0;
    let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
    assert!(
        keys.contains(&"graph") && keys.contains(&"api"),
        "{errors:?}"
    );
}

#[test]
fn yaml_syntax_errors_name_the_file() {
    let errors = load(&source("api: [unclosed")).unwrap_err().0;
    assert_eq!(errors[0].key, "test.yaml");
}

#[test]
fn an_owners_file_is_loaded_and_a_bad_one_is_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("owners.yaml");
    std::fs::write(&good, "payment:\n  team: payments\n").unwrap();
    let settings =
        load(&Source::default().flag("analysis.owners_file", good.display().to_string())).unwrap();
    assert_eq!(
        settings.analysis.owners.of("payment").unwrap().team,
        "payments"
    );

    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "payment:\n  squad: x\n").unwrap();
    for path in [bad, dir.path().join("missing.yaml")] {
        let errors =
            load(&Source::default().flag("analysis.owners_file", path.display().to_string()))
                .unwrap_err();
        assert!(
            errors.0.iter().any(|e| e.key == "analysis.owners_file"),
            "{errors}"
        );
    }
}

#[test]
fn kafka_event_time_skew_must_stay_below_graph_lateness() {
    let kafka = "ingest:\n  kafka:\n    brokers: [k:9092]\n    max_event_time_skew_secs: 10\n";
    let errors = load(&source(kafka)).unwrap_err().0;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].key, "ingest.kafka.max_event_time_skew_secs");
    assert!(errors[0].reason.contains("graph.lateness_secs (10)"));
    assert!(load(&source(&format!("{kafka}graph:\n  lateness_secs: 11\n"))).is_ok());
    let off = "ingest:\n  kafka:\n    brokers: [k:9092]\n    max_event_time_skew_secs: 0\ngraph:\n  lateness_secs: 0\n";
    assert!(load(&source(off)).is_ok());
    // Without brokers Kafka is off and the option does not matter.
    assert!(
        load(&source(
            "ingest:\n  kafka:\n    max_event_time_skew_secs: 60\n"
        ))
        .is_ok()
    );
}
