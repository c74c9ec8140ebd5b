//! Budgets: tokens or US dollars per day or per month (UTC), for a user or a WorkspaceClass.
//! A budget without a name applies to every user (or class) on its own. Every budget that
//! matches a request is checked before it is relayed; over any of them, the request is refused
//! with a 429 that says which budget, what was spent and when it starts again.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::Deserialize;

use crate::grants::Grant;
use crate::ledger::{Scope, Spent};

#[derive(Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum BudgetScope {
    User,
    Class,
}

#[derive(Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum Period {
    Day,
    Month,
}

#[derive(Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Budget {
    pub scope: BudgetScope,
    /// The user or class; unset: each one separately.
    #[serde(default)]
    pub name: Option<String>,
    pub period: Period,
    #[serde(default)]
    pub tokens: Option<u64>,
    #[serde(default)]
    pub cost_usd: Option<f64>,
}

impl Budget {
    pub fn check(&self, field: &str) -> Result<(), String> {
        match (self.tokens, self.cost_usd) {
            (None, None) => Err(format!("{field}: set tokens or costUsd")),
            (_, Some(c)) if !c.is_finite() || c < 0.0 => {
                Err(format!("{field}.costUsd: a finite amount, not negative"))
            }
            _ => Ok(()),
        }
    }

    /// The ledger scope this budget covers for a request of `grant`, if it applies to it.
    pub fn scope_for(&self, grant: &Grant) -> Option<Scope> {
        let subject = match self.scope {
            BudgetScope::User => Some(grant.user.clone()),
            BudgetScope::Class => grant.class.clone(),
        }?;
        if self.name.as_ref().is_some_and(|n| *n != subject) {
            return None;
        }
        Some(match self.scope {
            BudgetScope::User => Scope::User(subject),
            BudgetScope::Class => Scope::Class(subject),
        })
    }

    /// Why `spent` is over this budget, if it is.
    pub fn exceeded(&self, scope: &Scope, spent: Spent, resets: Timestamp) -> Option<String> {
        let (kind, who) = match scope {
            Scope::User(n) => ("user", n),
            Scope::Class(n) => ("class", n),
        };
        let per = match self.period {
            Period::Day => "day",
            Period::Month => "month",
        };
        if let Some(limit) = self.tokens
            && spent.tokens >= limit
        {
            return Some(format!(
                "the LLM budget of {kind} {who} is used up: {} of {limit} tokens this {per}; it starts again at {resets}",
                spent.tokens
            ));
        }
        if let Some(limit) = self.cost_usd
            && spent.cost >= limit
        {
            return Some(format!(
                "the LLM budget of {kind} {who} is used up: ${:.2} of ${limit:.2} this {per}; it starts again at {resets}",
                spent.cost
            ));
        }
        None
    }
}

/// When the current period began and when the next begins (UTC).
pub fn period_bounds(period: Period, now: Timestamp) -> Result<(Timestamp, Timestamp), String> {
    let now = now.to_zoned(TimeZone::UTC);
    let bounds = || -> Result<_, jiff::Error> {
        Ok(match period {
            Period::Day => {
                let start = now.start_of_day()?;
                let next = start.tomorrow()?;
                (start.timestamp(), next.timestamp())
            }
            Period::Month => {
                let start = now.first_of_month()?.start_of_day()?;
                let next = start.checked_add(jiff::Span::new().months(1))?;
                (start.timestamp(), next.timestamp())
            }
        })
    };
    bounds().map_err(|e| format!("budget period: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(user: &str, class: Option<&str>) -> Grant {
        Grant {
            user: user.into(),
            namespace: "ns".into(),
            workspace: "w".into(),
            session: "s".into(),
            class: class.map(Into::into),
            models: Vec::new(),
        }
    }

    fn budget(yaml: &str) -> Budget {
        serde_yaml::from_str(yaml).unwrap()
    }

    #[test]
    fn budgets_apply_to_their_user_or_class_or_to_each() {
        let every_user = budget("{scope: user, period: day, tokens: 10}");
        assert_eq!(
            every_user.scope_for(&grant("alice", None)),
            Some(Scope::User("alice".into()))
        );
        let bob = budget("{scope: user, name: bob, period: day, tokens: 10}");
        assert_eq!(bob.scope_for(&grant("alice", None)), None);
        let class = budget("{scope: class, name: small, period: month, costUsd: 5}");
        assert_eq!(
            class.scope_for(&grant("alice", Some("small"))),
            Some(Scope::Class("small".into()))
        );
        assert_eq!(class.scope_for(&grant("alice", None)), None);
        assert!(
            budget("{scope: user, period: day}")
                .check("budgets[0]")
                .unwrap_err()
                .contains("budgets[0]")
        );
        assert!(serde_yaml::from_str::<Budget>("{scope: user, period: week, tokens: 1}").is_err());
    }

    #[test]
    fn a_budget_says_what_was_spent_and_when_it_starts_again() {
        let now: Timestamp = "2026-12-03T22:40:00Z".parse().unwrap();
        let (start, next) = period_bounds(Period::Month, now).unwrap();
        assert_eq!(start.to_string(), "2026-12-01T00:00:00Z");
        assert_eq!(next.to_string(), "2027-01-01T00:00:00Z");
        let (start, next) = period_bounds(Period::Day, now).unwrap();
        assert_eq!(
            (start.to_string().as_str(), next.to_string().as_str()),
            ("2026-12-03T00:00:00Z", "2026-12-04T00:00:00Z")
        );
        let b = budget("{scope: user, period: month, costUsd: 5}");
        let scope = Scope::User("alice".into());
        assert_eq!(
            b.exceeded(
                &scope,
                Spent {
                    tokens: 9,
                    cost: 4.99
                },
                next
            ),
            None
        );
        let why = b
            .exceeded(
                &scope,
                Spent {
                    tokens: 9,
                    cost: 5.0,
                },
                next,
            )
            .unwrap();
        assert!(
            why.contains("user alice")
                && why.contains("$5.00 of $5.00")
                && why.contains("2026-12-04"),
            "{why}"
        );
    }
}
