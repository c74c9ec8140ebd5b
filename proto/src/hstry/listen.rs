//! Where hstry listens: `unix:/path/to.sock` or `tcp:127.0.0.1:PORT`. TCP is loopback only:
//! the service has no authentication, so it must never be reachable from outside the pod.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddr {
    Unix(PathBuf),
    Tcp(SocketAddr),
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ListenAddrError {
    #[error("listen address {0:?} must start with `unix:` or `tcp:`")]
    UnknownScheme(String),
    #[error("listen address `unix:` needs a socket path")]
    EmptyPath,
    #[error("listen address {0:?} is not an IP address with a port, e.g. tcp:127.0.0.1:50051")]
    BadSocketAddr(String),
    #[error("listen address {0} is not a loopback address; hstry serves inside the pod only")]
    NotLoopback(SocketAddr),
}

impl FromStr for ListenAddr {
    type Err = ListenAddrError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if let Some(path) = text.strip_prefix("unix:") {
            if path.is_empty() {
                return Err(ListenAddrError::EmptyPath);
            }
            return Ok(Self::Unix(PathBuf::from(path)));
        }
        if let Some(addr) = text.strip_prefix("tcp:") {
            let addr: SocketAddr = addr
                .parse()
                .map_err(|_| ListenAddrError::BadSocketAddr(addr.to_owned()))?;
            if !addr.ip().is_loopback() {
                return Err(ListenAddrError::NotLoopback(addr));
            }
            return Ok(Self::Tcp(addr));
        }
        Err(ListenAddrError::UnknownScheme(text.to_owned()))
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unix(path) => write!(f, "unix:{}", path.display()),
            Self::Tcp(addr) => write!(f, "tcp:{addr}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_unix_and_loopback_tcp_and_prints_them_back() {
        for text in [
            "unix:/run/hstry/service.sock",
            "tcp:127.0.0.1:50051",
            "tcp:[::1]:7",
        ] {
            let addr: ListenAddr = text.parse().unwrap();
            assert_eq!(addr.to_string(), text);
        }
        assert_eq!(
            "unix:relative.sock".parse(),
            Ok(ListenAddr::Unix(PathBuf::from("relative.sock")))
        );
    }

    #[test]
    fn refuses_what_it_cannot_or_must_not_serve() {
        assert_eq!(
            "unix:".parse::<ListenAddr>(),
            Err(ListenAddrError::EmptyPath)
        );
        assert!(matches!(
            "/run/x.sock".parse::<ListenAddr>(),
            Err(ListenAddrError::UnknownScheme(_))
        ));
        assert!(matches!(
            "tcp:localhost:80".parse::<ListenAddr>(),
            Err(ListenAddrError::BadSocketAddr(_))
        ));
        assert!(matches!(
            "tcp:0.0.0.0:50051".parse::<ListenAddr>(),
            Err(ListenAddrError::NotLoopback(_))
        ));
    }
}
