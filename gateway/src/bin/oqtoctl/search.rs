//! `oqtoctl search`: the chat history of the caller's Workspaces. As in the web UI
//! (frontend/src/search/search.ts), a `hstry` `query` frame names a running Session only to
//! reach its runner: hstry lives on the Workspace's storage, so that runner answers for every
//! Session of the Workspace. Workspaces without a running Session are named, not woken.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context, Result};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::cli::SearchArgs;
use crate::client::Client;
use crate::mux;
use crate::output::{self, Format, Table};

/// Which Workspaces are asked, through which Session, and which cannot be.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// (Workspace, running Session) pairs.
    pub targets: Vec<(String, String)>,
    pub not_searched: Vec<String>,
}

/// One running Session per Workspace (the most recently active), from the REST lists.
pub fn plan(workspaces: &[Value], sessions: &[Value]) -> Plan {
    let mut names: Vec<&str> = workspaces
        .iter()
        .filter_map(|w| w.pointer("/metadata/name").and_then(Value::as_str))
        .collect();
    names.sort_unstable();
    let mut plan = Plan::default();
    for workspace in names {
        let own: Vec<&Value> = sessions
            .iter()
            .filter(|s| {
                s.pointer("/spec/workspaceRef/name").and_then(Value::as_str) == Some(workspace)
            })
            .collect();
        if own.is_empty() {
            continue;
        }
        let running = own
            .iter()
            .filter(|s| {
                s.pointer("/status/phase").and_then(Value::as_str) == Some("Running")
                    && s.pointer("/spec/suspended").and_then(Value::as_bool) != Some(true)
            })
            .max_by_key(|s| {
                s.pointer("/status/lastActivityAt")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            })
            .and_then(|s| s.pointer("/metadata/name").and_then(Value::as_str));
        match running {
            Some(session) => plan
                .targets
                .push((workspace.to_owned(), session.to_owned())),
            None => plan.not_searched.push(workspace.to_owned()),
        }
    }
    plan
}

/// The hits of one Workspace's answer, each with the Workspace added; malformed ones dropped.
pub fn hits(workspace: &str, data: &Value) -> Vec<Value> {
    data.as_array()
        .map(|hits| {
            hits.iter()
                .filter(|h| h["session_id"].is_string() && h["message_idx"].is_u64())
                .map(|h| {
                    let mut hit = h.clone();
                    hit["workspace"] = json!(workspace);
                    hit
                })
                .collect()
        })
        .unwrap_or_default()
}

/// All hits, best first (bm25 score, then the newest), at most `limit`.
pub fn merge(mut all: Vec<Value>, limit: usize) -> Vec<Value> {
    let score = |h: &Value| h["score"].as_f64().unwrap_or(0.0);
    let at = |h: &Value| h["created_at"].as_i64().unwrap_or(0);
    all.sort_by(|a, b| score(b).total_cmp(&score(a)).then(at(b).cmp(&at(a))));
    all.truncate(limit);
    all
}

