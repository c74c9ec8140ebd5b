//! `oqtoctl schedule list|create|suspend|resume|runs|delete`: prompts sent to an agent on a
//! cron schedule, each within one workspace.

use std::collections::HashMap;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::age;
use crate::cli::ScheduleCommand;
use crate::client::Client;
use crate::output::{self, Format, NONE, Table, field};

pub async fn run(client: &Client, format: Format, command: ScheduleCommand) -> Result<()> {
    match command {
        ScheduleCommand::List { workspace } => {
            let answer = match &workspace {
                Some(workspace) => {
                    client
                        .get(&["api", "workspaces", workspace, "schedules"])
                        .await?
                }
                None => client.get(&["api", "schedules"]).await?,
            };
            // A Schedule on an existing Session names no Workspace itself: its Session's is
            // looked up, with one more call, and only when a listed Schedule needs it.
            let sessions = match &workspace {
                None if needs_sessions(&answer) => {
                    session_workspaces(&client.get(&["api", "sessions"]).await?)
                }
                _ => HashMap::new(),
            };
            output::objects(format, answer, "schedules", |items| {
                table(items, workspace.as_deref(), &sessions, age::now())
            })
        }
        ScheduleCommand::Create {
            name,
            at,
            cron,
            time_zone,
            prompt,
            session,
            concurrency_policy,
            model,
            provider,
        } => {
            let prompt = if prompt == "-" {
                let text = std::io::read_to_string(std::io::stdin())
                    .context("reading the prompt from stdin")?;
                // `echo … |` ends the prompt with a line break that is not part of it.
                text.trim_end().to_owned()
            } else {
                prompt
            };
            if prompt.trim().is_empty() {
                bail!("the prompt is empty");
            }
            let target = match session {
                Some(session) => json!({ "sessionRef": { "name": session } }),
                None => {
                    // The gateway fills in the workspace from the path.
                    let mut new_session = json!({});
                    if let Some(model) = model {
                        new_session["model"] = Value::String(model);
                    }
                    if let Some(provider) = provider {
                        new_session["provider"] = Value::String(provider);
                    }
                    json!({ "newSession": new_session })
                }
            };
            let mut spec = json!({ "schedule": cron, "prompt": prompt, "target": target });
            if let Some(zone) = time_zone {
                spec["timeZone"] = Value::String(zone);
            }
            if let Some(policy) = concurrency_policy {
                spec["concurrencyPolicy"] = Value::String(policy.as_str().to_owned());
            }
            let body = json!({ "name": name, "spec": spec });
            let path = ["api", "workspaces", at.workspace.as_str(), "schedules"];
            let created = client.post(&path, &body).await?;
            output::changed(format, "schedule", &created, "created")
        }
        ScheduleCommand::Suspend { name, at } => {
            set_suspend(client, format, &at.workspace, &name, true).await
        }
        ScheduleCommand::Resume { name, at } => {
            set_suspend(client, format, &at.workspace, &name, false).await
        }
        ScheduleCommand::Runs { name, at } => {
            let path = [
                "api",
                "workspaces",
                at.workspace.as_str(),
                "schedules",
                &name,
            ];
            let schedule = client.get(&path).await?;
            match format {
                Format::Table => {
                    let table = runs_table(&schedule, age::now());
                    if table.is_empty() {
                        eprintln!("No runs of schedule {name} yet.");
                        return Ok(());
                    }
                    output::print(&table.render())
                }
                _ => {
                    let runs = json!({
                        "active": schedule.pointer("/status/active").cloned().unwrap_or(json!([])),
                        "runs": schedule.pointer("/status/runs").cloned().unwrap_or(json!([])),
                    });
                    output::print(&output::document(format, &runs)?)
                }
            }
        }
        ScheduleCommand::Delete { name, at } => {
            let path = [
                "api",
                "workspaces",
                at.workspace.as_str(),
                "schedules",
                &name,
            ];
            client.delete(&path).await?;
            output::changed(
                format,
                "schedule",
                &json!({ "metadata": { "name": name } }),
                "deleted",
            )
        }
    }
}

