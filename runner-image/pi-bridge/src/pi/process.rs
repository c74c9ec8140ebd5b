//! One `pi --mode rpc` child process: commands go to its stdin as JSON lines, and its stdout is
//! read with strict JSONL framing (split on `\n` only, a trailing `\r` dropped) into a channel.
//! Replies are matched to commands by the `id` the bridge puts on every command it sends.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio_util::codec::{FramedRead, LinesCodec, LinesCodecError};
use tracing::{debug, warn};

use super::launch::PiLaunch;

/// The longest stdout line accepted from Pi; a longer one is dropped with a warning (a runaway
/// tool output must not exhaust the bridge's memory).
pub const MAX_LINE_BYTES: usize = 32 * 1024 * 1024;

/// What Pi printed, in order.
#[derive(Debug)]
pub enum PiOutput {
    /// An event (anything on stdout that is not a reply to one of our commands).
    Event(Value),
    /// Pi's stdout closed: the process ended. `code` is its exit status when known.
    Exited { code: Option<i32> },
}

/// A reply of Pi to one command: `{"type":"response","command","success","data"?,"error"?}`.
#[derive(Debug, Clone, PartialEq)]
pub struct PiReply {
    pub command: String,
    pub success: bool,
    pub data: Option<Value>,
    pub error: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum PiError {
    #[error("starting Pi ({program}) failed: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("Pi is not running")]
    NotRunning,
    #[error("Pi did not answer `{command}` within {timeout:?}")]
    Timeout { command: String, timeout: Duration },
    #[error("writing to Pi failed: {0}")]
    Write(std::io::Error),
}

type Pending = Arc<Mutex<HashMap<String, oneshot::Sender<PiReply>>>>;

/// A running Pi process. Dropping it kills the process.
pub struct PiProcess {
    child: Child,
    stdin: Mutex<Option<ChildStdin>>,
    pending: Pending,
    next_id: AtomicU64,
    pid: Option<u32>,
}

impl PiProcess {
    /// Starts Pi; its events arrive on the returned receiver until `PiOutput::Exited`.
    pub fn spawn(launch: &PiLaunch) -> Result<(Self, mpsc::Receiver<PiOutput>), PiError> {
        let mut command = Command::new(&launch.program);
        command
            .args(&launch.args)
            .current_dir(&launch.cwd)
            .envs(&launch.env)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for name in &launch.env_remove {
            command.env_remove(name);
        }
        let mut child = command.spawn().map_err(|source| PiError::Spawn {
            program: launch.program.display().to_string(),
            source,
        })?;
        let pid = child.id();
        let stdin = child.stdin.take();
        let (tx, rx) = mpsc::channel(1024);
        let pending: Pending = Arc::default();
        if let Some(stdout) = child.stdout.take() {
            tokio::spawn(read_stdout(stdout, tx, pending.clone()));
        }
        if let Some(stderr) = child.stderr.take() {
            tokio::spawn(log_stderr(stderr, pid));
        }
        debug!(?pid, "pi started");
        let process = Self {
            child,
            stdin: Mutex::new(stdin),
            pending,
            next_id: AtomicU64::new(1),
            pid,
        };
        Ok((process, rx))
    }

    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// False once the process has exited (reaped or not).
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends a command that Pi answers with a `response` line, and waits for that answer.
    pub async fn request(&self, mut command: Value, timeout: Duration) -> Result<PiReply, PiError> {
        let id = format!("bridge-{}", self.next_id.fetch_add(1, Ordering::Relaxed));
        let name = command
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_owned();
        if let Some(obj) = command.as_object_mut() {
            obj.insert("id".into(), Value::String(id.clone()));
        }
        let (tx, rx) = oneshot::channel();
        self.pending.lock().await.insert(id.clone(), tx);
        if let Err(e) = self.write(&command).await {
            self.pending.lock().await.remove(&id);
            return Err(e);
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(_)) => Err(PiError::NotRunning),
            Err(_) => {
                self.pending.lock().await.remove(&id);
                Err(PiError::Timeout {
                    command: name,
                    timeout,
                })
            }
        }
    }

    /// Sends a command without waiting for an answer (abort, extension UI replies).
    pub async fn send(&self, command: &Value) -> Result<(), PiError> {
        self.write(command).await
    }

    async fn write(&self, command: &Value) -> Result<(), PiError> {
        let mut line = serde_json::to_vec(command).map_err(|e| PiError::Write(e.into()))?;
        line.push(b'\n');
        let mut guard = self.stdin.lock().await;
        let stdin = guard.as_mut().ok_or(PiError::NotRunning)?;
        stdin.write_all(&line).await.map_err(PiError::Write)?;
        stdin.flush().await.map_err(PiError::Write)
    }

    /// Kills the process and waits for it to be reaped.
    pub async fn kill(&mut self) {
        self.stdin.lock().await.take();
        let _ = self.child.kill().await;
    }
}

