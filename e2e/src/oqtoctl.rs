//! `oqtoctl chat` as a user runs it, its answer read while it streams: for the tests that kill
//! the gateway carrying a chat mid-answer and expect the chat to carry on through another.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use tokio::io::AsyncReadExt;
use tokio::process::{Child, ChildStdout};

pub struct Chat {
    child: Child,
    stdout: ChildStdout,
    printed: Vec<u8>,
}

/// How a chat ended: everything it printed, its diagnostics, whether it succeeded.
pub struct Ended {
    pub stdout: String,
    pub stderr: String,
    pub success: bool,
}

impl Chat {
    /// `oqtoctl --server SERVER --token TOKEN chat SESSION MESSAGE`, with its configuration in
    /// `config_dir` (not the user's).
    pub fn start(
        oqtoctl: &Path,
        server: &str,
        token: &str,
        session: &str,
        message: &str,
        config_dir: &Path,
    ) -> anyhow::Result<Self> {
        let mut child = tokio::process::Command::new(oqtoctl)
            .args(["--server", server, "--token", token])
            .args(["chat", session, message, "--timeout", "120"])
            .env("XDG_CONFIG_HOME", config_dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", oqtoctl.display()))?;
        let stdout = child.stdout.take().context("oqtoctl's stdout")?;
        Ok(Self {
            child,
            stdout,
            printed: Vec::new(),
        })
    }

    /// Waits for the answer's first bytes; how many there are.
    pub async fn first_words(&mut self, wait: Duration) -> anyhow::Result<usize> {
        let mut buffer = vec![0u8; 4096];
        let read = tokio::time::timeout(wait, self.stdout.read(&mut buffer))
            .await
            .context("the answer did not start")??;
        anyhow::ensure!(read > 0, "oqtoctl ended without answering");
        self.printed.extend_from_slice(&buffer[..read]);
        Ok(read)
    }

    /// Reads the rest and waits for oqtoctl to exit.
    pub async fn end(mut self, wait: Duration) -> anyhow::Result<Ended> {
        tokio::time::timeout(wait, self.stdout.read_to_end(&mut self.printed))
            .await
            .context("the chat did not end")??;
        let status = self.child.wait().await?;
        let mut stderr = String::new();
        if let Some(mut pipe) = self.child.stderr.take() {
            pipe.read_to_string(&mut stderr).await?;
        }
        Ok(Ended {
            stdout: String::from_utf8(self.printed)?,
            stderr,
            success: status.success(),
        })
    }
}
