//! The command line as clap derives it: global flags for where and as whom, then one
//! subcommand per verb, kubectl-style (`oqtoctl workspace get`, `oqtoctl apply -f`).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::output::Format;

#[derive(Debug, Parser)]
#[command(
    name = "oqtoctl",
    version,
    about = "The Oqto command line: workspaces, sessions, schedules and chats with the agent, through an Oqto gateway.",
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
    /// Prompts sent to an agent on a cron schedule
    #[command(subcommand, visible_alias = "sched")]
    Schedule(ScheduleCommand),
    /// Your API keys (for scripts and CI: pass one as --token)
    #[command(subcommand, visible_alias = "keys")]
    Key(KeyCommand),
    /// The platform's users (admins only)
    #[command(subcommand, visible_alias = "users")]
    User(UserCommand),
    /// Create or update the Workspaces and Sessions of a YAML file
    Apply(ApplyArgs),
    /// Send one prompt to a session's agent and stream its answer
    Chat(ChatArgs),
    /// Search the chat history of your Workspaces (each through one of its running sessions)
    Search(SearchArgs),
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
    /// Create a session (default name: the workspace's and a random suffix; without a name it
    /// takes the workspace's warm spare, already running, when the operator keeps one)
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
pub enum ScheduleCommand {
    /// List the schedules of your workspaces, or of one
    #[command(visible_alias = "get")]
    List {
        #[arg(short, long, value_name = "WORKSPACE")]
        workspace: Option<String>,
    },
    /// Create a schedule: each run sends the prompt to a new session of the workspace, or
    /// with --session to that session (woken when suspended)
    Create {
        name: String,
        #[command(flatten)]
        at: InWorkspace,
        /// When runs are due: five cron fields (minute hour day-of-month month day-of-week), or
        /// @hourly, @daily, @weekly, @monthly, @yearly
        #[arg(long, value_name = "EXPR")]
        cron: String,
        /// The IANA time zone the schedule is read in, e.g. Europe/Berlin [default: UTC]
        #[arg(long, value_name = "TZ")]
        time_zone: Option<String>,
        /// What each run asks the agent; `-` reads it from stdin
        #[arg(long, value_name = "TEXT")]
        prompt: String,
        /// Send each run to this existing session of the workspace instead of a new one
        #[arg(long, value_name = "SESSION")]
        session: Option<String>,
        /// When a run is due while the last one still runs: skip it (Forbid), abort the last
        /// (Replace), or run both (Allow) [default: Forbid]
        #[arg(long, value_enum, ignore_case = true, value_name = "POLICY")]
        concurrency_policy: Option<ConcurrencyPolicy>,
        /// The new sessions' model [default: the workspace's]
        #[arg(long, conflicts_with = "session")]
        model: Option<String>,
        /// The new sessions' model provider (needs --model) [default: the workspace's]
        #[arg(long, conflicts_with = "session", requires = "model")]
        provider: Option<String>,
    },
    /// Start no new runs (runs in progress go on)
    Suspend {
        name: String,
        #[command(flatten)]
        at: InWorkspace,
    },
    /// Start runs again
    Resume {
        name: String,
        #[command(flatten)]
        at: InWorkspace,
    },
    /// A schedule's runs: those in progress, then the finished ones, newest first
    Runs {
        name: String,
        #[command(flatten)]
        at: InWorkspace,
    },
    /// Delete a schedule
    Delete {
        name: String,
        #[command(flatten)]
        at: InWorkspace,
    },
}

/// `spec.concurrencyPolicy`, as the API spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ConcurrencyPolicy {
    Allow,
    Forbid,
    Replace,
}

impl ConcurrencyPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "Allow",
            Self::Forbid => "Forbid",
            Self::Replace => "Replace",
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// List your API keys (never the keys themselves)
    Get,
    /// Create an API key; it is printed this once
    Create {
        name: String,
        /// Days until the key stops working (1 to 3650) [default: it works until revoked]
        #[arg(long, value_name = "DAYS")]
        expires_in_days: Option<u32>,
    },
    /// Revoke an API key
    Delete { id: String },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// List the users, or show one
    Get { name: Option<String> },
    /// Create a user (the password is asked for, twice, or read from stdin)
    Create {
        name: String,
        #[arg(long, value_enum, default_value_t = Role::User)]
        role: Role,
        /// Read the password from the first line of stdin instead of asking
        #[arg(long)]
        password_stdin: bool,
    },
    /// Make a user an admin, or an admin a user again
    SetRole {
        name: String,
        #[arg(value_enum)]
        role: Role,
    },
    /// Stop a user from logging in; their tokens and API keys are refused at once
    Disable { name: String },
    /// Let a disabled user log in again
    Enable { name: String },
    /// Set a user's password; their earlier session tokens stop working
    ResetPassword {
        name: String,
        /// Read the password from the first line of stdin instead of asking
        #[arg(long)]
        password_stdin: bool,
    },
    /// Delete a user and their API keys (their workspaces stay)
    Delete { name: String },
}

