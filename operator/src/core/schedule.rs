//! What a Schedule does at a given moment, decided without I/O: which run is due, whether it
//! starts, is skipped or replaces one in progress, when the next is due, and which finished runs
//! the history limits drop. The clock is a parameter, so tests drive time instead of waiting.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use oqto_api::{Cadence, ConcurrencyPolicy, RunOutcome, ScheduleRun, ScheduleSpec};

/// `startingDeadlineSeconds` when the spec sets none.
pub const DEFAULT_STARTING_DEADLINE: Duration = Duration::from_secs(300);
/// `runTimeout` when the spec sets none.
pub const DEFAULT_RUN_TIMEOUT: Duration = Duration::from_secs(3600);
/// The longest wait before a Schedule is looked at again, so a changed clock or a lost timer
/// costs at most this much.
pub const MAX_REQUEUE: Duration = Duration::from_secs(600);
/// Runs of one Schedule in progress at once with `Allow`: each holds a runner.
pub const MAX_ACTIVE_RUNS: usize = 3;
/// Due times looked at per decision; a schedule that missed more (every minute, for a week)
/// counts only the latest.
const MAX_MISSED: usize = 10_000;

/// Why a due run did not start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// Due longer ago than the starting deadline.
    Missed { late: Duration },
    /// `Forbid`, or a Session target that is still running the earlier run's turn.
    Overlap,
}

impl SkipReason {
    pub fn message(&self) -> String {
        match self {
            Self::Missed { late } => format!(
                "missed by {}s, more than startingDeadlineSeconds",
                late.as_secs()
            ),
            Self::Overlap => "an earlier run was still in progress (concurrencyPolicy)".into(),
        }
    }
}

/// What to do now.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// Start the run due at this time.
    pub start: Option<Timestamp>,
    /// Record the run due at this time as skipped.
    pub skip: Option<(Timestamp, SkipReason)>,
    /// Abort the runs in progress first (`Replace`).
    pub cancel_active: bool,
    /// The new `lastScheduleTime`.
    pub last_schedule: Option<Timestamp>,
    /// When the next run is due (`None` while suspended or when no time ever matches).
    pub next: Option<Timestamp>,
}

impl Plan {
    /// How long until the Schedule must be looked at again.
    pub fn requeue_after(&self, now: Timestamp) -> Duration {
        let until = self
            .next
            .map(|next| next.duration_since(now))
            .and_then(|span| Duration::try_from(span).ok())
            .unwrap_or(MAX_REQUEUE);
        // One second late rather than early: a reconcile a moment before the due time would
        // find nothing due and wait a whole period.
        (until + Duration::from_secs(1)).min(MAX_REQUEUE)
    }
}

/// The latest time in `(after, now]` at which a run is due.
fn latest_due(cadence: &Cadence, after: Timestamp, now: Timestamp) -> Option<Timestamp> {
    if let (latest, false) = scan(cadence, after, now) {
        return latest;
    }
    // Too many missed (every minute for a week): only the latest matters, so look back over
    // growing windows until one holds it in few steps.
    let hours = [1, 24, 24 * 31, 24 * 366];
    for window in hours.map(k8s_openapi::jiff::SignedDuration::from_hours) {
        let from = now.checked_sub(window).unwrap_or(now).max(after);
        if let (Some(latest), false) = scan(cadence, from, now) {
            return Some(latest);
        }
    }
    None
}

/// Walks the due times in `(after, now]`: the last one, and whether the walk stopped early.
fn scan(cadence: &Cadence, after: Timestamp, now: Timestamp) -> (Option<Timestamp>, bool) {
    let mut latest = None;
    let mut cursor = after;
    for _ in 0..MAX_MISSED {
        match cadence.next_after(cursor) {
            Some(due) if due <= now => {
                latest = Some(due);
                cursor = due;
            }
            _ => return (latest, false),
        }
    }
    (latest, true)
}

/// The decision for a Schedule at `now`. `since` is its `lastScheduleTime`, or its creation
/// when it never ran; `active` the number of runs in progress.
pub fn plan(
    spec: &ScheduleSpec,
    cadence: &Cadence,
    since: Timestamp,
    last_schedule: Option<Timestamp>,
    active: usize,
    now: Timestamp,
) -> Plan {
    let mut plan = Plan {
        last_schedule,
        ..Plan::default()
    };
    if spec.suspend {
        return plan;
    }
    let due = latest_due(cadence, since, now);
    plan.next = cadence.next_after(due.unwrap_or(now).max(now));
    let Some(due) = due else {
        return plan;
    };
    plan.last_schedule = Some(due);
    let late = Duration::try_from(now.duration_since(due)).unwrap_or_default();
    let deadline = spec
        .starting_deadline_seconds
        .and_then(|s| u64::try_from(s).ok())
        .map_or(DEFAULT_STARTING_DEADLINE, Duration::from_secs);
    if late > deadline {
        plan.skip = Some((due, SkipReason::Missed { late }));
        return plan;
    }
    // One turn at a time in a Session: overlapping runs need a Session each.
    let may_overlap = spec.target.new_session.is_some();
    match (active, spec.concurrency_policy) {
        (0, _) => plan.start = Some(due),
        (n, ConcurrencyPolicy::Allow) if may_overlap && n < MAX_ACTIVE_RUNS => {
            plan.start = Some(due);
        }
        (_, ConcurrencyPolicy::Replace) => {
            plan.cancel_active = true;
            plan.start = Some(due);
        }
        _ => plan.skip = Some((due, SkipReason::Overlap)),
    }
    plan
}

