//! `oqtoctl key get|create|delete`: the caller's API keys, for scripts and CI.

use anyhow::{Context, Result};
use serde_json::{Value, json};

use crate::age;
use crate::cli::KeyCommand;
use crate::client::Client;
use crate::output::{self, Format, NONE, Table, field};

pub async fn run(client: &Client, format: Format, command: KeyCommand) -> Result<()> {
    match command {
        KeyCommand::Get => {
            let answer = client.get(&["api", "keys"]).await?;
            output::objects(format, answer, "API keys", |items| table(items, age::now()))
        }
        KeyCommand::Create { name } => {
            let created = client
                .post(&["api", "keys"], &json!({ "name": name }))
                .await?;
            match format {
                Format::Table => {
                    let key = created
                        .get("key")
                        .and_then(Value::as_str)
                        .context("the answer has no key")?;
                    // The key alone on stdout, so `$(oqtoctl key create ci)` captures it.
                    eprintln!("API key {name:?} created; it is shown only this once:");
                    output::print(&format!("{key}\n"))
                }
                _ => output::print(&output::document(format, &created)?),
            }
        }
        KeyCommand::Delete { id } => {
            client.delete(&["api", "keys", &id]).await?;
            match format {
                Format::Table => output::print(&format!("key/{id} revoked\n")),
                _ => output::print(&output::document(
                    format,
                    &json!({ "id": id, "revoked": true }),
                )?),
            }
        }
    }
}

pub fn table(items: &[Value], now_seconds: i64) -> Table {
    // The accounts store keeps Unix milliseconds.
    let ago = |item: &Value, key: &str| match item.get(key).and_then(Value::as_i64) {
        Some(ms) => age::human(now_seconds - ms / 1000),
        None => NONE.to_owned(),
    };
    let mut table = Table::new(&["ID", "NAME", "PREFIX", "AGE", "LAST USED", "REVOKED"]);
    for item in items {
        table.row(vec![
            field(item, "/id"),
            field(item, "/name"),
            field(item, "/prefix"),
            ago(item, "created_at"),
            ago(item, "last_used_at"),
            ago(item, "revoked_at"),
        ]);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_show_their_times_as_ages() {
        let items = [json!({
            "id": "k1", "name": "ci", "prefix": "octo_sk_ab",
            "created_at": 1_000_000, "last_used_at": 1_030_000, "revoked_at": null
        })];
        assert_eq!(
            table(&items, 1_060).render(),
            "ID   NAME   PREFIX       AGE   LAST USED   REVOKED\n\
             k1   ci     octo_sk_ab   60s   30s         <none>\n"
        );
    }
}