/// A user's role, as the gateway spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Role {
    User,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Admin => "admin",
        }
    }
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

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Words to look for (all of them; a trailing * matches a prefix)
    #[arg(required = true, num_args = 1..)]
    pub words: Vec<String>,
    /// At most this many hits
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(i64).range(1..=200))]
    pub limit: i64,
    /// Give up on Workspaces that have not answered after this many seconds
    #[arg(long, value_name = "SECS", default_value_t = 15)]
    pub timeout: u64,
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

    #[test]
    fn schedule_commands_parse() {
        let cli = Cli::try_parse_from([
            "oqtoctl",
            "sched",
            "create",
            "daily",
            "-w",
            "dev",
            "--cron",
            "0 9 * * 1-5",
            "--time-zone",
            "Europe/Berlin",
            "--prompt",
            "Summarise the open issues",
            "--concurrency-policy",
            "replace",
        ])
        .unwrap();
        match cli.command {
            Command::Schedule(ScheduleCommand::Create {
                name,
                at,
                cron,
                time_zone,
                concurrency_policy,
                session,
                ..
            }) => {
                assert_eq!((name.as_str(), at.workspace.as_str()), ("daily", "dev"));
                assert_eq!(cron, "0 9 * * 1-5");
                assert_eq!(time_zone.as_deref(), Some("Europe/Berlin"));
                assert_eq!(concurrency_policy, Some(ConcurrencyPolicy::Replace));
                assert_eq!(session, None, "a new session per run by default");
            }
            other => panic!("{other:?}"),
        }
        let cli = Cli::try_parse_from(["oqtoctl", "schedule", "list"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Schedule(ScheduleCommand::List { workspace: None })
        ));
        for args in [
            // A schedule needs its cron expression, its prompt and its workspace.
            [
                "oqtoctl", "schedule", "create", "s", "-w", "dev", "--prompt", "p",
            ]
            .as_slice(),
            [
                "oqtoctl", "schedule", "create", "s", "-w", "dev", "--cron", "@daily",
            ]
            .as_slice(),
            [
                "oqtoctl", "schedule", "create", "s", "--cron", "@daily", "--prompt", "p",
            ]
            .as_slice(),
            // A model is for new sessions; an existing one keeps its own.
            [
                "oqtoctl",
                "schedule",
                "create",
                "s",
                "-w",
                "dev",
                "--cron",
                "@daily",
                "--prompt",
                "p",
                "--session",
                "chat",
                "--model",
                "m",
            ]
            .as_slice(),
            ["oqtoctl", "schedule", "suspend", "s"].as_slice(),
            ["oqtoctl", "schedule", "runs", "s"].as_slice(),
        ] {
            assert!(Cli::try_parse_from(args).is_err(), "{args:?}");
        }
    }

    #[test]
    fn user_commands_parse_and_take_no_password_as_an_argument() {
        let cli = Cli::try_parse_from(["oqtoctl", "users", "set-role", "carol", "admin"]).unwrap();
        match cli.command {
            Command::User(UserCommand::SetRole { name, role }) => {
                assert_eq!((name.as_str(), role), ("carol", Role::Admin));
            }
            other => panic!("{other:?}"),
        }
        let cli = Cli::try_parse_from(["oqtoctl", "user", "create", "carol"]).unwrap();
        match cli.command {
            Command::User(UserCommand::Create {
                role,
                password_stdin,
                ..
            }) => {
                assert_eq!((role, password_stdin), (Role::User, false));
            }
            other => panic!("{other:?}"),
        }
        // A password on the command line would be in the shell's history and in `ps`.
        for args in [
            ["oqtoctl", "user", "create", "carol", "--password", "x"].as_slice(),
            ["oqtoctl", "user", "reset-password", "carol", "secret"].as_slice(),
            ["oqtoctl", "user", "set-role", "carol", "root"].as_slice(),
        ] {
            assert!(Cli::try_parse_from(args).is_err(), "{args:?}");
        }
        let cli =
            Cli::try_parse_from(["oqtoctl", "key", "create", "ci", "--expires-in-days", "30"])
                .unwrap();
        match cli.command {
            Command::Key(KeyCommand::Create {
                expires_in_days, ..
            }) => {
                assert_eq!(expires_in_days, Some(30));
            }
            other => panic!("{other:?}"),
        }
    }
}