async fn set_suspend(
    client: &Client,
    format: Format,
    workspace: &str,
    name: &str,
    suspend: bool,
) -> Result<()> {
    let path = ["api", "workspaces", workspace, "schedules", name];
    let schedule = client.patch(&path, &json!({ "suspend": suspend })).await?;
    let done = if suspend { "suspended" } else { "resumed" };
    output::changed(format, "schedule", &schedule, done)
}

/// Whether a listed Schedule targets an existing Session (and so names no Workspace itself).
fn needs_sessions(answer: &Value) -> bool {
    answer["items"].as_array().is_some_and(|items| {
        items
            .iter()
            .any(|s| s.pointer("/spec/target/sessionRef").is_some())
    })
}

/// Session names to their Workspace's, from a list of Sessions.
fn session_workspaces(sessions: &Value) -> HashMap<String, String> {
    sessions["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|s| {
                    Some((
                        s.pointer("/metadata/name")?.as_str()?.to_owned(),
                        s.pointer("/spec/workspaceRef/name")?.as_str()?.to_owned(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The WORKSPACE cell: the new Sessions' Workspace, else the listed one (`-w`), else that of the
/// Session the Schedule targets.
fn workspace_of(item: &Value, listed: Option<&str>, sessions: &HashMap<String, String>) -> String {
    if let Some(Value::String(workspace)) =
        item.pointer("/spec/target/newSession/workspaceRef/name")
    {
        return workspace.clone();
    }
    if let Some(listed) = listed {
        return listed.to_owned();
    }
    item.pointer("/spec/target/sessionRef/name")
        .and_then(Value::as_str)
        .and_then(|session| sessions.get(session))
        .cloned()
        .unwrap_or_else(|| NONE.to_owned())
}

/// How long ago the timestamp at `pointer` was; `<none>` when there is none (never ran).
fn ago(item: &Value, pointer: &str, now: i64) -> String {
    match item.pointer(pointer).and_then(Value::as_str) {
        Some(time) => age::age(Some(time), now),
        None => NONE.to_owned(),
    }
}

/// How long until the timestamp at `pointer`: `in 5m`, `due` once it has passed.
fn until(item: &Value, pointer: &str, now: i64) -> String {
    match item
        .pointer(pointer)
        .and_then(Value::as_str)
        .and_then(age::parse_rfc3339)
    {
        Some(next) if next > now => format!("in {}", age::human(next - now)),
        Some(_) => "due".to_owned(),
        None => NONE.to_owned(),
    }
}

pub fn table(
    items: &[Value],
    listed: Option<&str>,
    sessions: &HashMap<String, String>,
    now: i64,
) -> Table {
    let mut table = Table::new(&[
        "NAME",
        "WORKSPACE",
        "SCHEDULE",
        "TIMEZONE",
        "SUSPEND",
        "LAST SCHEDULE",
        "LAST OUTCOME",
        "NEXT",
    ]);
    for item in items {
        let suspend = item
            .pointer("/spec/suspend")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let zone = match field(item, "/spec/timeZone") {
            // What an empty time zone means.
            none if none == NONE => "UTC".to_owned(),
            zone => zone,
        };
        table.row(vec![
            field(item, "/metadata/name"),
            workspace_of(item, listed, sessions),
            field(item, "/spec/schedule"),
            zone,
            suspend.to_string(),
            ago(item, "/status/lastScheduleTime", now),
            field(item, "/status/runs/0/outcome"),
            until(item, "/status/nextScheduleTime", now),
        ]);
    }
    table
}

/// The runs in progress, then the finished ones (newest first, as the status keeps them).
pub fn runs_table(schedule: &Value, now: i64) -> Table {
    let mut table = Table::new(&[
        "SCHEDULED",
        "STARTED",
        "FINISHED",
        "OUTCOME",
        "SESSION",
        "MESSAGE",
    ]);
    let runs = |pointer| {
        schedule
            .pointer(pointer)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    for run in runs("/status/active")
        .iter()
        .chain(runs("/status/runs").iter())
    {
        let outcome = match run.pointer("/outcome").and_then(Value::as_str) {
            Some(outcome) => outcome.to_owned(),
            // In progress: its prompt sent, or not yet.
            None if run.pointer("/startedAt").is_some() => "Running".to_owned(),
            None => "Starting".to_owned(),
        };
        table.row(vec![
            ago(run, "/scheduledAt", now),
            ago(run, "/startedAt", now),
            ago(run, "/finishedAt", now),
            outcome,
            field(run, "/session"),
            field(run, "/message"),
        ]);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_show_cadence_and_their_last_and_next_runs() {
        let now = age::parse_rfc3339("2026-12-04T10:00:00Z").unwrap();
        let items = [
            json!({
                "metadata": {"name": "daily"},
                "spec": {"schedule": "0 9 * * 1-5", "timeZone": "Europe/Berlin", "prompt": "p",
                    "target": {"newSession": {"workspaceRef": {"name": "dev"}}}},
                "status": {"lastScheduleTime": "2026-12-04T08:00:00Z",
                    "nextScheduleTime": "2026-12-07T08:00:00Z",
                    "runs": [{"scheduledAt": "2026-12-04T08:00:00Z", "session": "daily-1",
                        "outcome": "Succeeded"}]}
            }),
            json!({
                "metadata": {"name": "nudge"},
                "spec": {"schedule": "@hourly", "prompt": "p", "suspend": true,
                    "target": {"sessionRef": {"name": "chat"}}}
            }),
            json!({
                "metadata": {"name": "orphan"},
                "spec": {"schedule": "@daily", "prompt": "p",
                    "target": {"sessionRef": {"name": "gone"}}},
                "status": {"nextScheduleTime": "2026-12-04T09:59:00Z"}
            }),
        ];
        let sessions = HashMap::from([("chat".to_owned(), "ops".to_owned())]);
        assert_eq!(
            table(&items, None, &sessions, now).render(),
            "NAME     WORKSPACE   SCHEDULE      TIMEZONE        SUSPEND   LAST SCHEDULE   LAST OUTCOME   NEXT\n\
             daily    dev         0 9 * * 1-5   Europe/Berlin   false     120m            Succeeded      in 2d22h\n\
             nudge    ops         @hourly       UTC             true      <none>          <none>         <none>\n\
             orphan   <none>      @daily        UTC             false     <none>          <none>         due\n"
        );
        // Listed for one workspace, that is every Schedule's.
        let listed = table(&items[1..2], Some("ops"), &HashMap::new(), now).render();
        assert!(
            listed.lines().nth(1).unwrap().starts_with("nudge   ops "),
            "{listed}"
        );
        assert!(needs_sessions(&json!({ "items": items })));
        assert!(!needs_sessions(&json!({ "items": [items[0].clone()] })));
    }

    #[test]
    fn runs_list_those_in_progress_first() {
        let now = age::parse_rfc3339("2026-12-04T10:00:00Z").unwrap();
        let schedule = json!({
            "status": {
                "active": [{"scheduledAt": "2026-12-04T09:59:00Z",
                    "startedAt": "2026-12-04T09:59:05Z", "session": "s-3"}],
                "runs": [
                    {"scheduledAt": "2026-12-04T09:00:00Z", "startedAt": "2026-12-04T09:00:02Z",
                        "finishedAt": "2026-12-04T09:03:00Z", "session": "s-2",
                        "outcome": "Failed", "message": "the run timed out"},
                    {"scheduledAt": "2026-12-04T08:00:00Z", "session": "s-1",
                        "outcome": "Skipped", "message": "an earlier run was in progress"},
                ]
            }
        });
        assert_eq!(
            runs_table(&schedule, now).render(),
            "SCHEDULED   STARTED   FINISHED   OUTCOME   SESSION   MESSAGE\n\
             60s         55s       <none>     Running   s-3       <none>\n\
             60m         59m       57m        Failed    s-2       the run timed out\n\
             120m        <none>    <none>     Skipped   s-1       an earlier run was in progress\n"
        );
        assert!(runs_table(&json!({"status": {}}), now).is_empty());
    }

    #[test]
    fn sessions_map_to_their_workspaces() {
        let sessions = json!({"items": [
            {"metadata": {"name": "chat"}, "spec": {"workspaceRef": {"name": "ops"}}},
            {"metadata": {}, "spec": {"workspaceRef": {"name": "x"}}},
        ]});
        assert_eq!(
            session_workspaces(&sessions),
            HashMap::from([("chat".to_owned(), "ops".to_owned())])
        );
    }
}
