//! How a Pi process is started: the command line and environment for one conversation.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Where Pi's `delegate` tool finds the bridge's delegate API (`host:port`; empty when the
/// bridge serves none).
pub const ENV_DELEGATE_LISTEN: &str = "PI_BRIDGE_DELEGATE_LISTEN";

/// What Pi must not inherit from the bridge: the credential that lets this runner start
/// Sessions through the gateway. Pi's tools run whatever the model asks for; they reach
/// delegation only through the delegate API, which holds the credential for them.
const WITHHELD_ENV: [&str; 1] = [oqto_proto::runner::ENV_SESSION_CREDENTIAL];

/// Settings shared by every Pi process of this bridge.
#[derive(Debug, Clone)]
pub struct PiSettings {
    /// The `pi` executable (or a launcher script that runs Pi's CLI with the right Node).
    pub program: PathBuf,
    /// Pi's configuration directory (`models.json`, `settings.json`), on the workspace storage.
    pub agent_dir: PathBuf,
    /// Where Pi keeps its session files, on the workspace storage so they outlive the pod.
    pub session_dir: PathBuf,
    /// Default provider and model; a conversation may override them.
    pub provider: Option<String>,
    pub model: Option<String>,
    /// Extension files Pi loads besides the ones it finds itself.
    pub extensions: Vec<PathBuf>,
    /// The delegate API's address, told to Pi's `delegate` tool; `None` when not served.
    pub delegate_listen: Option<SocketAddr>,
    /// The token the delegate API asks for; only Pi gets it.
    pub delegate_token: String,
}

/// A resolved command line for one Pi process.
#[derive(Debug, Clone, PartialEq)]
pub struct PiLaunch {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub cwd: PathBuf,
    pub env: BTreeMap<String, String>,
    /// Variables of the bridge's own environment that Pi does not get.
    pub env_remove: Vec<String>,
}

impl PiSettings {
    /// The command for a conversation in `cwd`. With `resume`, Pi reopens that session file so
    /// that a restarted process continues the same conversation.
    pub fn launch(
        &self,
        cwd: &Path,
        provider: Option<&str>,
        model: Option<&str>,
        resume: Option<&Path>,
    ) -> PiLaunch {
        let mut args = vec!["--mode".to_owned(), "rpc".to_owned()];
        args.push("--session-dir".to_owned());
        args.push(self.session_dir.display().to_string());
        if let Some(file) = resume {
            args.push("--session".to_owned());
            args.push(file.display().to_string());
        }
        if let Some(provider) = provider.or(self.provider.as_deref()) {
            args.push("--provider".to_owned());
            args.push(provider.to_owned());
        }
        if let Some(model) = model.or(self.model.as_deref()) {
            args.push("--model".to_owned());
            args.push(model.to_owned());
        }
        for extension in &self.extensions {
            args.push("--extension".to_owned());
            args.push(extension.display().to_string());
        }
        let env = BTreeMap::from([
            (
                "PI_CODING_AGENT_DIR".to_owned(),
                self.agent_dir.display().to_string(),
            ),
            // No update checks or telemetry from inside a sandboxed runner.
            ("PI_SKIP_VERSION_CHECK".to_owned(), "1".to_owned()),
            ("PI_OFFLINE".to_owned(), "1".to_owned()),
            ("PI_TELEMETRY".to_owned(), "0".to_owned()),
            // The actual address (the configured port may be 0), or empty: then the tool says
            // delegation is unavailable instead of asking whatever else listens on the default.
            (
                ENV_DELEGATE_LISTEN.to_owned(),
                self.delegate_listen
                    .map(|address| address.to_string())
                    .unwrap_or_default(),
            ),
            (
                crate::config::ENV_DELEGATE_TOKEN.to_owned(),
                self.delegate_listen
                    .map(|_| self.delegate_token.clone())
                    .unwrap_or_default(),
            ),
        ]);
        PiLaunch {
            program: self.program.clone(),
            args,
            cwd: cwd.to_path_buf(),
            env,
            env_remove: WITHHELD_ENV.map(str::to_owned).to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> PiSettings {
        PiSettings {
            program: "/opt/pi/bin/pi".into(),
            agent_dir: "/data/pi/agent".into(),
            session_dir: "/data/pi/sessions".into(),
            provider: Some("anthropic".into()),
            model: Some("claude".into()),
            extensions: Vec::new(),
            delegate_listen: Some("127.0.0.1:8081".parse().unwrap()),
            delegate_token: "t".repeat(32),
        }
    }

    #[test]
    fn a_new_conversation_uses_the_defaults() {
        let launch = settings().launch(Path::new("/workspace"), None, None, None);
        assert_eq!(
            launch.args,
            [
                "--mode",
                "rpc",
                "--session-dir",
                "/data/pi/sessions",
                "--provider",
                "anthropic",
                "--model",
                "claude"
            ]
        );
        assert_eq!(launch.cwd, Path::new("/workspace"));
        assert_eq!(launch.env["PI_CODING_AGENT_DIR"], "/data/pi/agent");
    }

    #[test]
    fn pi_learns_the_delegate_api_but_not_the_session_credential() {
        let launch = settings().launch(Path::new("/workspace"), None, None, None);
        assert_eq!(launch.env[ENV_DELEGATE_LISTEN], "127.0.0.1:8081");
        assert_eq!(launch.env["PI_BRIDGE_DELEGATE_TOKEN"], "t".repeat(32));
        assert_eq!(launch.env_remove, ["OQTO_SESSION_CREDENTIAL"]);
        let ipv6 = PiSettings {
            delegate_listen: Some("[::1]:9000".parse().unwrap()),
            ..settings()
        };
        let launch = ipv6.launch(Path::new("/workspace"), None, None, None);
        assert_eq!(launch.env[ENV_DELEGATE_LISTEN], "[::1]:9000");
        let off = PiSettings {
            delegate_listen: None,
            ..settings()
        };
        let launch = off.launch(Path::new("/workspace"), None, None, None);
        assert_eq!(launch.env[ENV_DELEGATE_LISTEN], "", "not served: said so");
        assert_eq!(launch.env["PI_BRIDGE_DELEGATE_TOKEN"], "");
    }

    #[test]
    fn overrides_and_resume() {
        let launch = settings().launch(
            Path::new("/workspace"),
            Some("fake"),
            Some("scripted"),
            Some(Path::new("/data/pi/sessions/s.jsonl")),
        );
        assert_eq!(
            launch.args,
            [
                "--mode",
                "rpc",
                "--session-dir",
                "/data/pi/sessions",
                "--session",
                "/data/pi/sessions/s.jsonl",
                "--provider",
                "fake",
                "--model",
                "scripted"
            ]
        );
    }

    #[test]
    fn extensions_are_loaded_explicitly() {
        let settings = PiSettings {
            extensions: vec!["/opt/oqto/pi-extensions/ask-user.ts".into()],
            ..settings()
        };
        let launch = settings.launch(Path::new("/workspace"), None, None, None);
        assert_eq!(
            launch.args[launch.args.len() - 2..],
            ["--extension", "/opt/oqto/pi-extensions/ask-user.ts"]
        );
    }
}
