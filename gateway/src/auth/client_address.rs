//! The address a login is charged to. Behind an ingress every request comes from the proxy's
//! address, so limiting by it would let ten bad logins lock everybody out; the proxy's
//! `X-Forwarded-For` says who the client is, but only a proxy the admin trusts may say so (any
//! client can send the header). IPv6 clients are charged per /64, the block one subscriber
//! usually holds, so rotating addresses within it buys nothing.

use std::net::{IpAddr, Ipv6Addr};

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The client of a request from `peer`: the rightmost `X-Forwarded-For` address that is not a
/// trusted proxy, when `peer` is one; otherwise `peer`.
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |address: &IpAddr| trusted.iter().any(|net| net.contains(address));
    if !is_trusted(&peer) {
        return peer;
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|entry| entry.trim().parse().ok())
        .collect();
    forwarded
        .iter()
        .rev()
        .find(|address| !is_trusted(address))
        .or_else(|| forwarded.first())
        .copied()
        .unwrap_or(peer)
}

/// The key a login limit is kept under: the IPv4 address, or the IPv6 /64.
pub fn limit_key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let [a, b, c, d, ..] = v6.segments();
                IpAddr::V6(Ipv6Addr::new(a, b, c, d, 0, 0, 0, 0))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::test_headers as headers;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn only_a_trusted_proxy_names_the_client() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let forwarded = headers(&[("x-forwarded-for", "203.0.113.7, 10.1.2.3")]);
        // Through the trusted ingress: the client it names (its own hop skipped).
        assert_eq!(
            client_address(ip("10.9.9.9"), &forwarded, &trusted),
            ip("203.0.113.7")
        );
        // A client that sends the header itself is charged as itself.
        assert_eq!(
            client_address(ip("198.51.100.1"), &forwarded, &trusted),
            ip("198.51.100.1")
        );
        // A spoofed first entry does not help behind the proxy: the rightmost untrusted counts.
        let spoofed = headers(&[("x-forwarded-for", "1.2.3.4, 203.0.113.7")]);
        assert_eq!(
            client_address(ip("10.9.9.9"), &spoofed, &trusted),
            ip("203.0.113.7")
        );
        // No proxies trusted: the header is ignored.
        assert_eq!(
            client_address(ip("10.9.9.9"), &forwarded, &[]),
            ip("10.9.9.9")
        );
    }

    #[test]
    fn ipv6_clients_are_charged_per_64() {
        assert_eq!(
            limit_key(ip("2001:db8:1:2:aaaa::1")),
            limit_key(ip("2001:db8:1:2:bbbb::9"))
        );
        assert_ne!(
            limit_key(ip("2001:db8:1:2::1")),
            limit_key(ip("2001:db8:1:3::1"))
        );
        assert_eq!(limit_key(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
        assert_eq!(limit_key(ip("192.0.2.1")), ip("192.0.2.1"));
    }
}
