//! Command line and environment of pi-bridge.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use oqto_proto::hstry::listen::ListenAddr;
use oqto_proto::mux::SessionName;
use oqto_proto::runner;
use oqto_proto::runner::{RunnerToken, SessionCredential};

#[derive(Debug, Clone, Parser)]
#[command(
    name = "pi-bridge",
    version,
    about = "Runs Pi in RPC mode and serves it over one WebSocket"
)]
pub struct Config {
    /// Address of the HTTP and WebSocket server.
    #[arg(long, env = runner::ENV_LISTEN, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// The workspace directory: Pi's working directory and the root of the files channel.
    #[arg(long, env = runner::ENV_WORKSPACE, default_value = "/workspace")]
    pub workspace: PathBuf,

    /// The `pi` command.
    #[arg(long, env = "PI_BRIDGE_PI", default_value = "pi")]
    pub pi: PathBuf,

    /// Pi's configuration directory (models.json, settings.json). Default: $HOME/.pi/agent.
    #[arg(long, env = "PI_CODING_AGENT_DIR")]
    pub agent_dir: Option<PathBuf>,

    /// Where Pi keeps session files. Default: $HOME/.pi/agent/sessions.
    #[arg(long, env = "PI_BRIDGE_SESSION_DIR")]
    pub session_dir: Option<PathBuf>,

    /// Pi extensions that every conversation loads (`pi --extension`), such as the runner
    /// image's `ask_user` tool; comma-separated in the environment.
    #[arg(
        long = "pi-extension",
        env = "PI_BRIDGE_PI_EXTENSIONS",
        value_delimiter = ','
    )]
    pub pi_extensions: Vec<PathBuf>,

    /// Default LLM provider and model of new conversations.
    #[arg(long, env = runner::ENV_PROVIDER)]
    pub provider: Option<String>,
    #[arg(long, env = runner::ENV_MODEL)]
    pub model: Option<String>,

    /// An OpenAI-compatible endpoint for the provider and model above: Pi's models.json is
    /// written for it at start when the agent directory has none.
    #[arg(long, env = runner::ENV_LLM_BASE_URL, conflicts_with = "llm_proxy_url")]
    pub llm_base_url: Option<String>,

    /// The platform's LLM proxy (its root URL): Pi's models.json is written at start from the
    /// catalogue it serves to this Session's virtual key (`$OQTO_LLM_API_KEY`).
    #[arg(long, env = oqto_proto::llm::ENV_PROXY_URL)]
    pub llm_proxy_url: Option<String>,

    /// hstry, the chat history service: unix:/path.sock or tcp:127.0.0.1:PORT.
    #[arg(long, env = "PI_BRIDGE_HSTRY")]
    pub hstry: ListenAddr,

    /// The Session this bridge serves (its resource name): frames naming another session are
    /// refused.
    #[arg(long, env = runner::ENV_SESSION, value_parser = parse_session)]
    pub session: SessionName,

    /// The runner's token: its WebSocket, `/activity` and `/metrics` answer only requests that
    /// present it (`Authorization: Bearer <token>`). The operator sets it; the gateway and the
    /// operator derive it from the Session's uid.
    #[arg(long, env = runner::ENV_TOKEN, hide_env_values = true, value_parser = parse_token)]
    pub token: RunnerToken,

    /// This runner's id in canonical events.
    #[arg(long, env = runner::ENV_RUNNER_ID, default_value = "local")]
    pub runner_id: String,

    /// The shell of the terminal channel.
    #[arg(long, env = "PI_BRIDGE_SHELL", default_value = "/bin/bash")]
    pub shell: PathBuf,

    /// A working agent that prints nothing for this long is considered stalled and restarted.
    #[arg(long, env = "PI_BRIDGE_STALL_TIMEOUT", default_value = "120s", value_parser = parse_duration)]
    pub stall_timeout: Duration,

    /// Largest WebSocket frame accepted from a client, in bytes.
    #[arg(long, env = "PI_BRIDGE_MAX_FRAME", default_value_t = 16 * 1024 * 1024)]
    pub max_frame_bytes: usize,

    /// The gateway's root URL as this runner reaches it (`http://…` or `https://…`). With
    /// `--session-credential` it lets Pi delegate: start child Sessions and drive their turns.
    #[arg(long, env = runner::ENV_GATEWAY_URL, value_parser = parse_gateway_url)]
    pub gateway_url: Option<reqwest::Url>,

    /// This runner's credential towards the gateway (the operator derives it). A secret: never
    /// printed, and kept out of Pi's environment.
    #[arg(
        long,
        env = runner::ENV_SESSION_CREDENTIAL,
        hide_env_values = true,
        value_parser = parse_credential
    )]
    pub session_credential: Option<SessionCredential>,

    /// Address of the delegate API that Pi's `delegate` and browser tools call. Only a
    /// loopback address is accepted: only processes of the runner's network namespace reach it
    /// (with a browser sidecar, Chromium is one of them: hence the token below).
    #[arg(
        long,
        env = "PI_BRIDGE_DELEGATE_LISTEN",
        default_value = "127.0.0.1:8081",
        value_parser = parse_loopback
    )]
    pub delegate_listen: SocketAddr,

    /// Start the Session's Pi as soon as the bridge is up, so that the first prompt does not
    /// wait for Node and Pi to load (`false`: start it on the first command).
    #[arg(
        long,
        env = "PI_BRIDGE_PI_STANDBY",
        default_value_t = true,
        action = clap::ArgAction::Set
    )]
    pub pi_standby: bool,

    /// The browser sidecar's DevTools endpoint (`http://127.0.0.1:9222`), set only when the
    /// workspace class enables a browser: the `browser` channel shows and drives its page.
    /// Unset: the channel answers that this runner has no browser.
    #[arg(long, env = "OQTO_BROWSER_CDP", value_parser = parse_cdp_endpoint)]
    pub browser_cdp: Option<String>,

    /// Most screencast frames per second sent to browser watchers (clamped to 1..=10).
    #[arg(
        long,
        env = "PI_BRIDGE_BROWSER_FPS",
        default_value_t = crate::browser::screencast::DEFAULT_FPS,
        value_parser = parse_fps
    )]
    pub browser_fps: u32,
}

