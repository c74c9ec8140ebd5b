//! A fresh database per test on the PostgreSQL server that `hack/postgres/server.sh up` starts
//! (the test command starts one). A missing server is an error, never a skip.

use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{Context, bail};

/// Environment variable with the server's URL (a role that may create databases).
pub const URL_ENV: &str = "OQTO_TEST_POSTGRES_URL";

/// The server's URL: `$OQTO_TEST_POSTGRES_URL`, else the one the script wrote into `target/`.
pub fn server_url() -> anyhow::Result<String> {
    if let Ok(url) = std::env::var(URL_ENV) {
        return Ok(url);
    }
    let dir = std::env::var_os("OQTO_POSTGRES_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| crate::repo_root().join("target/postgres"));
    match std::fs::read_to_string(dir.join("url")) {
        Ok(url) => Ok(url.trim().to_owned()),
        Err(_) => bail!(
            "no PostgreSQL server for the tests: run `hack/postgres/server.sh up` and set \
             {URL_ENV} to the URL it prints"
        ),
    }
}

/// Creates an empty database of its own for one test; its URL.
pub async fn fresh_database() -> anyhow::Result<String> {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let url = server_url()?;
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .context("connecting to the test PostgreSQL server")?;
    let driver = tokio::spawn(connection);
    let name = format!(
        "oqto_test_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos())
    );
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .with_context(|| format!("creating the test database {name}"))?;
    drop(client);
    driver.abort();
    let Some((base, _)) = url.rsplit_once('/') else {
        bail!("{URL_ENV} must end with /<database>");
    };
    Ok(format!("{base}/{name}"))
}
