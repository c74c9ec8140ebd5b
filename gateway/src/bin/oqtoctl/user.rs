//! `oqtoctl user get|create|set-role|disable|enable|reset-password|delete`: the platform's
//! users, for admins. Passwords are never arguments (they would land in the shell's history and
//! in `ps`): they are asked for with the echo off, or read from stdin.

use std::io::IsTerminal;

use anyhow::{Result, bail};
use serde_json::{Value, json};

use crate::age;
use crate::cli::UserCommand;
use crate::client::Client;
use crate::login::ask;
use crate::output::{self, Format, Table, field};

pub async fn run(client: &Client, format: Format, command: UserCommand) -> Result<()> {
    match command {
        UserCommand::Get { name } => {
            let answer = match &name {
                Some(name) => client.get(&["api", "users", name]).await?,
                None => client.get(&["api", "users"]).await?,
            };
            output::objects(format, answer, "users", |items| table(items, age::now()))
        }
        UserCommand::Create {
            name,
            role,
            password_stdin,
        } => {
            let password = new_password(password_stdin)?;
            let body = json!({ "username": name, "password": password, "role": role.as_str() });
            let created = client.post(&["api", "users"], &body).await?;
            changed(format, &created, "created")
        }
        UserCommand::SetRole { name, role } => {
            let body = json!({ "role": role.as_str() });
            let user = client.patch(&["api", "users", &name], &body).await?;
            changed(format, &user, &format!("is now {}", role.as_str()))
        }
        UserCommand::Disable { name } => {
            let body = json!({ "disabled": true });
            let user = client.patch(&["api", "users", &name], &body).await?;
            changed(format, &user, "disabled")
        }
        UserCommand::Enable { name } => {
            let body = json!({ "disabled": false });
            let user = client.patch(&["api", "users", &name], &body).await?;
            changed(format, &user, "enabled")
        }
        UserCommand::ResetPassword {
            name,
            password_stdin,
        } => {
            let password = new_password(password_stdin)?;
            let body = json!({ "password": password });
            client
                .put(&["api", "users", &name, "password"], &body)
                .await?;
            let done = json!({ "username": name, "password_reset": true });
            changed(format, &done, "password reset")
        }
        UserCommand::Delete { name } => {
            client.delete(&["api", "users", &name]).await?;
            let done = json!({ "username": name, "deleted": true });
            changed(format, &done, "deleted")
        }
    }
}

/// `user/carol created` in table form, else the answer as a document.
fn changed(format: Format, user: &Value, verb: &str) -> Result<()> {
    match format {
        Format::Table => output::print(&format!("user/{} {verb}\n", field(user, "/username"))),
        _ => output::print(&output::document(format, user)?),
    }
}

/// A new password: asked twice at a terminal (a typo would lock the user out), else the first
/// line of stdin. The gateway checks its length and says so.
fn new_password(from_stdin: bool) -> Result<String> {
    let interactive = std::io::stdin().is_terminal() && !from_stdin;
    let password = ask("password: ", interactive, true)?;
    if interactive && ask("password again: ", interactive, true)? != password {
        bail!("the two passwords differ; nothing was changed");
    }
    if password.is_empty() {
        bail!("password: empty; nothing was changed");
    }
    Ok(password)
}

pub fn table(items: &[Value], now_seconds: i64) -> Table {
    let mut table = Table::new(&["USERNAME", "ROLE", "STATUS", "AGE"]);
    for item in items {
        let disabled = item.get("disabled").and_then(Value::as_bool) == Some(true);
        // The accounts store keeps Unix milliseconds.
        let age = match item.get("created_at").and_then(Value::as_i64) {
            Some(ms) => age::human(now_seconds - ms / 1000),
            None => output::NONE.to_owned(),
        };
        table.row(vec![
            field(item, "/username"),
            field(item, "/role"),
            (if disabled { "disabled" } else { "active" }).to_owned(),
            age,
        ]);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_show_role_status_and_age() {
        let items = [
            json!({"id": "1", "username": "admin", "role": "admin", "created_at": 1_000_000, "disabled": false}),
            json!({"id": "2", "username": "carol", "role": "user", "created_at": 1_030_000, "disabled": true}),
        ];
        assert_eq!(
            table(&items, 1_060).render(),
            "USERNAME   ROLE    STATUS     AGE\n\
             admin      admin   active     60s\n\
             carol      user    disabled   30s\n"
        );
    }
}
