//! Login attempts are limited per client address and per username (a guesser that spreads
//! over many addresses still meets the per-name limit). One gateway keeps the limits in
//! memory; gateways that share a PostgreSQL store count there, so a guesser gains nothing by
//! spreading attempts over replicas.

use std::net::IpAddr;
use std::num::NonZeroU32;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::accounts::{Accounts, AccountsError, check_username};

/// The shared store counts in fixed windows of a minute.
const WINDOW_MS: i64 = 60_000;

pub struct LoginLimiter {
    per_minute: NonZeroU32,
    by_address: DefaultKeyedRateLimiter<IpAddr>,
    by_username: DefaultKeyedRateLimiter<String>,
    /// Set when the accounts store is shared: counts go there instead.
    shared: Option<Accounts>,
}

impl LoginLimiter {
    /// `per_minute` attempts a minute, in bursts of up to that many; counted in the accounts
    /// store when it is shared between gateways.
    pub fn new(per_minute: NonZeroU32, accounts: &Accounts) -> Self {
        let quota = Quota::per_minute(per_minute);
        Self {
            per_minute,
            by_address: RateLimiter::keyed(quota),
            by_username: RateLimiter::keyed(quota),
            shared: accounts.is_shared().then(|| accounts.clone()),
        }
    }

    /// Whether this attempt may go ahead (both limits are charged).
    pub async fn allow(&self, address: IpAddr, username: &str) -> Result<bool, AccountsError> {
        let Some(accounts) = &self.shared else {
            let address_ok = self.by_address.check_key(&address).is_ok();
            let name_ok = self.by_username.check_key(&username.to_owned()).is_ok();
            return Ok(address_ok && name_ok);
        };
        // Names that cannot exist share one key, so junk cannot grow the table.
        let name = if check_username(username).is_ok() {
            username
        } else {
            "(invalid)"
        };
        let limit = i64::from(self.per_minute.get());
        let by_address = accounts
            .count_attempt(&format!("address:{address}"), WINDOW_MS)
            .await?;
        let by_name = accounts
            .count_attempt(&format!("user:{name}"), WINDOW_MS)
            .await?;
        Ok(by_address.is_none_or(|n| n <= limit) && by_name.is_none_or(|n| n <= limit))
    }

    /// Forgets keys whose limits have refilled, so the maps (or the shared table) stay small.
    pub async fn forget_idle(&self) {
        self.by_address.retain_recent();
        self.by_username.retain_recent();
        if let Some(accounts) = &self.shared
            && let Err(error) = accounts.forget_attempts(WINDOW_MS).await
        {
            tracing::warn!(%error, "could not forget ended login-attempt windows");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same budget rules whichever store counts; with PostgreSQL, two gateways (two
    /// limiters on one database) share one budget.
    async fn each_address_and_each_name_has_its_own_budget(
        first: &LoginLimiter,
        second: &LoginLimiter,
    ) {
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        for limiter in [first, second, first] {
            assert!(limiter.allow(a, "alice").await.unwrap());
        }
        assert!(!first.allow(a, "alice").await.unwrap());
        assert!(
            !second.allow(a, "bob").await.unwrap(),
            "the address is spent"
        );
        assert!(!first.allow(b, "alice").await.unwrap(), "the name is spent");
        assert!(second.allow(b, "bob").await.unwrap());
    }

    #[tokio::test]
    async fn in_memory_budgets() {
        let dir = tempfile::tempdir().unwrap();
        let accounts = Accounts::open(&dir.path().join("accounts.db")).unwrap();
        let limiter = LoginLimiter::new(NonZeroU32::new(3).unwrap(), &accounts);
        each_address_and_each_name_has_its_own_budget(&limiter, &limiter).await;
    }

    #[tokio::test]
    async fn budgets_shared_by_gateways_on_one_postgres_database() {
        let url = oqto_e2e::postgres::fresh_database().await.unwrap();
        let per_minute = NonZeroU32::new(3).unwrap();
        let one = Accounts::connect_postgres(&url, None).await.unwrap();
        let other = Accounts::connect_postgres(&url, None).await.unwrap();
        let first = LoginLimiter::new(per_minute, &one);
        let second = LoginLimiter::new(per_minute, &other);
        each_address_and_each_name_has_its_own_budget(&first, &second).await;
        // Junk names share one budget instead of adding rows.
        let c: IpAddr = "10.0.0.3".parse().unwrap();
        let d: IpAddr = "10.0.0.4".parse().unwrap();
        for (address, name) in [(c, "X".repeat(200)), (d, "../y".into()), (c, "Z z".into())] {
            assert!(first.allow(address, &name).await.unwrap());
        }
        assert!(
            !second.allow(d, "Q!").await.unwrap(),
            "invalid names share one budget"
        );
    }
}
