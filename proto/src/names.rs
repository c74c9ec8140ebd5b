//! The one rule for the names of Oqto's objects: Workspaces and Sessions are Kubernetes
//! objects, so their names are lowercase DNS-1123 subdomains, whether an apiserver checks them
//! (Kubernetes mode) or not (the local store, the gateway's REST API, the mux envelope).

/// Longest object name Kubernetes accepts.
pub const MAX_OBJECT_NAME: usize = 253;

/// A lowercase DNS-1123 subdomain: `[a-z0-9.-]`, at most 253 characters, starting and ending
/// with a letter or digit.
pub fn is_object_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_OBJECT_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_names_are_lowercase_dns_subdomains() {
        for good in ["a", "alice-dev", "ws.team-1", &"a".repeat(253)] {
            assert!(is_object_name(good), "{good}");
        }
        for bad in [
            "",
            "Alice",
            "-a",
            "a-",
            "a_b",
            "../x",
            "a/b",
            "tmp:x",
            &"a".repeat(254),
        ] {
            assert!(!is_object_name(bad), "{bad}");
        }
    }
}
