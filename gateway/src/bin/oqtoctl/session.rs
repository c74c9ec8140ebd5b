//! `oqtoctl session get|create|delete|suspend|resume`, always within one workspace.

use anyhow::Result;
use serde_json::{Value, json};

use crate::age;
use crate::cli::SessionCommand;
use crate::client::Client;
use crate::output::{self, Format, Table, field};

pub async fn run(client: &Client, format: Format, command: SessionCommand) -> Result<()> {
    match command {
        SessionCommand::Get { name, at } => {
            let sessions = ["api", "workspaces", at.workspace.as_str(), "sessions"];
            let answer = match &name {
                Some(name) => client.get(&[&sessions[..], &[name]].concat()).await?,
                None => client.get(&sessions).await?,
            };
            output::objects(format, answer, "sessions", |items| table(items, age::now()))
        }
        SessionCommand::Create {
            name,
            at,
            model,
            provider,
        } => {
            let mut spec = json!({});
            if let Some(model) = model {
                spec["model"] = Value::String(model);
            }
            if let Some(provider) = provider {
                spec["provider"] = Value::String(provider);
            }
            // Without a name the gateway picks one; the answer says which.
            let mut body = json!({ "spec": spec });
            if let Some(name) = name {
                body["name"] = Value::String(name);
            }
            let path = ["api", "workspaces", at.workspace.as_str(), "sessions"];
            let created = client.post(&path, &body).await?;
            output::changed(format, "session", &created, "created")
        }
        SessionCommand::Delete { name, at } => {
            let path = [
                "api",
                "workspaces",
                at.workspace.as_str(),
                "sessions",
                &name,
            ];
            client.delete(&path).await?;
            output::changed(
                format,
                "session",
                &json!({ "metadata": { "name": name } }),
                "deleted",
            )
        }
        SessionCommand::Suspend { name, at } => {
            set_suspended(client, format, &at.workspace, &name, "suspend", "suspended").await
        }
        SessionCommand::Resume { name, at } => {
            set_suspended(client, format, &at.workspace, &name, "resume", "resumed").await
        }
    }
}

async fn set_suspended(
    client: &Client,
    format: Format,
    workspace: &str,
    name: &str,
    action: &str,
    done: &str,
) -> Result<()> {
    let path = ["api", "workspaces", workspace, "sessions", name, action];
    let session = client.post(&path, &json!({})).await?;
    output::changed(format, "session", &session, done)
}

pub fn table(items: &[Value], now: i64) -> Table {
    let mut table = Table::new(&["NAME", "WORKSPACE", "PHASE", "SUSPENDED", "PARENT", "AGE"]);
    for item in items {
        let suspended = item
            .pointer("/spec/suspended")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        table.row(vec![
            field(item, "/metadata/name"),
            field(item, "/spec/workspaceRef/name"),
            field(item, "/status/phase"),
            suspended.to_string(),
            // The Session that delegated to this one (a sub-agent's).
            field(item, "/spec/parentSessionRef/name"),
            age::age(
                item.pointer("/metadata/creationTimestamp")
                    .and_then(Value::as_str),
                now,
            ),
        ]);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_show_workspace_phase_and_suspension() {
        let now = age::parse_rfc3339("2024-01-03T00:00:00Z").unwrap();
        let items = [
            json!({
                "metadata": {"name": "dev-abc", "creationTimestamp": "2024-01-01T00:00:00Z"},
                "spec": {"workspaceRef": {"name": "dev"}, "suspended": true},
                "status": {"phase": "Suspended", "conditions": []}
            }),
            json!({
                "metadata": {"name": "s2", "creationTimestamp": "2024-01-02T23:59:30Z"},
                "spec": {"workspaceRef": {"name": "dev"}, "parentSessionRef": {"name": "dev-abc"}},
                "status": {"phase": "Running"}
            }),
        ];
        assert_eq!(
            table(&items, now).render(),
            "NAME      WORKSPACE   PHASE       SUSPENDED   PARENT    AGE\n\
             dev-abc   dev         Suspended   true        <none>    2d\n\
             s2        dev         Running     false       dev-abc   30s\n"
        );
    }
}