/// Routes every stdout line: replies to pending commands, the rest to the event channel.
async fn read_stdout(
    stdout: tokio::process::ChildStdout,
    tx: mpsc::Sender<PiOutput>,
    pending: Pending,
) {
    let mut lines = FramedRead::new(stdout, LinesCodec::new_with_max_length(MAX_LINE_BYTES));
    while let Some(line) = lines.next().await {
        let line = match line {
            Ok(line) => line,
            Err(LinesCodecError::MaxLineLengthExceeded) => {
                warn!(
                    max = MAX_LINE_BYTES,
                    "Pi printed an over-long line; dropped"
                );
                continue;
            }
            Err(LinesCodecError::Io(e)) => {
                warn!(error = %e, "reading Pi's stdout failed");
                break;
            }
        };
        for value in split_json_objects(&line) {
            if let Some(reply) = as_reply(&value) {
                let id = value.get("id").and_then(Value::as_str).unwrap_or_default();
                if let Some(waiter) = pending.lock().await.remove(id) {
                    let _ = waiter.send(reply);
                    continue;
                }
            }
            if tx.send(PiOutput::Event(value)).await.is_err() {
                return;
            }
        }
    }
    // Waiters of commands that will never be answered learn it now.
    pending.lock().await.clear();
    let _ = tx.send(PiOutput::Exited { code: None }).await;
}

/// Parses one stdout line. Pi writes one object per line, but several concatenated objects are
/// accepted too; text that is not JSON is logged and skipped, never fatal.
pub fn split_json_objects(line: &str) -> Vec<Value> {
    let line = line.trim();
    if line.is_empty() {
        return Vec::new();
    }
    let mut values = Vec::new();
    for item in serde_json::Deserializer::from_str(line).into_iter::<Value>() {
        match item {
            Ok(value @ Value::Object(_)) => values.push(value),
            Ok(other) => warn!(
                kind = json_kind(&other),
                "Pi printed a JSON value that is not an object; skipped"
            ),
            Err(e) => {
                warn!(error = %e, "Pi printed a line that is not JSON; skipped");
                break;
            }
        }
    }
    values
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A `response` line, as a reply.
pub fn as_reply(value: &Value) -> Option<PiReply> {
    if value.get("type").and_then(Value::as_str) != Some("response") {
        return None;
    }
    Some(PiReply {
        command: value
            .get("command")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        success: value
            .get("success")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        data: value.get("data").cloned().filter(|d| !d.is_null()),
        error: value
            .get("error")
            .and_then(Value::as_str)
            .map(str::to_owned),
    })
}

async fn log_stderr(stderr: tokio::process::ChildStderr, pid: Option<u32>) {
    let mut lines = FramedRead::new(stderr, LinesCodec::new_with_max_length(64 * 1024));
    while let Some(Ok(line)) = lines.next().await {
        // Pi's stderr may echo prompts or file contents: debug level only.
        debug!(?pid, "pi stderr: {line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn one_object_per_line_and_concatenated_objects() {
        assert_eq!(
            split_json_objects(r#"{"type":"agent_start"}"#),
            vec![json!({"type":"agent_start"})]
        );
        assert_eq!(
            split_json_objects(r#"{"a":1}{"b":2} {"c":3}"#),
            vec![json!({"a":1}), json!({"b":2}), json!({"c":3})]
        );
    }

    #[test]
    fn garbage_is_skipped_not_fatal() {
        assert!(split_json_objects("npm WARN something").is_empty());
        assert!(split_json_objects("   ").is_empty());
        assert!(split_json_objects("[1,2]").is_empty());
        // What parsed before the garbage is kept.
        assert_eq!(split_json_objects(r#"{"a":1} oops"#), vec![json!({"a":1})]);
    }

    #[test]
    fn line_separators_inside_strings_do_not_split() {
        // U+2028/2029 are legal inside JSON strings; only `\n` frames lines.
        let line = "{\"type\":\"message_update\",\"delta\":\"a\u{2028}b\u{2029}c\"}";
        let values = split_json_objects(line);
        assert_eq!(values.len(), 1);
        assert_eq!(values[0]["delta"], "a\u{2028}b\u{2029}c");
    }

    #[test]
    fn replies_are_recognised() {
        let reply = as_reply(
            &json!({"type":"response","command":"get_state","success":true,"id":"x","data":{"a":1}}),
        );
        assert_eq!(
            reply,
            Some(PiReply {
                command: "get_state".into(),
                success: true,
                data: Some(json!({"a":1})),
                error: None
            })
        );
        assert_eq!(as_reply(&json!({"type":"agent_start"})), None);
        let failed =
            as_reply(&json!({"type":"response","command":"parse","success":false,"error":"bad"}))
                .unwrap();
        assert!(!failed.success);
        assert_eq!(failed.error.as_deref(), Some("bad"));
    }
}