impl Config {
    fn home() -> PathBuf {
        std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/tmp"))
    }

    pub fn agent_dir(&self) -> PathBuf {
        self.agent_dir
            .clone()
            .unwrap_or_else(|| Self::home().join(".pi/agent"))
    }

    pub fn session_dir(&self) -> PathBuf {
        self.session_dir
            .clone()
            .unwrap_or_else(|| self.agent_dir().join("sessions"))
    }
}

fn parse_session(s: &str) -> Result<SessionName, String> {
    SessionName::parse(s)
}

/// A token as short as a password would make guessing it over the network feasible.
fn parse_token(s: &str) -> Result<RunnerToken, String> {
    if s.len() < 32 {
        return Err(format!(
            "the runner token must be at least 32 characters, not {}",
            s.len()
        ));
    }
    Ok(RunnerToken::from_secret(s.to_owned()))
}

/// A URL the bridge can join API paths to: http(s), a host, nothing after the path.
fn parse_gateway_url(s: &str) -> Result<reqwest::Url, String> {
    let url = reqwest::Url::parse(s.trim())
        .map_err(|e| format!("{s:?} is not a URL such as http://10.96.0.10:8080: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{s:?}: the gateway is reached over http or https"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{s:?} names no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "{s:?}: the gateway's root URL takes no query or fragment"
        ));
    }
    Ok(url)
}

/// Never fails: clap repeats a refused value in its error, and this one is a secret. Whether it
/// can be sent at all is checked when the gateway client is built, without echoing it.
fn parse_credential(s: &str) -> Result<SessionCredential, String> {
    Ok(SessionCredential::from_secret(s.to_owned()))
}

