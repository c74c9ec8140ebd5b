//! `oqtoctl workspace get|create|delete`.

use anyhow::Result;
use serde_json::{Value, json};

use crate::age;
use crate::cli::WorkspaceCommand;
use crate::client::Client;
use crate::output::{self, Format, Table, field};

pub async fn run(client: &Client, format: Format, command: WorkspaceCommand) -> Result<()> {
    match command {
        WorkspaceCommand::Get { name } => {
            let answer = match &name {
                Some(name) => client.get(&["api", "workspaces", name]).await?,
                None => client.get(&["api", "workspaces"]).await?,
            };
            output::objects(format, answer, "workspaces", |items| {
                table(items, age::now())
            })
        }
        WorkspaceCommand::Create { name, display_name } => {
            let mut spec = json!({});
            if let Some(display_name) = display_name {
                spec["displayName"] = Value::String(display_name);
            }
            let body = json!({ "name": name, "spec": spec });
            let created = client.post(&["api", "workspaces"], &body).await?;
            output::changed(format, "workspace", &created, "created")
        }
        WorkspaceCommand::Delete { name } => {
            client.delete(&["api", "workspaces", &name]).await?;
            output::changed(
                format,
                "workspace",
                &json!({ "metadata": { "name": name } }),
                "deleted",
            )
        }
    }
}

pub fn table(items: &[Value], now: i64) -> Table {
    let mut table = Table::new(&["NAME", "OWNER", "PHASE", "AGE"]);
    for item in items {
        table.row(vec![
            field(item, "/metadata/name"),
            field(item, "/spec/owner"),
            field(item, "/status/phase"),
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
    fn workspaces_show_owner_phase_and_age() {
        let now = age::parse_rfc3339("2024-01-01T01:00:00Z").unwrap();
        let items = [
            json!({
                "apiVersion": "oqto.dev/v1alpha1", "kind": "Workspace",
                "metadata": {"name": "dev", "creationTimestamp": "2024-01-01T00:00:00Z"},
                "spec": {"owner": "alice"},
                "status": {"phase": "Ready"}
            }),
            json!({"metadata": {"name": "new"}, "spec": {"owner": "bob"}}),
        ];
        assert_eq!(
            table(&items, now).render(),
            "NAME   OWNER   PHASE    AGE\n\
             dev    alice   Ready    60m\n\
             new    bob     <none>   <unknown>\n"
        );
    }
}
