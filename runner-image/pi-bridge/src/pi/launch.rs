//! How a Pi process is started: the command line and environment for one conversation.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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
}

/// A resolved command line for one Pi process.
#[derive(Debug, Clone, PartialEq)]
pub struct PiLaunch {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub cwd: PathBuf,
    pub env: BTreeMap<String, String>,
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
        ]);
        PiLaunch {
            program: self.program.clone(),
            args,
            cwd: cwd.to_path_buf(),
            env,
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
