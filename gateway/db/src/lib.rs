//! PostgreSQL connections as Oqto's services make them (the gateway's accounts, the LLM proxy's
//! usage ledger): a small pool; TLS when the server offers it (`sslmode=prefer`, the default) or
//! the URL demands it (`sslmode=require`), verified against the web PKI roots and an optional CA
//! file. The URL may hold a password: it never appears in an error.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, RecyclingMethod, Runtime};
pub use deadpool_postgres::{Object, Pool, PoolError};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

/// How long a caller waits for a connection, or a new connection for the server.
pub const WAIT: Duration = Duration::from_secs(5);

/// A pool of at most `size` connections to `url`, named `application` in the server's views.
/// Connects lazily: the first use says whether the server answers.
pub fn pool(
    url: &str,
    ca_file: Option<&Path>,
    application: &str,
    size: usize,
) -> Result<Pool, String> {
    let mut config: tokio_postgres::Config = url
        .parse()
        .map_err(|e| format!("the database URL is not a PostgreSQL connection string: {e}"))?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(WAIT);
    }
    config.application_name(application);
    let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls_config(ca_file)?);
    let manager = Manager::from_config(
        config,
        tls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(size)
        .wait_timeout(Some(WAIT))
        .create_timeout(Some(WAIT))
        .recycle_timeout(Some(WAIT))
        .runtime(Runtime::Tokio1)
        .build()
        .map_err(|e| format!("the database pool: {e}"))
}

fn tls_config(ca_file: Option<&Path>) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca_file {
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| format!("the database CA file {}: {e}", path.display()))?;
        for cert in certs {
            let cert = cert.map_err(|e| format!("the database CA file {}: {e}", path.display()))?;
            roots
                .add(cert)
                .map_err(|e| format!("the database CA file {}: {e}", path.display()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS for the database: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_url_or_ca_file_is_refused_without_the_password() {
        let error = pool("postgres://u:secret@[bad", None, "t", 1).unwrap_err();
        assert!(
            error.contains("not a PostgreSQL connection string"),
            "{error}"
        );
        assert!(!error.contains("secret"), "{error}");
        let error = pool(
            "postgres://u:secret@127.0.0.1/db",
            Some(Path::new("/nonexistent/ca.pem")),
            "t",
            1,
        )
        .unwrap_err();
        assert!(error.contains("/nonexistent/ca.pem"), "{error}");
        assert!(
            pool("postgres://u:secret@127.0.0.1/db", None, "t", 1).is_ok(),
            "lazy"
        );
    }
}