pub async fn run(client: &Client, format: Format, args: SearchArgs) -> Result<()> {
    let query = args.words.join(" ");
    let workspaces = client.get(&["api", "workspaces"]).await?;
    let sessions = client.get(&["api", "sessions"]).await?;
    let empty = Vec::new();
    let plan = plan(
        workspaces["items"].as_array().unwrap_or(&empty),
        sessions["items"].as_array().unwrap_or(&empty),
    );
    let mut all = Vec::new();
    let mut unanswered: HashMap<String, String> = HashMap::new();
    if !plan.targets.is_empty() {
        let socket = mux::connect(client).await?;
        let (mut sink, mut stream) = socket.split();
        for (workspace, session) in &plan.targets {
            let id = format!("oqtoctl-search-{workspace}");
            let frame = json!({"channel": "hstry", "type": "query", "session_id": session,
                "id": id, "query": query, "limit": args.limit});
            sink.send(Message::text(frame.to_string()))
                .await
                .context("sending the search")?;
            unanswered.insert(id, workspace.clone());
        }
        let deadline = tokio::time::sleep(Duration::from_secs(args.timeout));
        tokio::pin!(deadline);
        while !unanswered.is_empty() {
            let message = tokio::select! {
                message = stream.next() => message,
                () = &mut deadline => break,
            };
            let Some(Ok(Message::Text(text))) = message else {
                if message.is_none() {
                    break;
                }
                continue;
            };
            let Ok(frame) = serde_json::from_str::<Value>(&text) else {
                continue;
            };
            let Some(workspace) = frame["id"].as_str().and_then(|id| unanswered.remove(id)) else {
                continue;
            };
            match frame["type"].as_str() {
                Some("result") => all.extend(hits(&workspace, &frame["data"])),
                _ => eprintln!(
                    "{workspace}: {}",
                    frame["error"]
                        .as_str()
                        .unwrap_or("the runner refused the search")
                ),
            }
        }
    }
    let mut silent: Vec<&String> = unanswered.values().collect();
    silent.sort();
    for workspace in silent {
        eprintln!(
            "{workspace}: no answer within {}s (--timeout)",
            args.timeout
        );
    }
    if !plan.not_searched.is_empty() {
        eprintln!(
            "not searched, no session running: {} (open a session there to include it)",
            plan.not_searched.join(", ")
        );
    }
    let found = merge(all, usize::try_from(args.limit).unwrap_or(20));
    if format != Format::Table {
        return output::print(&output::document(format, &output::list(found))?);
    }
    if found.is_empty() {
        eprintln!("nothing found for {query:?}");
        return Ok(());
    }
    let mut table = Table::new(&["WORKSPACE", "SESSION", "MESSAGE", "ROLE", "SNIPPET"]);
    for hit in &found {
        table.row(vec![
            output::field(hit, "/workspace"),
            output::field(hit, "/session_id"),
            output::field(hit, "/message_idx"),
            output::field(hit, "/role"),
            hit["snippet"]
                .as_str()
                .unwrap_or_default()
                .replace(['\n', '\r', '\t'], " "),
        ]);
    }
    output::print(&table.render())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(name: &str, workspace: &str, phase: &str, active: &str, suspended: bool) -> Value {
        json!({"metadata": {"name": name},
               "spec": {"workspaceRef": {"name": workspace}, "suspended": suspended},
               "status": {"phase": phase, "lastActivityAt": active}})
    }

    #[test]
    fn one_running_session_answers_for_each_workspace_and_the_rest_are_named() {
        let workspaces: Vec<Value> = ["web", "api", "idle", "empty"]
            .iter()
            .map(|n| json!({"metadata": {"name": n}}))
            .collect();
        let sessions = [
            session("web-1", "web", "Running", "2026-12-01T10:00:00Z", false),
            session("web-2", "web", "Running", "2026-12-01T11:00:00Z", false),
            session("api-1", "api", "Running", "", true),
            session("idle-1", "idle", "Suspended", "", false),
        ];
        let plan = plan(&workspaces, &sessions);
        assert_eq!(plan.targets, [("web".to_owned(), "web-2".to_owned())]);
        assert_eq!(plan.not_searched, ["api", "idle"]);
    }

    #[test]
    fn hits_are_checked_merged_best_first_and_limited() {
        let web = hits(
            "web",
            &json!([{"session_id": "web-1", "message_idx": 3, "score": 2.5, "snippet": "a"},
                    {"session_id": 7, "message_idx": 1}, "junk"]),
        );
        assert_eq!(web.len(), 1);
        assert_eq!(web[0]["workspace"], "web");
        let api = hits(
            "api",
            &json!([{"session_id": "api-1", "message_idx": 0, "score": 4.0}]),
        );
        assert!(hits("x", &json!({"not": "a list"})).is_empty());
        let merged = merge([web, api].concat(), 10);
        assert_eq!(merged[0]["session_id"], "api-1");
        assert_eq!(merge(merged, 1).len(), 1);
    }
}