/// The secret every delegate API request carries (`authorization: Bearer …`). pi-bridge gives
/// it to its Pi alone, so a process that shares the loopback but not Pi's environment (the
/// browser sidecar, a page that broke out of Chromium's renderer) cannot start agents or read
/// their answers. From the environment only (an argument would show in process listings), never
/// printed; random per start when unset (tests set one).
pub fn delegate_token(value: Option<&str>) -> anyhow::Result<Option<String>> {
    match value {
        None => Ok(None),
        Some(token) if token.len() >= 32 && token.bytes().all(|b| b.is_ascii_graphic()) => {
            Ok(Some(token.to_owned()))
        }
        Some(_) => anyhow::bail!(
            "{ENV_DELEGATE_TOKEN} must be at least 32 printable ASCII characters, without spaces \
             or a trailing newline"
        ),
    }
}

/// Where the delegate API's token reaches Pi (and the bridge, when a test sets it).
pub const ENV_DELEGATE_TOKEN: &str = "PI_BRIDGE_DELEGATE_TOKEN";

/// The delegate API is for the runner's own processes, so it listens on loopback only.
fn parse_loopback(s: &str) -> Result<SocketAddr, String> {
    let address: SocketAddr = s
        .parse()
        .map_err(|e| format!("{s:?} is not an address such as 127.0.0.1:8081: {e}"))?;
    if !address.ip().is_loopback() {
        return Err(format!(
            "{address} is not a loopback address: the delegate API has no authentication, so \
             only processes inside the runner may reach it (use 127.0.0.1 or [::1])"
        ));
    }
    Ok(address)
}

