//! `oqto-llm-proxy`: wires the settings, the store and the router.

use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use oqto_llm_proxy::config::{Settings, StoreKind};
use oqto_llm_proxy::ledger::{Ledger, SqliteLedger};
use oqto_llm_proxy::ledger_pg::PgLedger;
use oqto_llm_proxy::{Catalogue, Grants, Proxy, StoreGrants, admin_router, serve};
use oqto_store::{KubeStore, LocalStore, llm_key_signer, llm_proxy_admin_token};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "oqto_llm_proxy=info".into()),
        )
        .init();
    let settings = Settings::parse();
    let catalogue = Catalogue::load(&settings.config, |var| std::env::var(var).ok())
        .map_err(anyhow::Error::msg)?;
    let default_class = settings.default_workspace_class.clone();
    match settings.runtime {
        StoreKind::Kubernetes => {
            let client = kube::Client::try_default()
                .await
                .context("connecting to the Kubernetes API")?;
            let signer = llm_key_signer(settings.llm_key_signer.as_deref(), None)?;
            let admin = llm_proxy_admin_token(settings.admin_token.as_deref(), None)?;
            let store = KubeStore::new(client, "oqto-llm-proxy", None);
            run(
                &settings,
                catalogue,
                signer,
                admin,
                StoreGrants {
                    store,
                    default_class,
                },
            )
            .await
        }
        StoreKind::Local => {
            let store = LocalStore::open(&settings.state_dir)?;
            let signer = llm_key_signer(settings.llm_key_signer.as_deref(), Some(&store))?;
            let admin = llm_proxy_admin_token(settings.admin_token.as_deref(), Some(&store))?;
            run(
                &settings,
                catalogue,
                signer,
                admin,
                StoreGrants {
                    store,
                    default_class,
                },
            )
            .await
        }
    }
}

async fn run<G: Grants>(
    settings: &Settings,
    catalogue: Catalogue,
    signer: oqto_proto::llm::VirtualKeySigner,
    admin: oqto_proto::runner::RunnerToken,
    grants: G,
) -> anyhow::Result<()> {
    let models = catalogue.models().len();
    let usage_db = settings
        .usage_db
        .clone()
        .unwrap_or_else(|| settings.state_dir.join("llm-usage.db"));
    let mut proxy = Proxy::new(catalogue, signer, grants)?;
    proxy.streams_per_session = settings.streams_per_session.max(1);
    let ledger = match settings
        .usage_database_url
        .as_deref()
        .filter(|u| !u.is_empty())
    {
        Some(url) => Ledger::Postgres(
            PgLedger::connect(url, settings.usage_database_ca_file.as_deref())
                .await
                .map_err(anyhow::Error::msg)?,
        ),
        None => Ledger::Sqlite(Arc::new(
            SqliteLedger::open(&usage_db).map_err(anyhow::Error::msg)?,
        )),
    };
    proxy.ledger = Some(Arc::new(ledger));
    let proxy = Arc::new(proxy);
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("listening on {}", settings.listen))?;
    let metrics_listener = tokio::net::TcpListener::bind(settings.metrics_listen)
        .await
        .with_context(|| format!("listening on {}", settings.metrics_listen))?;
    let admin_app = admin_router(proxy.clone(), admin);
    tokio::spawn(async move { axum::serve(metrics_listener, admin_app).await });
    tracing::info!(listen = %settings.listen, models, usage_db = %usage_db.display(), "LLM proxy ready");
    serve(listener, proxy, stopped()).await?;
    Ok(())
}

/// SIGTERM (a Pod or container stopping) or Ctrl-C.
async fn stopped() {
    use tokio::signal::unix::{SignalKind, signal};
    let term = async {
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = term => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
