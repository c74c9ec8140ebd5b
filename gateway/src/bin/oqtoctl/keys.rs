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
        KeyCommand::Create {
            name,
            expires_in_days,
        } => {
            let mut body = json!({ "name": name });
            if let Some(days) = expires_in_days {
                body["expires_in_days"] = json!(days);
            }
            let created = client.post(&["api", "keys"], &body).await?;
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
    let mut table = Table::new(&[
        "ID",
        "NAME",
        "PREFIX",
        "AGE",
        "LAST USED",
        "REVOKED",
        "EXPIRES",
    ]);
    for item in items {
        table.row(vec![
            field(item, "/id"),
            field(item, "/name"),
            field(item, "/prefix"),
            ago(item, "created_at"),
            ago(item, "last_used_at"),
            ago(item, "revoked_at"),
            expires(item, now_seconds),
        ]);
    }
    table
}

/// `in 30d`, `expired`, or `never`.
fn expires(item: &Value, now_seconds: i64) -> String {
    match item.get("expires_at").and_then(Value::as_i64) {
        Some(ms) if ms / 1000 > now_seconds => {
            format!("in {}", age::human(ms / 1000 - now_seconds))
        }
        Some(_) => "expired".to_owned(),
        None => "never".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_show_their_times_as_ages() {
        let items = [
            json!({
                "id": "k1", "name": "ci", "prefix": "octo_sk_ab",
                "created_at": 1_000_000, "last_used_at": 1_030_000, "revoked_at": null,
                "expires_at": 1_000_000_i64 + 30 * 86_400_000
            }),
            json!({
                "id": "k2", "name": "old", "prefix": "octo_sk_cd",
                "created_at": 1_000_000, "last_used_at": null, "revoked_at": null,
                "expires_at": 1_030_000
            }),
            json!({
                "id": "k3", "name": "cli", "prefix": "octo_sk_ef",
                "created_at": 1_000_000, "last_used_at": null, "revoked_at": null
            }),
        ];
        assert_eq!(
            table(&items, 1_060).render(),
            "ID   NAME   PREFIX       AGE   LAST USED   REVOKED   EXPIRES\n\
             k1   ci     octo_sk_ab   60s   30s         <none>    in 29d\n\
             k2   old    octo_sk_cd   60s   <none>      <none>    expired\n\
             k3   cli    octo_sk_ef   60s   <none>      <none>    never\n"
        );
    }
}