/// The DevTools HTTP endpoint: `http://host:port`, nothing after it.
fn parse_cdp_endpoint(s: &str) -> Result<String, String> {
    let url = reqwest::Url::parse(s.trim())
        .map_err(|e| format!("{s:?} is not a URL such as http://127.0.0.1:9222: {e}"))?;
    if url.scheme() != "http" || url.host_str().is_none_or(str::is_empty) {
        return Err(format!(
            "{s:?}: the browser's DevTools endpoint is an http://host:port URL"
        ));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// A frame rate; out-of-range values are clamped rather than refused (a tuning knob).
fn parse_fps(s: &str) -> Result<u32, String> {
    let fps: u32 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number of frames per second"))?;
    Ok(fps.clamp(1, crate::browser::screencast::MAX_FPS))
}

/// `90s`, `2m`, `1500ms` or plain seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let (number, unit) = s.trim().split_at(
        s.trim()
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(s.trim().len()),
    );
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{s:?} is not a duration such as 90s, 2m or 1500ms"))?;
    match unit {
        "" | "s" => Ok(Duration::from_secs(n)),
        "ms" => Ok(Duration::from_millis(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        _ => Err(format!("{s:?}: unknown unit {unit:?} (use ms, s or m)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1500ms"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("5"), Ok(Duration::from_secs(5)));
        assert!(parse_duration("5h").is_err());
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn hstry_the_session_and_the_token_are_required_and_parsed() {
        assert!(Config::try_parse_from(["pi-bridge"]).is_err());
        let token = "0123456789abcdef0123456789abcdef";
        let no_token = [
            "pi-bridge",
            "--hstry",
            "unix:/tmp/h.sock",
            "--session",
            "s1",
        ];
        let missing = Config::try_parse_from(no_token).unwrap_err().to_string();
        assert!(missing.contains("--token"), "{missing}");
        let short = Config::try_parse_from([&no_token[..], &["--token", "short"]].concat());
        assert!(short.unwrap_err().to_string().contains("at least 32"));
        let hstry = ["pi-bridge", "--hstry", "unix:/tmp/h.sock", "--token", token];
        assert!(Config::try_parse_from(hstry).is_err(), "no session");
        let c = Config::try_parse_from([&hstry[..], &["--session", "s1"]].concat()).unwrap();
        assert_eq!(c.hstry.to_string(), "unix:/tmp/h.sock");
        assert_eq!(c.session.as_str(), "s1");
        assert_eq!(c.stall_timeout, Duration::from_secs(120));
        let bad = Config::try_parse_from([&hstry[..], &["--session", "S_1"]].concat());
        assert!(
            bad.unwrap_err()
                .to_string()
                .contains("is not a session name"),
            "the session is a Session's name"
        );
    }

    const REQUIRED: [&str; 7] = [
        "pi-bridge",
        "--hstry",
        "unix:/tmp/h.sock",
        "--session",
        "s1",
        "--token",
        "0123456789abcdef0123456789abcdef",
    ];

    #[test]
    fn delegation_settings_are_optional_and_the_api_listens_on_loopback_only() {
        let c = Config::try_parse_from(REQUIRED).unwrap();
        assert_eq!(c.gateway_url, None);
        assert!(c.session_credential.is_none());
        assert_eq!(c.delegate_listen, "127.0.0.1:8081".parse().unwrap());
        for loopback in ["127.0.0.1:0", "[::1]:9000"] {
            let c =
                Config::try_parse_from([&REQUIRED[..], &["--delegate-listen", loopback]].concat())
                    .unwrap();
            assert!(c.delegate_listen.ip().is_loopback());
        }
        for open in ["0.0.0.0:8081", "10.0.0.5:8081", "[::]:8081"] {
            let refused =
                Config::try_parse_from([&REQUIRED[..], &["--delegate-listen", open]].concat())
                    .unwrap_err()
                    .to_string();
            assert!(
                refused.contains("not a loopback address"),
                "{open}: {refused}"
            );
        }
    }

    #[test]
    fn a_delegate_token_is_long_enough_not_to_be_guessed_and_never_printed() {
        assert_eq!(delegate_token(None).unwrap(), None, "random per start");
        let long = "k".repeat(32);
        assert_eq!(delegate_token(Some(&long)).unwrap(), Some(long.clone()));
        for weak in [
            "short".to_owned(),
            "k".repeat(31),
            format!("{long}\n"),
            format!("{long} x"),
        ] {
            let refused = delegate_token(Some(&weak)).unwrap_err().to_string();
            assert!(refused.contains("at least 32 printable"), "{refused}");
            assert!(
                !refused.contains("kkkk"),
                "the value stays out of the message: {refused}"
            );
        }
        let parsed = Config::try_parse_from([&REQUIRED[..], &["--delegate-token", &long]].concat());
        assert!(
            parsed.is_err(),
            "not an argument: it would show in process listings"
        );
    }

    #[test]
    fn the_gateway_url_is_an_http_root() {
        let with = |url: &str| {
            Config::try_parse_from([&REQUIRED[..], &["--gateway-url", url]].concat())
                .map(|c| c.gateway_url.map(|u| u.to_string()))
                .map_err(|e| e.to_string())
        };
        assert_eq!(
            with("http://10.96.0.10:8080"),
            Ok(Some("http://10.96.0.10:8080/".into()))
        );
        assert!(with("https://gw.example/oqto").is_ok());
        for bad in ["ftp://gw", "gw:8080", "http://gw/?x=1", "not a url"] {
            assert!(with(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_browser_is_off_unless_its_endpoint_is_given_and_fps_is_clamped() {
        let c = Config::try_parse_from(REQUIRED).unwrap();
        assert_eq!((c.browser_cdp, c.browser_fps), (None, 4));
        let with = |args: &[&str]| Config::try_parse_from([&REQUIRED[..], args].concat());
        let c = with(&[
            "--browser-cdp",
            "http://127.0.0.1:9222/",
            "--browser-fps",
            "50",
        ])
        .unwrap();
        assert_eq!(c.browser_cdp.as_deref(), Some("http://127.0.0.1:9222"));
        assert_eq!(c.browser_fps, 10);
        assert_eq!(with(&["--browser-fps", "0"]).unwrap().browser_fps, 1);
        assert!(with(&["--browser-cdp", "ws://127.0.0.1:9222"]).is_err());
        assert!(with(&["--browser-fps", "fast"]).is_err());
    }

    #[test]
    fn the_session_credential_is_never_printed() {
        let secret = "oqto-session.s1.0123456789abcdef";
        let c = Config::try_parse_from([&REQUIRED[..], &["--session-credential", secret]].concat())
            .unwrap();
        assert_eq!(
            c.session_credential.as_ref().map(SessionCredential::expose),
            Some(secret)
        );
        assert!(!format!("{c:?}").contains(secret), "Debug hides it");
    }
}
