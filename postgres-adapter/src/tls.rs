//! The OpenSSL connector for each `sslmode`.
//!
//! `require` (and `prefer`) encrypt without checking the certificate, as libpq does;
//! `verify-ca` checks the chain against `sslrootcert` (or the system store); `verify-full`
//! also checks that the certificate names the host.

use openssl::ssl::{SslConnector, SslFiletype, SslMethod, SslVerifyMode};
use postgres_openssl::MakeTlsConnector;

use crate::config::{PostgresConfig, SslMode};
use crate::error::{PgError, PgResult};

/// Builds the connector for `config`'s TLS settings.
pub(crate) fn connector(config: &PostgresConfig) -> PgResult<MakeTlsConnector> {
    let tls = |e: openssl::error::ErrorStack, what: &str| PgError::Tls(format!("{what}: {e}"));
    let mut builder = SslConnector::builder(SslMethod::tls_client()).map_err(|e| tls(e, "OpenSSL setup"))?;
    let verify = matches!(config.ssl_mode, SslMode::VerifyCa | SslMode::VerifyFull);
    if verify {
        builder.set_verify(SslVerifyMode::PEER);
        if let Some(ca) = &config.ssl_root_cert {
            builder
                .set_ca_file(ca)
                .map_err(|e| tls(e, &format!("cannot load sslrootcert {}", ca.display())))?;
        }
    } else {
        builder.set_verify(SslVerifyMode::NONE);
    }
    if let Some(cert) = &config.ssl_cert {
        builder
            .set_certificate_chain_file(cert)
            .map_err(|e| tls(e, &format!("cannot load sslcert {}", cert.display())))?;
    }
    if let Some(key) = &config.ssl_key {
        builder
            .set_private_key_file(key, SslFiletype::PEM)
            .map_err(|e| tls(e, &format!("cannot load sslkey {}", key.display())))?;
    }
    let mut connector = MakeTlsConnector::new(builder.build());
    let check_host = config.ssl_mode == SslMode::VerifyFull;
    connector.set_callback(move |cfg, _domain| {
        cfg.set_verify_hostname(check_host);
        if !check_host {
            cfg.set_use_server_name_indication(true);
        }
        Ok(())
    });
    Ok(connector)
}