/// The run's timeout.
pub fn run_timeout(spec: &ScheduleSpec) -> Duration {
    spec.run_timeout
        .as_ref()
        .map_or(DEFAULT_RUN_TIMEOUT, |d| d.as_duration())
}

/// The Session a `newSession` run creates: the Schedule's name (cut to keep the whole within
/// the 63 characters a label value allows) and the due time in minutes since the epoch, as a
/// CronJob names its Jobs. The same run always gets the same name, so a retried create finds
/// its own Session.
pub fn run_session_name(schedule: &str, due: Timestamp) -> String {
    let minutes = due.as_second().div_euclid(60);
    let suffix = format!("-{minutes}");
    let room = 63 - suffix.len();
    let mut head: String = schedule.chars().take(room).collect();
    while head.ends_with(['-', '.']) {
        head.pop();
    }
    format!("{head}{suffix}")
}

/// A finished run, newest first in `runs`, and the runs the history limits then drop (their
/// Sessions go with them when the Schedule made them).
pub fn record(
    runs: &mut Vec<ScheduleRun>,
    finished: ScheduleRun,
    successful_limit: u32,
    failed_limit: u32,
) -> Vec<ScheduleRun> {
    runs.insert(0, finished);
    runs.sort_by_key(|run| std::cmp::Reverse(run.scheduled_at.0));
    let (mut successes, mut failures) = (0u32, 0u32);
    let mut dropped = Vec::new();
    runs.retain(|run| {
        let success = run.outcome.is_some_and(RunOutcome::is_success);
        let (count, limit) = if success {
            (&mut successes, successful_limit)
        } else {
            (&mut failures, failed_limit)
        };
        *count += 1;
        if *count > limit {
            dropped.push(run.clone());
            false
        } else {
            true
        }
    });
    dropped
}

