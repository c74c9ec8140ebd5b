//! The gateway binary as a test or bench starts it: its own data directory, an admin, the
//! runner key; up once it printed its address and answers `/readyz`. Killed on drop.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::{RUNNER_KEY, eventually};

/// How long the gateway may take to start.
const START: Duration = Duration::from_secs(60);

pub struct GatewayProcess {
    _child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    http: reqwest::Client,
}

impl GatewayProcess {
    /// Starts `command` (the binary with its mode's arguments) listening on a free loopback
    /// port, with `admin` (user, password) and `data_dir`.
    pub async fn start(
        mut command: Command,
        data_dir: &Path,
        admin: (&str, &str),
    ) -> anyhow::Result<Self> {
        let mut child = command
            .args(["--listen", "127.0.0.1:0", "--insecure-cookies"])
            .arg("--data-dir")
            .arg(data_dir)
            .env("OQTO_ADMIN_USER", admin.0)
            .env("OQTO_ADMIN_PASSWORD", admin.1)
            .env("OQTO_RUNNER_KEY", RUNNER_KEY)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("starting oqto-gateway")?;
        let mut lines =
            BufReader::new(child.stdout.take().context("the gateway's stdout")?).lines();
        let url = tokio::time::timeout(START, async {
            loop {
                let line = lines
                    .next_line()
                    .await?
                    .context("the gateway ended before printing its address")?;
                if let Some(url) = line.strip_prefix("oqto-gateway listening on ") {
                    return anyhow::Ok(url.to_owned());
                }
            }
        })
        .await
        .context("the gateway printed no address")??;
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let http = reqwest::Client::new();
        eventually("the gateway ready", START, || async {
            let answer = http.get(format!("{url}/readyz")).send().await.ok()?;
            answer.status().is_success().then_some(())
        })
        .await?;
        Ok(Self {
            _child: child,
            url,
            http,
        })
    }

    /// A bearer token from a REST login.
    pub async fn login(&self, user: &str, password: &str) -> anyhow::Result<String> {
        let answer: Value = self
            .http
            .post(format!("{}/api/auth/login", self.url))
            .json(&json!({"username": user, "password": password}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        answer["token"]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("no token in the login answer {answer}"))
    }

    /// The mux WebSocket's URL.
    pub fn mux_url(&self) -> String {
        format!("{}/api/ws/mux", self.url.replacen("http://", "ws://", 1))
    }

    /// A REST call with `token`: the status and the JSON body (`Null` when there is none).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer = request.send().await?;
        let status = answer.status().as_u16();
        let text = answer.text().await?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }
}
