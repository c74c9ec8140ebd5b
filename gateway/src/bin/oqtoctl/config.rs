//! The stored login (`$XDG_CONFIG_HOME/oqto/oqtoctl.json`: server and token), and how the
//! global flags, the environment and that file decide which gateway to talk to as whom.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

pub const DEFAULT_SERVER: &str = "http://localhost:8080";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stored {
    pub server: String,
    pub token: String,
}

/// The file's place, from the environment of this process.
pub fn path() -> Result<PathBuf> {
    path_from(
        std::env::var_os("XDG_CONFIG_HOME"),
        std::env::var_os("HOME"),
    )
}

/// `$XDG_CONFIG_HOME/oqto/oqtoctl.json`, else `~/.config/oqto/oqtoctl.json`. A relative or
/// empty `XDG_CONFIG_HOME` is ignored, as the XDG spec says.
pub fn path_from(xdg_config_home: Option<OsString>, home: Option<OsString>) -> Result<PathBuf> {
    let base = match xdg_config_home.map(PathBuf::from) {
        Some(dir) if dir.is_absolute() => dir,
        _ => match home.map(PathBuf::from) {
            Some(home) if home.is_absolute() => home.join(".config"),
            _ => bail!(
                "cannot find where to keep the login: neither XDG_CONFIG_HOME nor HOME is an absolute path"
            ),
        },
    };
    Ok(base.join("oqto").join("oqtoctl.json"))
}

/// The stored login; `None` before the first `oqtoctl login`.
pub fn load(path: &Path) -> Result<Option<Stored>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(error).with_context(|| format!("reading the login in {}", path.display()));
        }
    };
    serde_json::from_str(&text).map(Some).with_context(|| {
        format!(
            "reading the login in {}: not valid (log in again, or delete the file)",
            path.display()
        )
    })
}

/// Writes the login readable by the user only (it holds a token), replacing the old file
/// whole so a crash never leaves half a file.
pub fn save(path: &Path, stored: &Stored) -> Result<()> {
    let dir = path
        .parent()
        .with_context(|| format!("{} has no parent directory", path.display()))?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut text = serde_json::to_string_pretty(stored).context("encoding the login")?;
    text.push('\n');
    let temporary = path.with_extension("json.tmp");
    // A leftover from a crash may have other permissions; mode() applies only to new files.
    let _ = std::fs::remove_file(&temporary);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(&temporary)
        .with_context(|| format!("creating {}", temporary.display()))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", temporary.display()))?;
    std::fs::rename(&temporary, path).with_context(|| format!("writing {}", path.display()))
}

/// The gateway and the credentials one command uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub server: String,
    pub token: Option<String>,
}

/// `--server`/`OQTO_SERVER` over the stored server over the default; `--token`/`OQTO_TOKEN`
/// over the stored token. The stored token goes only to the server it was issued by: a
/// token for one gateway is never sent to another.
pub fn resolve(
    server: Option<&str>,
    token: Option<&str>,
    stored: Option<&Stored>,
) -> Result<Target> {
    let server = match server {
        Some(server) => normalise(server)?,
        None => match stored {
            Some(stored) => normalise(&stored.server)?,
            None => DEFAULT_SERVER.to_owned(),
        },
    };
    let token = match token {
        Some(token) if !token.trim().is_empty() => Some(token.trim().to_owned()),
        _ => stored
            .filter(|stored| normalise(&stored.server).is_ok_and(|s| s == server))
            .map(|stored| stored.token.clone()),
    };
    Ok(Target { server, token })
}

/// An http(s) URL without the trailing slash, so `http://h/` and `http://h` are one server.
pub fn normalise(server: &str) -> Result<String> {
    let server = server.trim();
    let url = reqwest::Url::parse(server)
        .with_context(|| format!("--server {server:?}: not a URL (e.g. http://localhost:8080)"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        bail!("--server {server:?}: expected an http:// or https:// URL");
    }
    Ok(server.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_lives_under_xdg_config_home_or_home() {
        let path = path_from(Some("/x/conf".into()), Some("/home/a".into())).unwrap();
        assert_eq!(path, Path::new("/x/conf/oqto/oqtoctl.json"));
        let path = path_from(Some("relative".into()), Some("/home/a".into())).unwrap();
        assert_eq!(path, Path::new("/home/a/.config/oqto/oqtoctl.json"));
        let path = path_from(Some("".into()), Some("/home/a".into())).unwrap();
        assert_eq!(path, Path::new("/home/a/.config/oqto/oqtoctl.json"));
        assert!(path_from(None, None).is_err());
    }

    #[test]
    fn a_login_is_written_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("oqto").join("oqtoctl.json");
        assert_eq!(load(&path).unwrap(), None);
        let stored = Stored {
            server: "http://gw:8080".into(),
            token: "t1".into(),
        };
        save(&path, &stored).unwrap();
        assert_eq!(load(&path).unwrap(), Some(stored.clone()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // A second login replaces the first.
        let again = Stored {
            token: "t2".into(),
            ..stored
        };
        save(&path, &again).unwrap();
        assert_eq!(load(&path).unwrap(), Some(again));
        assert!(!path.with_extension("json.tmp").exists());

        std::fs::write(&path, "not json").unwrap();
        let error = load(&path).unwrap_err().to_string();
        assert!(error.contains("not valid"), "{error}");
    }

    #[test]
    fn flags_beat_the_stored_login_and_tokens_stay_with_their_server() {
        let stored = Stored {
            server: "http://gw:8080/".into(),
            token: "stored".into(),
        };
        let target = resolve(None, None, Some(&stored)).unwrap();
        assert_eq!(target.server, "http://gw:8080");
        assert_eq!(target.token.as_deref(), Some("stored"));

        let target = resolve(Some("http://gw:8080"), None, Some(&stored)).unwrap();
        assert_eq!(target.token.as_deref(), Some("stored"));

        let target = resolve(Some("http://other:8080"), None, Some(&stored)).unwrap();
        assert_eq!(target.token, None, "never sent to another server");

        let target = resolve(None, Some("flag"), Some(&stored)).unwrap();
        assert_eq!(target.token.as_deref(), Some("flag"));

        let target = resolve(None, None, None).unwrap();
        assert_eq!(target.server, DEFAULT_SERVER);
        assert_eq!(target.token, None);

        assert!(resolve(Some("localhost:8080"), None, None).is_err());
        assert!(resolve(Some("ftp://h"), None, None).is_err());
    }
}
