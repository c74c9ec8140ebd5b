//! The `Schedule` resource: a prompt sent to an agent on a cron schedule, like a CronJob whose
//! job is one agent turn.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::duration::BoundedDuration;
use crate::schema;
use crate::session::{SessionReference, WorkspaceReference};

/// The longest prompt a Schedule carries (the same bound as a prompt frame's text is far larger;
/// a scheduled prompt is an instruction, not a document).
pub const MAX_PROMPT_CHARS: usize = 16_384;

/// The longest Schedule name: it is a label value on its runs' Sessions.
pub const MAX_NAME: usize = 63;

/// The most runs a history limit may keep.
pub const MAX_HISTORY: u32 = 100;

/// Desired state of a Schedule.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "oqto.dev",
    version = "v1alpha1",
    kind = "Schedule",
    doc = "A Schedule sends a prompt to an agent on a cron schedule: to an existing Session (woken when suspended) or to a new Session in a Workspace, one per run. Each run is recorded in the status with its outcome.",
    plural = "schedules",
    singular = "schedule",
    shortname = "sched",
    category = "oqto",
    namespaced,
    status = "ScheduleStatus",
    derive = "PartialEq",
    validation = Rule::new("size(self.metadata.name) <= 63").message("metadata.name: a Schedule's name is at most 63 characters: it labels the Sessions of its runs"),
    printcolumn = r#"{"name":"Schedule","type":"string","jsonPath":".spec.schedule","description":"Cron expression"}"#,
    printcolumn = r#"{"name":"Time Zone","type":"string","jsonPath":".spec.timeZone","description":"IANA time zone of the schedule (UTC when empty)"}"#,
    printcolumn = r#"{"name":"Suspend","type":"boolean","jsonPath":".spec.suspend","description":"Whether runs are paused"}"#,
    printcolumn = r#"{"name":"Active","type":"string","jsonPath":".status.active[*].session","description":"Sessions of the runs in progress"}"#,
    printcolumn = r#"{"name":"Last Schedule","type":"date","jsonPath":".status.lastScheduleTime","description":"When the last run was due"}"#,
    printcolumn = r#"{"name":"Last Outcome","type":"string","jsonPath":".status.runs[0].outcome","description":"How the newest finished run ended"}"#,
    printcolumn = r#"{"name":"Next","type":"string","jsonPath":".status.nextScheduleTime","priority":1,"description":"When the next run is due"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleSpec {
    /// When runs are due, in cron format: five fields (minute hour day-of-month month
    /// day-of-week, weekdays 0-7 with 0 and 7 Sunday, names allowed) or a macro (`@hourly`,
    /// `@daily`, `@weekly`, `@monthly`, `@yearly`).
    #[schemars(length(min = 1, max = 128))]
    pub schedule: String,

    /// The IANA time zone the schedule is read in (`Europe/Berlin`); default UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub time_zone: Option<String>,

    /// What each run sends to the agent, as a user prompt.
    #[schemars(length(min = 1, max = 16384))]
    pub prompt: String,

    /// Where each run's prompt goes.
    pub target: ScheduleTarget,

    /// What to do when a run is due while an earlier one is still in progress: `Forbid` (the
    /// default) skips the new run, `Replace` aborts the earlier one, `Allow` runs both. A Session
    /// runs one turn at a time, so `Allow` only overlaps runs with `target.newSession`.
    #[serde(default)]
    pub concurrency_policy: ConcurrencyPolicy,

    /// `true` starts no new runs; runs in progress go on.
    #[serde(default)]
    pub suspend: bool,

    /// A run missed by more than this many seconds (the operator was down, the Schedule was
    /// suspended) is skipped, not started late. Default: 300.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 86400))]
    pub starting_deadline_seconds: Option<i64>,

    /// How long a run may take, from its prompt to the agent's idle; a longer run is aborted and
    /// counts as failed. Default: 1h.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::duration")]
    pub run_timeout: Option<BoundedDuration>,

    /// How many succeeded runs the status (and, with `target.newSession`, the store) keeps.
    /// Default 3.
    #[serde(default = "default_successful_history")]
    #[schemars(range(max = 100))]
    pub successful_runs_history_limit: u32,

    /// How many failed or skipped runs the status (and their Sessions) keeps. Default 1.
    #[serde(default = "default_failed_history")]
    #[schemars(range(max = 100))]
    pub failed_runs_history_limit: u32,
}

fn default_successful_history() -> u32 {
    3
}

fn default_failed_history() -> u32 {
    1
}

/// Where a run's prompt goes: exactly one of the two.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "has(self.sessionRef) != has(self.newSession)", "message": "set exactly one of sessionRef and newSession"},
]))]
pub struct ScheduleTarget {
    /// An existing Session (same namespace): woken when suspended, prompted, left running
    /// (its idle rule suspends it again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_ref: Option<SessionReference>,

    /// A new Session per run, in this Workspace: named after the Schedule and the run's time,
    /// labelled `oqto.dev/schedule`, suspended when the run ends (its history stays), deleted
    /// with the run once the history limits drop it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_session: Option<NewSessionTemplate>,
}

/// The Session each run creates.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewSessionTemplate {
    /// The Workspace the Session runs in.
    pub workspace_ref: WorkspaceReference,

    /// LLM provider, overriding the Workspace's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 63),
        regex(pattern = r"^[a-z0-9]([-a-z0-9_.]*[a-z0-9])?$")
    )]
    pub provider: Option<String>,

    /// Model, overriding the Workspace's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub model: Option<String>,
}

/// What a due run does while an earlier one is in progress.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum ConcurrencyPolicy {
    /// Start it anyway.
    Allow,
    /// Skip it (recorded as a `Skipped` run).
    #[default]
    Forbid,
    /// Abort the earlier run, then start it.
    Replace,
}

/// Observed state of a Schedule, written by the operator.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleStatus {
    /// `Ready`: whether the schedule is valid and its target exists.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "schema::conditions")]
    pub conditions: Vec<Condition>,

    /// The `metadata.generation` this status was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// When the latest run was due (started or skipped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_schedule_time: Option<Time>,

    /// When the newest successful run ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_successful_time: Option<Time>,

    /// When the next run is due; empty while suspended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_schedule_time: Option<Time>,

    /// Runs in progress.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    pub active: Vec<ScheduleRun>,

    /// Finished runs, newest first, as many as the history limits keep.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 200))]
    pub runs: Vec<ScheduleRun>,
}

/// One run of a Schedule.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleRun {
    /// When the run was due.
    pub scheduled_at: Time,
    /// When its prompt was sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    /// When it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Time>,
    /// The Session it ran in.
    #[schemars(length(max = 253))]
    pub session: String,
    /// How it ended; empty while in progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<RunOutcome>,
    /// Why it failed or was skipped (never the agent's output).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub message: Option<String>,
}

/// How a run ended.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum RunOutcome {
    /// The agent finished its turn.
    Succeeded,
    /// The run could not start, the agent reported an error, or it timed out.
    Failed,
    /// Not started: an earlier run was in progress (`Forbid`), or it was missed by more than
    /// `startingDeadlineSeconds`.
    Skipped,
    /// Aborted by a newer run (`Replace`), or its Session was deleted or suspended meanwhile.
    Cancelled,
}

impl RunOutcome {
    /// Whether the run counts against `successfulRunsHistoryLimit` (else the failed one).
    pub fn is_success(self) -> bool {
        matches!(self, Self::Succeeded)
    }
}
