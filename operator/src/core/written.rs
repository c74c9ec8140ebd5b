//! The statuses this operator wrote, to tell a stale cache from news.
//!
//! A new Session is reconciled twice in quick succession: once for itself (the runner is
//! created, the status says Starting) and once for its runner's creation. The second pass
//! often reads the Session from a cache that has not seen the first status write yet, decides
//! the same status again (new timestamps only) and would write it again: in a burst of a
//! thousand Sessions, up to three in four got their first status twice. A write is skipped when the
//! object is still the very version the last write was based on and the status says the same.

use std::collections::HashMap;

use oqto_api::SessionStatus;

/// Entries live only until the cache catches up; past this many, old ones are dropped wholesale
/// (a skipped write would then be written once more, never lost).
const MAX_ENTRIES: usize = 16_384;

#[derive(Default)]
pub struct Written {
    /// Session uid → (the resourceVersion the write was based on, the status written).
    last: HashMap<String, (Option<String>, SessionStatus)>,
}

impl Written {
    /// Whether writing `status` over the object at `resource_version` would only repeat the
    /// last write: the cache still holds the object that write was based on.
    pub fn repeats(
        &mut self,
        uid: &str,
        resource_version: Option<&str>,
        status: &SessionStatus,
    ) -> bool {
        match self.last.get(uid) {
            Some((based_on, written)) if based_on.as_deref() == resource_version => {
                same_apart_from_times(written, status)
            }
            Some(_) => {
                // The cache moved past it: what it holds now is the truth again.
                self.last.remove(uid);
                false
            }
            None => false,
        }
    }

    /// Notes a status written over the object at `resource_version`.
    pub fn wrote(&mut self, uid: &str, resource_version: Option<&str>, status: &SessionStatus) {
        if self.last.len() >= MAX_ENTRIES {
            self.last.clear();
        }
        self.last.insert(
            uid.to_owned(),
            (resource_version.map(str::to_owned), status.clone()),
        );
    }
}

/// Equal but for the times of the conditions, start and activity (a second pass stamps its own).
fn same_apart_from_times(a: &SessionStatus, b: &SessionStatus) -> bool {
    let conditions = |s: &SessionStatus| {
        s.conditions
            .iter()
            .map(|c| {
                (
                    c.type_.clone(),
                    c.status.clone(),
                    c.reason.clone(),
                    c.message.clone(),
                    c.observed_generation,
                )
            })
            .collect::<Vec<_>>()
    };
    a.phase == b.phase
        && a.observed_generation == b.observed_generation
        && a.pod_name == b.pod_name
        && a.endpoint == b.endpoint
        && conditions(a) == conditions(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
    use k8s_openapi::jiff::Timestamp;
    use oqto_api::SessionPhase;

    fn status(phase: SessionPhase, second: i64) -> SessionStatus {
        SessionStatus {
            phase: Some(phase),
            conditions: vec![Condition {
                type_: "Ready".into(),
                status: "False".into(),
                reason: "CreatingRunner".into(),
                message: String::new(),
                observed_generation: Some(1),
                last_transition_time: Time(Timestamp::from_second(second).unwrap()),
            }],
            observed_generation: Some(1),
            ..Default::default()
        }
    }

    #[test]
    fn a_second_pass_on_the_same_old_object_does_not_write_again() {
        let mut written = Written::default();
        written.wrote("u", Some("10"), &status(SessionPhase::Starting, 100));
        assert!(written.repeats("u", Some("10"), &status(SessionPhase::Starting, 101)));
        // Not for another Session, nor for a status that says something else.
        assert!(!written.repeats("v", Some("10"), &status(SessionPhase::Starting, 101)));
        assert!(!written.repeats("u", Some("10"), &status(SessionPhase::Running, 101)));
    }

    #[test]
    fn once_the_cache_moved_on_its_object_is_the_truth() {
        let mut written = Written::default();
        written.wrote("u", Some("10"), &status(SessionPhase::Starting, 100));
        // Someone else changed the object after our write: write again.
        assert!(!written.repeats("u", Some("12"), &status(SessionPhase::Starting, 100)));
        // And the memory is gone: even the old version no longer skips a write.
        assert!(!written.repeats("u", Some("10"), &status(SessionPhase::Starting, 100)));
    }
}
