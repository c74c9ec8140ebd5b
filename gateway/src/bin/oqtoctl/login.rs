//! `oqtoctl login` (username and password for a token, stored for later commands) and
//! `oqtoctl whoami`.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::cli::LoginArgs;
use crate::client::Client;
use crate::config::{self, Stored};
use crate::output::{self, Format, Table, field};

pub async fn login(client: &Client, args: LoginArgs) -> Result<()> {
    if args.password_stdin && args.username.is_none() {
        bail!("--password-stdin reads only the password from stdin: give --username too");
    }
    // Without a terminal (a script, a pipe) nobody can answer a prompt: read lines instead.
    let interactive = std::io::stdin().is_terminal() && !args.password_stdin;
    let username = match args.username {
        Some(username) => username,
        None => ask("username: ", interactive, false)?.trim().to_owned(),
    };
    if username.is_empty() {
        bail!("no username given");
    }
    let password = ask("password: ", interactive, true)?;
    let answer = client
        .post_anonymous(
            &["api", "auth", "login"],
            &json!({ "username": username, "password": password }),
        )
        .await?;
    let token = answer
        .get("token")
        .and_then(Value::as_str)
        .context("the login answer has no token (is this an Oqto gateway?)")?;
    let user = answer
        .pointer("/user/username")
        .and_then(Value::as_str)
        .unwrap_or(&username);
    let path = config::path()?;
    config::save(
        &path,
        &Stored {
            server: client.server().to_owned(),
            token: token.to_owned(),
        },
    )?;
    output::print(&format!("logged in to {} as {user}\n", client.server()))
}

pub async fn whoami(client: &Client, format: Format) -> Result<()> {
    let user = client.get(&["api", "auth", "me"]).await?;
    match format {
        Format::Table => {
            let mut table = Table::new(&["USERNAME", "ROLE", "SERVER"]);
            table.row(vec![
                field(&user, "/username"),
                field(&user, "/role"),
                client.server().to_owned(),
            ]);
            output::print(&table.render())
        }
        _ => output::print(&output::document(format, &user)?),
    }
}

/// One line from stdin, after a prompt on stderr when someone is there to see it. A
/// password is read with the terminal's echo off, when `stty` can turn it off.
pub fn ask(prompt: &str, interactive: bool, secret: bool) -> Result<String> {
    if interactive {
        eprint!("{prompt}");
        let _ = std::io::stderr().flush();
    }
    let hidden = interactive && secret && stty("-echo");
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line);
    if hidden {
        stty("echo");
        // The user's Enter was not echoed either.
        eprintln!();
    }
    let what = prompt.trim_end_matches([':', ' ']);
    if read.with_context(|| format!("reading the {what} from stdin"))? == 0 {
        bail!("no {what} given: stdin is empty");
    }
    Ok(chomp(line))
}

/// The line without its line ending; other blanks may belong to a password.
fn chomp(mut line: String) -> String {
    if line.ends_with('\n') {
        line.pop();
        if line.ends_with('\r') {
            line.pop();
        }
    }
    line
}

fn stty(setting: &str) -> bool {
    std::process::Command::new("stty")
        .arg(setting)
        .stdin(std::process::Stdio::inherit())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_line_ending_is_removed() {
        assert_eq!(chomp("secret \n".into()), "secret ");
        assert_eq!(chomp("secret\r\n".into()), "secret");
        assert_eq!(chomp("secret".into()), "secret");
    }
}
