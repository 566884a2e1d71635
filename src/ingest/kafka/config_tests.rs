use super::*;

fn enabled() -> Config {
    Config {
        brokers: vec!["127.0.0.1:9092".into()],
        ..Config::default()
    }
}

fn keys(errors: &[Invalid]) -> Vec<&str> {
    errors.iter().map(|e| e.key.as_str()).collect()
}

#[test]
fn defaults_follow_the_collector_conventions() {
    let config = Config::default();
    assert_eq!(config.group_id, "epicenter");
    assert_eq!(
        config.topics,
        [
            TopicConfig {
                name: "otlp_spans".into(),
                encoding: Encoding::OtlpProto
            },
            TopicConfig {
                name: "deployments".into(),
                encoding: Encoding::Cdevents
            },
            TopicConfig {
                name: "incidents".into(),
                encoding: Encoding::Incidents
            }
        ]
    );
    assert_eq!(config.dlq_suffix, ".dlq");
    assert_eq!(config.auto_offset_reset, OffsetReset::Latest);
    let settings = config.validate().unwrap();
    assert!(!settings.enabled(), "no brokers means kafka ingest is off");
    assert_eq!(
        settings.subscription(),
        ["otlp_spans", "deployments", "incidents"]
    );
}

#[test]
fn yaml_with_every_section_parses() {
    let yaml = r#"
brokers: "k1:9092, k2:9092"
group_id: epicenter-prod
topics:
  - name: otlp_spans
  - name: "^spans_json_.*"
    encoding: otlp_json
  - name: deploys
    encoding: cdevents
auto_offset_reset: earliest
security:
  protocol: SASL_SSL
  sasl_mechanism: SCRAM-SHA-256
  username: epicenter
  password: s3cret
  ca_file: /etc/kafka/ca.pem
librdkafka:
  fetch.max.bytes: "10485760"
"#;
    let config: Config = serde_norway::from_str(yaml).unwrap();
    assert_eq!(config.brokers, ["k1:9092", "k2:9092"]);
    assert_eq!(config.topics[1].encoding, Encoding::OtlpJson);
    assert_eq!(config.topics[2].encoding, Encoding::Cdevents);
    assert_eq!(config.topics[2].encoding.as_str(), "cdevents");
    assert_eq!(
        config.security.sasl_mechanism,
        Some(SaslMechanism::ScramSha256)
    );
    let settings = config.validate().unwrap();
    assert_eq!(settings.brokers(), "k1:9092,k2:9092");
    assert_eq!(
        settings.subscription(),
        ["otlp_spans", "^spans_json_.*", "deploys"]
    );
}

#[test]
fn unknown_keys_are_rejected() {
    let error = serde_norway::from_str::<Config>("brokers: [a:1]\ngroup: x\n").unwrap_err();
    assert!(
        error.to_string().contains("unknown field `group`"),
        "{error}"
    );
}

#[test]
fn passwords_are_not_printed() {
    let mut config = enabled();
    config.security.password = Secret("hunter2".into());
    assert!(!format!("{config:?}").contains("hunter2"));
    let yaml = serde_norway::to_string(&config).unwrap();
    assert!(
        !yaml.contains("hunter2") && yaml.contains("password: '***'"),
        "{yaml}"
    );
}

#[test]
fn every_error_is_reported_at_once() {
    let config = Config {
        brokers: vec!["no-port".into(), "ok:9092".into()],
        group_id: " ".into(),
        topics: vec![TopicConfig {
            name: "bad name".into(),
            encoding: Encoding::OtlpProto,
        }],
        dlq_suffix: String::new(),
        max_record_bytes: 0,
        session_timeout_ms: 60_000,
        max_poll_interval_ms: 30_000,
        stats_interval_ms: 0,
        ..enabled()
    };
    let errors = config.validate().unwrap_err();
    assert_eq!(
        keys(&errors),
        [
            "ingest.kafka.brokers",
            "ingest.kafka.group_id",
            "ingest.kafka.dlq_suffix",
            "ingest.kafka.topics",
            "ingest.kafka.max_record_bytes",
            "ingest.kafka.stats_interval_ms",
            "ingest.kafka.max_poll_interval_ms",
        ],
        "{errors:?}"
    );
    assert!(errors[0].reason.contains("`no-port` is not host:port"));
}

#[test]
fn sasl_needs_a_mechanism_and_credentials() {
    let mut config = enabled();
    config.security.protocol = SecurityProtocol::SaslPlaintext;
    let errors = config.validate().unwrap_err();
    assert_eq!(
        keys(&errors),
        [
            "ingest.kafka.security.sasl_mechanism",
            "ingest.kafka.security.username",
            "ingest.kafka.security.password"
        ]
    );
}

#[test]
fn credentials_and_tls_files_without_the_protocol_are_mistakes() {
    let mut config = enabled();
    config.security.username = "u".into();
    config.security.ca_file = "/ca.pem".into();
    let errors = config.validate().unwrap_err();
    assert_eq!(
        keys(&errors),
        [
            "ingest.kafka.security.username",
            "ingest.kafka.security.ca_file"
        ]
    );

    let mut config = enabled();
    config.security.protocol = SecurityProtocol::Ssl;
    config.security.certificate_file = "/client.pem".into();
    let errors = config.validate().unwrap_err();
    assert_eq!(keys(&errors), ["ingest.kafka.security.key_file"]);
}

#[test]
fn overrides_cannot_break_offset_handling_and_typos_are_caught() {
    let mut config = enabled();
    config
        .librdkafka
        .insert("enable.auto.offset.store".into(), "true".into());
    let errors = config.validate().unwrap_err();
    assert_eq!(keys(&errors), ["ingest.kafka.librdkafka"]);
    assert!(errors[0].reason.contains("may not be overridden"));

    let mut config = enabled();
    config
        .librdkafka
        .insert("fetch.max.bytez".into(), "1".into());
    let errors = config.validate().unwrap_err();
    assert_eq!(keys(&errors), ["ingest.kafka.librdkafka"]);
    assert!(errors[0].reason.contains("fetch.max.bytez"), "{errors:?}");
}

#[test]
fn ipv6_brokers_are_host_port() {
    let config = Config {
        brokers: vec!["[::1]:9092".into()],
        ..Config::default()
    };
    assert!(config.validate().is_ok());
}
