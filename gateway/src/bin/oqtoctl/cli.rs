//! The command line as clap derives it: global flags for where and as whom, then one
//! subcommand per verb, kubectl-style (`oqtoctl workspace get`, `oqtoctl apply -f`).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::output::Format;

#[derive(Debug, Parser)]
#[command(
    name = "oqtoctl",
    version,
    about = "The Oqto command line: workspaces, sessions and chats with the agent, through an Oqto gateway.",
    after_help = "Log in once with `oqtoctl login`; later commands use the stored token."
)]
pub struct Cli {
    /// The gateway's URL [default: the one `oqtoctl login` stored, else http://localhost:8080]
    #[arg(long, global = true, env = "OQTO_SERVER", value_name = "URL")]
    pub server: Option<String>,

    /// A bearer token or an API key (octo_sk_…) [default: the one `oqtoctl login` stored]
    // The value stays out of `--help`: it is a secret.
    #[arg(
        long,
        global = true,
        env = "OQTO_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub token: Option<String>,

    /// How to print objects
    #[arg(short, long, global = true, value_enum, default_value_t = Format::Table)]
    pub output: Format,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Log in with a username and password and store the token for later commands
    Login(LoginArgs),
    /// Show who the token belongs to
    Whoami,
    /// Workspaces: persistent storage and settings that sessions run in
    #[command(subcommand, visible_alias = "ws")]
    Workspace(WorkspaceCommand),
    /// Agent sessions of a workspace
    #[command(subcommand, visible_alias = "sess")]
    Session(SessionCommand),
    /// Your API keys (for scripts and CI: pass one as --token)
    #[command(subcommand, visible_alias = "keys")]
    Key(KeyCommand),
    /// Create or update the Workspaces and Sessions of a YAML file
    Apply(ApplyArgs),
    /// Send one prompt to a session's agent and stream its answer
    Chat(ChatArgs),
    /// Print a shell completion script (e.g. `oqtoctl completions bash > /etc/bash_completion.d/oqtoctl`)
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Asked for when missing
    #[arg(long, short)]
    pub username: Option<String>,
    /// Read the password from the first line of stdin instead of asking
    #[arg(long)]
    pub password_stdin: bool,
}

#[derive(Debug, Subcommand)]
pub enum WorkspaceCommand {
    /// List your workspaces, or show one
    Get { name: Option<String> },
    /// Create a workspace owned by you
    Create {
        name: String,
        /// A human-friendly name for the UI
        #[arg(long)]
        display_name: Option<String>,
    },
    /// Delete a workspace and its sessions
    Delete { name: String },
}

/// The workspace a session command is about.
#[derive(Debug, Args)]
pub struct InWorkspace {
    #[arg(short, long, value_name = "WORKSPACE")]
    pub workspace: String,
}

#[derive(Debug, Subcommand)]
pub enum SessionCommand {
    /// List a workspace's sessions, or show one
    Get {
        name: Option<String>,
        #[command(flatten)]
        at: InWorkspace,
    },
    /// Create a session (default name: the workspace's and a random suffix)
    Create {
        name: Option<String>,
        #[command(flatten)]
        at: InWorkspace,
        /// The model, e.g. claude-sonnet-4-5 [default: the workspace's]
        #[arg(long)]
        model: Option<String>,
        /// The model's provider, e.g. anthropic [default: the workspace's]
        #[arg(long)]
        provider: Option<String>,
    },
    /// Delete a session
    Delete {
        name: String,
        #[command(flatten)]
        at: InWorkspace,
    },
    /// Stop a session's runner; its files and history stay
    Suspend {
        name: String,
        #[command(flatten)]
        at: InWorkspace,
    },
    /// Start a suspended session again
    Resume {
        name: String,
        #[command(flatten)]
        at: InWorkspace,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// List your API keys (never the keys themselves)
    Get,
    /// Create an API key; it is printed this once
    Create { name: String },
    /// Revoke an API key
    Delete { id: String },
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The YAML file (several documents allowed); `-` reads stdin
    #[arg(
        short = 'f',
        long = "filename",
        visible_alias = "file",
        value_name = "FILE"
    )]
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct ChatArgs {
    /// The session's name
    pub session: String,
    /// What to ask; `-` reads it from stdin
    pub prompt: String,
    /// Give up after this many seconds (the turn goes on in the session)
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    pub timeout: u64,
    /// The agent harness to open the session with
    #[arg(long, default_value = "pi")]
    pub harness: String,
    /// Also show the model's thinking (on stderr)
    #[arg(long)]
    pub thinking: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn aliases_and_globals_parse() {
        let cli = Cli::try_parse_from([
            "oqtoctl", "sess", "get", "-w", "dev", "-o", "json", "--server", "http://x",
        ])
        .unwrap();
        assert_eq!(cli.output, Format::Json);
        assert_eq!(cli.server.as_deref(), Some("http://x"));
        match cli.command {
            Command::Session(SessionCommand::Get { name, at }) => {
                assert_eq!(name, None);
                assert_eq!(at.workspace, "dev");
            }
            other => panic!("{other:?}"),
        }
        let cli = Cli::try_parse_from(["oqtoctl", "chat", "s1", "hi"]).unwrap();
        match cli.command {
            Command::Chat(chat) => assert_eq!((chat.timeout, chat.harness.as_str()), (300, "pi")),
            other => panic!("{other:?}"),
        }
        assert!(Cli::try_parse_from(["oqtoctl", "session", "delete", "s1"]).is_err());
    }
}