/// A finished run, as recorded.
pub fn finished(
    mut run: ScheduleRun,
    outcome: RunOutcome,
    message: Option<String>,
    at: Timestamp,
) -> ScheduleRun {
    run.outcome = Some(outcome);
    run.finished_at = Some(Time(at));
    run.message = message.map(|m| m.chars().take(1024).collect());
    run
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(text: &str) -> Timestamp {
        text.parse().expect("a timestamp")
    }

    fn spec(extra: serde_json::Value) -> ScheduleSpec {
        let mut base = json!({"schedule": "0 * * * *", "prompt": "p",
            "target": {"newSession": {"workspaceRef": {"name": "w"}}}});
        if let (Some(base), Some(extra)) = (base.as_object_mut(), extra.as_object()) {
            base.extend(extra.clone());
        }
        serde_json::from_value(base).expect("a spec")
    }

    fn decide(spec: &ScheduleSpec, last: Option<&str>, active: usize, now: &str) -> Plan {
        let cadence = Cadence::parse(&spec.schedule, spec.time_zone.as_deref()).expect("valid");
        let last = last.map(at);
        plan(
            spec,
            &cadence,
            last.unwrap_or(at("2026-12-04T09:30:00Z")),
            last,
            active,
            at(now),
        )
    }

    #[test]
    fn nothing_is_due_before_the_first_time_and_the_wait_ends_just_after_it() {
        let plan = decide(&spec(json!({})), None, 0, "2026-12-04T09:59:00Z");
        assert_eq!(plan.start, None);
        assert_eq!(plan.next, Some(at("2026-12-04T10:00:00Z")));
        assert_eq!(
            plan.requeue_after(at("2026-12-04T09:59:00Z")),
            Duration::from_secs(61)
        );
    }

    #[test]
    fn a_due_run_starts_once() {
        let now = "2026-12-04T10:00:05Z";
        let plan = decide(&spec(json!({})), None, 0, now);
        assert_eq!(plan.start, Some(at("2026-12-04T10:00:00Z")));
        assert_eq!(plan.last_schedule, plan.start);
        assert_eq!(plan.next, Some(at("2026-12-04T11:00:00Z")));
        // The next pass, with lastScheduleTime written, starts nothing again.
        let again = decide(&spec(json!({})), Some("2026-12-04T10:00:00Z"), 1, now);
        assert_eq!((again.start, again.skip), (None, None));
    }

    #[test]
    fn only_the_latest_missed_run_counts_and_a_late_one_is_skipped() {
        // Down from 09:30 to 12:10: 10:00, 11:00 and 12:00 were missed; 12:00 is 10 min late.
        let plan = decide(&spec(json!({})), None, 0, "2026-12-04T12:10:00Z");
        assert_eq!(plan.start, None);
        assert_eq!(
            plan.skip,
            Some((
                at("2026-12-04T12:00:00Z"),
                SkipReason::Missed {
                    late: Duration::from_secs(600)
                }
            ))
        );
        assert_eq!(plan.last_schedule, Some(at("2026-12-04T12:00:00Z")));
        let generous = decide(
            &spec(json!({"startingDeadlineSeconds": 900})),
            None,
            0,
            "2026-12-04T12:10:00Z",
        );
        assert_eq!(generous.start, Some(at("2026-12-04T12:00:00Z")));
    }

    #[test]
    fn concurrency_policies() {
        let now = "2026-12-04T10:00:01Z";
        let forbid = decide(&spec(json!({})), None, 1, now);
        assert_eq!(forbid.start, None);
        assert_eq!(forbid.skip.map(|s| s.1), Some(SkipReason::Overlap));
        let allow = decide(&spec(json!({"concurrencyPolicy": "Allow"})), None, 1, now);
        assert_eq!(allow.start, Some(at("2026-12-04T10:00:00Z")));
        assert!(!allow.cancel_active);
        let crowded = decide(
            &spec(json!({"concurrencyPolicy": "Allow"})),
            None,
            MAX_ACTIVE_RUNS,
            now,
        );
        assert_eq!(
            crowded.skip.map(|s| s.1),
            Some(SkipReason::Overlap),
            "Allow is bounded too"
        );
        let replace = decide(&spec(json!({"concurrencyPolicy": "Replace"})), None, 1, now);
        assert!(replace.cancel_active);
        assert_eq!(replace.start, Some(at("2026-12-04T10:00:00Z")));
        // One turn at a time in an existing Session: Allow cannot overlap there.
        let same_session = decide(
            &spec(json!({"concurrencyPolicy": "Allow",
                "target": {"sessionRef": {"name": "s"}}})),
            None,
            1,
            now,
        );
        assert_eq!(same_session.skip.map(|s| s.1), Some(SkipReason::Overlap));
    }

    #[test]
    fn a_suspended_schedule_neither_runs_nor_has_a_next_time() {
        let plan = decide(
            &spec(json!({"suspend": true})),
            Some("2026-12-04T09:00:00Z"),
            0,
            "2026-12-04T10:00:01Z",
        );
        assert_eq!(plan.start, None);
        assert_eq!(plan.next, None);
        assert_eq!(plan.last_schedule, Some(at("2026-12-04T09:00:00Z")));
    }

    #[test]
    fn years_of_missed_minutes_decide_quickly_and_count_once() {
        let every_minute = spec(json!({"schedule": "* * * * *"}));
        let plan = decide(&every_minute, None, 0, "2030-01-01T00:00:30Z");
        assert_eq!(plan.last_schedule, Some(at("2030-01-01T00:00:00Z")));
        assert_eq!(plan.start, Some(at("2030-01-01T00:00:00Z")));
    }

    fn run(minute: u32, outcome: RunOutcome) -> ScheduleRun {
        ScheduleRun {
            scheduled_at: Time(at(&format!("2026-12-04T10:{minute:02}:00Z"))),
            started_at: None,
            finished_at: None,
            session: format!("s{minute}"),
            outcome: Some(outcome),
            message: None,
        }
    }

    #[test]
    fn history_limits_keep_the_newest_of_each_kind() {
        let mut runs = Vec::new();
        let mut dropped = Vec::new();
        for (minute, outcome) in [
            (1, RunOutcome::Succeeded),
            (2, RunOutcome::Failed),
            (3, RunOutcome::Succeeded),
            (4, RunOutcome::Skipped),
            (5, RunOutcome::Succeeded),
        ] {
            dropped.extend(record(&mut runs, run(minute, outcome), 2, 1));
        }
        let kept: Vec<&str> = runs.iter().map(|r| r.session.as_str()).collect();
        assert_eq!(kept, ["s5", "s4", "s3"]);
        let gone: Vec<&str> = dropped.iter().map(|r| r.session.as_str()).collect();
        assert_eq!(gone, ["s2", "s1"]);
        let mut none = Vec::new();
        let dropped = record(&mut none, run(1, RunOutcome::Succeeded), 0, 0);
        assert!(
            none.is_empty() && dropped.len() == 1,
            "a limit of 0 keeps none"
        );
    }

    #[test]
    fn run_session_names_are_stable_label_sized_object_names() {
        let due = at("2026-12-04T10:00:00Z");
        assert_eq!(run_session_name("nightly", due), "nightly-29939640");
        let long = "a".repeat(60) + "-b";
        let name = run_session_name(&long, due);
        assert!(name.len() <= 63, "{name}");
        assert!(oqto_proto::names::is_object_name(&name), "{name}");
        assert_eq!(name, run_session_name(&long, due));
        let dashed = format!("{}-x", "a".repeat(53));
        let name = run_session_name(&dashed, due);
        assert!(!name.contains("--"), "{name}");
    }
}
