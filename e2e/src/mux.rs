//! A client of the mux WebSocket (§2), for tests and benchmarks of everything that serves it:
//! pi-bridge directly, the gateway in front of it, a proxy in between.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

/// How long a client waits for one frame: it bounds a hang, it does not measure speed. Pings
/// do not count as frames, so a silent server cannot keep a test waiting past it.
pub const WAIT: Duration = Duration::from_secs(60);

pub struct MuxClient {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl MuxClient {
    /// Connects (with a bearer token when given) and checks the server's greeting.
    pub async fn connect(url: &str, token: Option<&str>) -> anyhow::Result<Self> {
        let mut request = url.into_client_request()?;
        if let Some(token) = token {
            request
                .headers_mut()
                .insert("authorization", format!("Bearer {token}").parse()?);
        }
        let (ws, _) = tokio::time::timeout(WAIT, connect_async(request)).await??;
        let mut client = Self { ws };
        let hello = client.next().await?;
        anyhow::ensure!(
            hello == json!({"channel":"system","type":"connected"}),
            "unexpected greeting {hello}"
        );
        Ok(client)
    }

    pub async fn send(&mut self, frame: Value) -> anyhow::Result<()> {
        self.send_raw(frame.to_string()).await
    }

    pub async fn send_raw(&mut self, text: String) -> anyhow::Result<()> {
        Ok(self.ws.send(Message::Text(text.into())).await?)
    }

    /// The next frame that is not a ping, within [`WAIT`] (pings included).
    pub async fn next(&mut self) -> anyhow::Result<Value> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let message = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .map_err(|_| anyhow::anyhow!("no frame within {WAIT:?}"))?
                .ok_or_else(|| anyhow::anyhow!("the connection closed"))??;
            if let Message::Text(text) = message {
                let value: Value = serde_json::from_str(text.as_str())?;
                if value == json!({"channel":"system","type":"ping"}) {
                    continue;
                }
                return Ok(value);
            }
        }
    }

    /// The close code the server ends the connection with (frames before it are skipped).
    pub async fn close_code(&mut self) -> anyhow::Result<u16> {
        loop {
            let message = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .map_err(|_| anyhow::anyhow!("no close within {WAIT:?}"))?
                .ok_or_else(|| anyhow::anyhow!("the connection ended without a close frame"))??;
            if let Message::Close(frame) = message {
                return Ok(frame.map_or(1005, |f| u16::from(f.code)));
            }
        }
    }

    /// Frames up to and including the first that satisfies `done`.
    pub async fn until(&mut self, done: impl Fn(&Value) -> bool) -> anyhow::Result<Vec<Value>> {
        let mut frames = Vec::new();
        loop {
            let frame = self.next().await?;
            let stop = done(&frame);
            frames.push(frame);
            if stop {
                return Ok(frames);
            }
        }
    }

    /// Sends an agent command; the frames up to and including its `response`.
    pub async fn exchange(
        &mut self,
        session: &str,
        id: &str,
        cmd: &str,
        fields: Value,
    ) -> anyhow::Result<Vec<Value>> {
        let mut frame = json!({"channel":"agent","session_id":session,"id":id,"cmd":cmd});
        if let (Some(frame), Some(fields)) = (frame.as_object_mut(), fields.as_object()) {
            frame.extend(fields.clone());
        }
        self.send(frame).await?;
        self.until(|f| is_response(f, id)).await
    }

    /// Sends an agent command and returns its `response` (events before it are dropped;
    /// the runner answers before it streams).
    pub async fn command(
        &mut self,
        session: &str,
        id: &str,
        cmd: &str,
        fields: Value,
    ) -> anyhow::Result<Value> {
        let frames = self.exchange(session, id, cmd, fields).await?;
        frames
            .last()
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("no response"))
    }

    /// `session.create` for Pi; fails unless it succeeds.
    pub async fn create_session(&mut self, session: &str) -> anyhow::Result<Vec<Value>> {
        let frames = self
            .exchange(
                session,
                "create",
                "session.create",
                json!({"config":{"harness":"pi"}}),
            )
            .await?;
        let response = frames.last().cloned().unwrap_or_default();
        anyhow::ensure!(
            response["success"] == true,
            "session.create failed: {response}"
        );
        Ok(frames)
    }

    /// Opens a terminal in the session, types `input`, and returns what the terminal printed
    /// once `done` holds for it.
    pub async fn terminal(
        &mut self,
        session: &str,
        input: &str,
        done: impl Fn(&str) -> bool,
    ) -> anyhow::Result<String> {
        self.send(
            json!({"channel":"terminal","session_id":session,"id":"terminal-open",
            "type":"open","cols":80,"rows":24}),
        )
        .await?;
        let opened = self
            .until(|f| f["channel"] == "terminal" && f["type"] == "opened")
            .await?;
        let terminal = opened
            .last()
            .map(|f| f["terminal_id"].clone())
            .unwrap_or_default();
        self.send(
            json!({"channel":"terminal","session_id":session,"type":"input",
            "terminal_id":terminal,"data":input}),
        )
        .await?;
        let mut output = String::new();
        while !done(&output) {
            let frame = self.next().await?;
            if frame["channel"] == "terminal" && frame["type"] == "output" {
                let bytes = B64.decode(frame["data_base64"].as_str().unwrap_or_default())?;
                output.push_str(&String::from_utf8_lossy(&bytes));
            }
        }
        Ok(output)
    }

    /// Sends a prompt and returns the text the agent streamed until it went idle.
    pub async fn prompt(
        &mut self,
        session: &str,
        id: &str,
        message: &str,
    ) -> anyhow::Result<String> {
        self.send(
            json!({"channel":"agent","session_id":session,"id":id,"cmd":"prompt",
            "message":message}),
        )
        .await?;
        let frames = self.until(|f| is_event(f, "agent.idle")).await?;
        Ok(frames
            .iter()
            .filter(|f| is_event(f, "stream.text_delta"))
            .filter_map(|f| f["delta"].as_str())
            .collect())
    }

    /// The stored conversation's texts (users' and the agent's), in order, from hstry.
    pub async fn history_texts(&mut self, session: &str) -> anyhow::Result<Vec<String>> {
        let response = self
            .command(session, "history", "get_messages", json!({}))
            .await?;
        let messages = response["data"]["messages"]
            .as_array()
            .ok_or_else(|| anyhow::anyhow!("no messages: {response}"))?;
        Ok(messages
            .iter()
            .filter(|m| matches!(m["role"].as_str(), Some("user" | "assistant")))
            .map(|m| {
                m["parts"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|p| p["type"] == "text")
                    .filter_map(|p| p["text"].as_str())
                    .collect::<String>()
            })
            .filter(|t| !t.is_empty())
            .collect())
    }
}

pub fn is_response(frame: &Value, id: &str) -> bool {
    frame["channel"] == "agent" && frame["event"] == "response" && frame["id"] == id
}

pub fn is_event(frame: &Value, name: &str) -> bool {
    frame["channel"] == "agent" && frame["event"] == name
}

/// The `event` names of agent frames, in order.
pub fn event_names(frames: &[Value]) -> Vec<String> {
    frames
        .iter()
        .filter(|f| f["channel"] == "agent")
        .filter_map(|f| f["event"].as_str().map(str::to_owned))
        .collect()
}
