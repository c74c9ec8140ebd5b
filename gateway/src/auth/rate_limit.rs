//! Login attempts are limited per client address and per username (a guesser that spreads
//! over many addresses still meets the per-name limit).

use std::net::IpAddr;
use std::num::NonZeroU32;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

pub struct LoginLimiter {
    by_address: DefaultKeyedRateLimiter<IpAddr>,
    by_username: DefaultKeyedRateLimiter<String>,
}

impl LoginLimiter {
    /// `per_minute` attempts a minute, in bursts of up to that many.
    pub fn new(per_minute: NonZeroU32) -> Self {
        let quota = Quota::per_minute(per_minute);
        Self {
            by_address: RateLimiter::keyed(quota),
            by_username: RateLimiter::keyed(quota),
        }
    }

    /// Whether this attempt may go ahead (both limits are charged).
    pub fn allow(&self, address: IpAddr, username: &str) -> bool {
        let address_ok = self.by_address.check_key(&address).is_ok();
        let name_ok = self.by_username.check_key(&username.to_owned()).is_ok();
        address_ok && name_ok
    }

    /// Forgets keys whose limits have refilled, so the maps stay small.
    pub fn forget_idle(&self) {
        self.by_address.retain_recent();
        self.by_username.retain_recent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_address_and_each_name_has_its_own_budget() {
        let limiter = LoginLimiter::new(NonZeroU32::new(3).unwrap());
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..3 {
            assert!(limiter.allow(a, "alice"));
        }
        assert!(!limiter.allow(a, "alice"));
        assert!(!limiter.allow(a, "bob"), "the address is spent");
        assert!(!limiter.allow(b, "alice"), "the name is spent");
        assert!(limiter.allow(b, "bob"));
    }
}
