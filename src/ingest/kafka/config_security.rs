//! The `ingest.kafka.security` sub-section: protocol, SASL mechanism and
//! credentials, TLS files, and their validation. Split from `config.rs`;
//! never does I/O (librdkafka reads the certificate files).

use std::fmt;

use serde::{Deserialize, Serialize};

/// `security.protocol`.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, Default)]
pub enum SecurityProtocol {
    /// No TLS, no authentication.
    #[default]
    #[serde(rename = "PLAINTEXT", alias = "plaintext")]
    Plaintext,
    /// TLS.
    #[serde(rename = "SSL", alias = "ssl")]
    Ssl,
    /// SASL without TLS.
    #[serde(rename = "SASL_PLAINTEXT", alias = "sasl_plaintext")]
    SaslPlaintext,
    /// SASL over TLS.
    #[serde(rename = "SASL_SSL", alias = "sasl_ssl")]
    SaslSsl,
}

impl SecurityProtocol {
    /// The librdkafka value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Plaintext => "PLAINTEXT",
            Self::Ssl => "SSL",
            Self::SaslPlaintext => "SASL_PLAINTEXT",
            Self::SaslSsl => "SASL_SSL",
        }
    }

    fn uses_sasl(self) -> bool {
        matches!(self, Self::SaslPlaintext | Self::SaslSsl)
    }

    fn uses_tls(self) -> bool {
        matches!(self, Self::Ssl | Self::SaslSsl)
    }
}

/// `sasl.mechanism` (GSSAPI needs the `gssapi` feature and `librdkafka:`).
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub enum SaslMechanism {
    /// Username and password in clear (use with `SASL_SSL`).
    #[serde(rename = "PLAIN")]
    Plain,
    /// SCRAM with SHA-256.
    #[serde(rename = "SCRAM-SHA-256")]
    ScramSha256,
    /// SCRAM with SHA-512.
    #[serde(rename = "SCRAM-SHA-512")]
    ScramSha512,
}

impl SaslMechanism {
    /// The librdkafka value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Plain => "PLAIN",
            Self::ScramSha256 => "SCRAM-SHA-256",
            Self::ScramSha512 => "SCRAM-SHA-512",
        }
    }
}

/// A password: never printed by `Debug`, serialized as `***` when set.
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(pub String);

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(if self.0.is_empty() { "" } else { "***" })
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "\"***\"" })
    }
}

/// `ingest.kafka.security:` TLS and SASL settings.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct SecurityConfig {
    /// `PLAINTEXT`, `SSL`, `SASL_PLAINTEXT` or `SASL_SSL`.
    pub protocol: SecurityProtocol,
    /// `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`; required with SASL.
    pub sasl_mechanism: Option<SaslMechanism>,
    /// SASL username; required with SASL.
    pub username: String,
    /// SASL password; required with SASL.
    pub password: Secret,
    /// PEM file of CA certificates to verify the brokers; system CAs when empty.
    pub ca_file: String,
    /// PEM client certificate for mutual TLS (with `key_file`).
    pub certificate_file: String,
    /// PEM private key of `certificate_file`.
    pub key_file: String,
    /// Password of `key_file`, if it is encrypted.
    pub key_password: Secret,
    /// Verify that the broker certificate matches its host name.
    pub verify_hostname: bool,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        Self {
            protocol: SecurityProtocol::Plaintext,
            sasl_mechanism: None,
            username: String::new(),
            password: Secret::default(),
            ca_file: String::new(),
            certificate_file: String::new(),
            key_file: String::new(),
            key_password: Secret::default(),
            verify_hostname: true,
        }
    }
}

pub(super) fn validate_security(security: &SecurityConfig, bad: &mut impl FnMut(&str, String)) {
    let protocol = security.protocol;
    if protocol.uses_sasl() {
        if security.sasl_mechanism.is_none() {
            bad(
                "security.sasl_mechanism",
                format!("required with {}", protocol.as_str()),
            );
        }
        if security.username.is_empty() {
            bad(
                "security.username",
                format!("required with {}", protocol.as_str()),
            );
        }
        if security.password.0.is_empty() {
            bad(
                "security.password",
                format!("required with {}", protocol.as_str()),
            );
        }
    } else {
        let set = [
            ("security.sasl_mechanism", security.sasl_mechanism.is_some()),
            ("security.username", !security.username.is_empty()),
            ("security.password", !security.password.0.is_empty()),
        ];
        for (field, _) in set.iter().filter(|(_, is_set)| *is_set) {
            bad(
                field,
                format!(
                    "only used with SASL_PLAINTEXT or SASL_SSL, not {}",
                    protocol.as_str()
                ),
            );
        }
    }
    if !protocol.uses_tls() {
        let set = [
            ("security.ca_file", !security.ca_file.is_empty()),
            (
                "security.certificate_file",
                !security.certificate_file.is_empty(),
            ),
            ("security.key_file", !security.key_file.is_empty()),
            ("security.key_password", !security.key_password.0.is_empty()),
        ];
        for (field, _) in set.iter().filter(|(_, is_set)| *is_set) {
            bad(
                field,
                format!("only used with SSL or SASL_SSL, not {}", protocol.as_str()),
            );
        }
    } else if security.certificate_file.is_empty() != security.key_file.is_empty() {
        bad(
            "security.key_file",
            "certificate_file and key_file go together".to_owned(),
        );
    }
}
