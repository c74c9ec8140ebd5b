//! The `terminal` channel: shells on pseudo-terminals in the workspace. Each terminal belongs to
//! one WebSocket connection and is closed with it.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use portable_pty::{Child, CommandBuilder, MasterPty, PtySize, native_pty_system};
use tokio::sync::mpsc;
use tracing::debug;

/// At most this many terminals per connection.
pub const MAX_TERMINALS: usize = 8;
const MAX_COLS: u16 = 1000;
const MAX_ROWS: u16 = 500;

/// Output of a terminal, for the connection that owns it.
#[derive(Debug, Clone, PartialEq)]
pub enum TerminalEvent {
    Output { terminal_id: String, data: Vec<u8> },
    Exit { terminal_id: String },
}

#[derive(Debug, thiserror::Error)]
pub enum TerminalError {
    #[error("terminal_id: no open terminal {0:?}")]
    Unknown(String),
    #[error("terminal_id: {0:?} is already open")]
    Duplicate(String),
    #[error("too many terminals on this connection (at most {MAX_TERMINALS})")]
    TooMany,
    #[error("{field}: must be between 1 and {max}")]
    BadSize { field: &'static str, max: u16 },
    #[error("starting the shell failed: {0}")]
    Spawn(String),
    #[error("writing to the terminal failed: {0}")]
    Io(#[from] std::io::Error),
}

struct Terminal {
    master: Box<dyn MasterPty + Send>,
    writer: Box<dyn Write + Send>,
    child: Box<dyn Child + Send + Sync>,
}

/// The terminals of one connection.
pub struct Terminals {
    shell: PathBuf,
    cwd: PathBuf,
    events: mpsc::Sender<TerminalEvent>,
    open: Arc<Mutex<HashMap<String, Terminal>>>,
    next: u64,
}

fn checked_size(cols: u16, rows: u16) -> Result<PtySize, TerminalError> {
    if cols == 0 || cols > MAX_COLS {
        return Err(TerminalError::BadSize {
            field: "cols",
            max: MAX_COLS,
        });
    }
    if rows == 0 || rows > MAX_ROWS {
        return Err(TerminalError::BadSize {
            field: "rows",
            max: MAX_ROWS,
        });
    }
    Ok(PtySize {
        rows,
        cols,
        pixel_width: 0,
        pixel_height: 0,
    })
}

impl Terminals {
    pub fn new(shell: PathBuf, cwd: PathBuf, events: mpsc::Sender<TerminalEvent>) -> Self {
        Self {
            shell,
            cwd,
            events,
            open: Arc::default(),
            next: 1,
        }
    }

    /// Opens a shell; returns its id (the client's, or a new one). `opened` is called with the
    /// id before the shell's first output can be sent: a client hears "opened" before the
    /// prompt.
    pub fn open(
        &mut self,
        terminal_id: Option<String>,
        cols: u16,
        rows: u16,
        opened: impl FnOnce(&str),
    ) -> Result<String, TerminalError> {
        let size = checked_size(cols, rows)?;
        let id = terminal_id.unwrap_or_else(|| {
            self.next += 1;
            format!("term-{}", self.next - 1)
        });
        {
            let open = self
                .open
                .lock()
                .map_err(|_| TerminalError::Spawn("terminal table poisoned".into()))?;
            if open.contains_key(&id) {
                return Err(TerminalError::Duplicate(id));
            }
            if open.len() >= MAX_TERMINALS {
                return Err(TerminalError::TooMany);
            }
        }
        let pair = native_pty_system()
            .openpty(size)
            .map_err(|e| TerminalError::Spawn(e.to_string()))?;
        let mut cmd = CommandBuilder::new(&self.shell);
        cmd.cwd(&self.cwd);
        cmd.env("TERM", "xterm-256color");
        let child = pair
            .slave
            .spawn_command(cmd)
            .map_err(|e| TerminalError::Spawn(e.to_string()))?;
        drop(pair.slave);
        let reader = pair
            .master
            .try_clone_reader()
            .map_err(|e| TerminalError::Spawn(e.to_string()))?;
        let writer = pair
            .master
            .take_writer()
            .map_err(|e| TerminalError::Spawn(e.to_string()))?;
        opened(&id);
        spawn_reader(id.clone(), reader, self.events.clone(), self.open.clone());
        let terminal = Terminal {
            master: pair.master,
            writer,
            child,
        };
        if let Ok(mut open) = self.open.lock() {
            open.insert(id.clone(), terminal);
        }
        debug!(terminal_id = %id, "terminal opened");
        Ok(id)
    }

    pub fn input(&self, terminal_id: &str, data: &[u8]) -> Result<(), TerminalError> {
        self.with(terminal_id, |t| {
            t.writer.write_all(data)?;
            t.writer.flush()?;
            Ok(())
        })
    }

    pub fn resize(&self, terminal_id: &str, cols: u16, rows: u16) -> Result<(), TerminalError> {
        let size = checked_size(cols, rows)?;
        self.with(terminal_id, |t| {
            t.master
                .resize(size)
                .map_err(|e| TerminalError::Spawn(e.to_string()))
        })
    }

    pub fn close(&self, terminal_id: &str) -> Result<(), TerminalError> {
        let terminal = self
            .open
            .lock()
            .ok()
            .and_then(|mut open| open.remove(terminal_id))
            .ok_or_else(|| TerminalError::Unknown(terminal_id.to_owned()))?;
        kill(terminal);
        Ok(())
    }

    fn with<T>(
        &self,
        terminal_id: &str,
        f: impl FnOnce(&mut Terminal) -> Result<T, TerminalError>,
    ) -> Result<T, TerminalError> {
        let mut open = self
            .open
            .lock()
            .map_err(|_| TerminalError::Unknown(terminal_id.to_owned()))?;
        let terminal = open
            .get_mut(terminal_id)
            .ok_or_else(|| TerminalError::Unknown(terminal_id.to_owned()))?;
        f(terminal)
    }
}

fn kill(mut terminal: Terminal) {
    let _ = terminal.child.kill();
    let _ = terminal.child.wait();
}

impl Drop for Terminals {
    fn drop(&mut self) {
        if let Ok(mut open) = self.open.lock() {
            for (_, terminal) in open.drain() {
                kill(terminal);
            }
        }
    }
}

/// PTY reads block: one thread per terminal forwards output until the shell exits.
fn spawn_reader(
    terminal_id: String,
    mut reader: Box<dyn Read + Send>,
    events: mpsc::Sender<TerminalEvent>,
    open: Arc<Mutex<HashMap<String, Terminal>>>,
) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match reader.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let event = TerminalEvent::Output {
                        terminal_id: terminal_id.clone(),
                        data: buf[..n].to_vec(),
                    };
                    if events.blocking_send(event).is_err() {
                        break;
                    }
                }
            }
        }
        if let Ok(mut open) = open.lock() {
            open.remove(&terminal_id);
        }
        let _ = events.blocking_send(TerminalEvent::Exit { terminal_id });
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    async fn output_until(rx: &mut mpsc::Receiver<TerminalEvent>, needle: &str) -> String {
        let mut seen = String::new();
        while !seen.contains(needle) {
            match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
                Ok(Some(TerminalEvent::Output { data, .. })) => {
                    seen.push_str(&String::from_utf8_lossy(&data))
                }
                other => panic!("terminal ended before {needle:?} ({other:?}); saw {seen:?}"),
            }
        }
        seen
    }

    #[tokio::test]
    async fn echo_round_trip_resize_and_exit() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, mut rx) = mpsc::channel(64);
        let mut terminals = Terminals::new("/bin/bash".into(), dir.path().into(), tx);
        let id = terminals.open(None, 80, 24, |_| {}).unwrap();
        terminals.input(&id, b"echo hel''lo; pwd\n").unwrap();
        let seen = output_until(&mut rx, "hello").await;
        assert!(seen.contains("hello"), "{seen}");
        terminals.resize(&id, 120, 40).unwrap();
        terminals.input(&id, b"stty size\n").unwrap();
        output_until(&mut rx, "40 120").await;
        terminals.input(&id, b"exit\n").unwrap();
        loop {
            match tokio::time::timeout(Duration::from_secs(10), rx.recv())
                .await
                .unwrap()
            {
                Some(TerminalEvent::Exit { terminal_id }) => {
                    assert_eq!(terminal_id, id);
                    break;
                }
                Some(_) => {}
                None => panic!("channel closed"),
            }
        }
        assert!(matches!(
            terminals.input(&id, b"x"),
            Err(TerminalError::Unknown(_))
        ));
    }

    #[test]
    fn sizes_and_ids_are_validated() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, _rx) = mpsc::channel(64);
        let mut terminals = Terminals::new("/bin/bash".into(), dir.path().into(), tx);
        assert!(matches!(
            terminals.open(None, 0, 24, |_| {}),
            Err(TerminalError::BadSize { field: "cols", .. })
        ));
        assert!(matches!(
            terminals.open(None, 80, 9999, |_| {}),
            Err(TerminalError::BadSize { field: "rows", .. })
        ));
        let id = terminals.open(Some("t1".into()), 80, 24, |_| {}).unwrap();
        assert!(matches!(
            terminals.open(Some(id.clone()), 80, 24, |_| {}),
            Err(TerminalError::Duplicate(_))
        ));
        terminals.close(&id).unwrap();
        assert!(matches!(
            terminals.close(&id),
            Err(TerminalError::Unknown(_))
        ));
    }
}
