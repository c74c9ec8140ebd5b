//! `oqtoctl chat` over the mux WebSocket: connect with the token, then feed every frame to
//! the `Chat` state machine and carry out what it says, until the turn ends, fails, or the
//! time is up.

use std::io::Write;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use futures::{SinkExt, StreamExt};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::http::header::AUTHORIZATION;
use tokio_tungstenite::tungstenite::{self, Message};

use crate::chat::{Chat, End, Step};
use crate::cli::ChatArgs;
use crate::client::{self, Client};

pub async fn chat(client: &Client, args: ChatArgs) -> Result<()> {
    let prompt = if args.prompt == "-" {
        let text =
            std::io::read_to_string(std::io::stdin()).context("reading the prompt from stdin")?;
        // `echo … |` ends the prompt with a line break that is not part of it.
        text.trim_end().to_owned()
    } else {
        args.prompt.clone()
    };
    if prompt.trim().is_empty() {
        bail!("the prompt is empty");
    }
    let url = ws_url(client.server())?;
    let mut request = url
        .as_str()
        .into_client_request()
        .with_context(|| format!("{url} is not a WebSocket URL"))?;
    let bearer = HeaderValue::from_str(&format!("Bearer {}", client.token()?))
        .context("the token cannot be sent in a header")?;
    request.headers_mut().insert(AUTHORIZATION, bearer);

    // A huge --timeout means "wait for ever", not an overflow.
    let now = Instant::now();
    let deadline = now
        .checked_add(Duration::from_secs(args.timeout))
        .unwrap_or(now + Duration::from_secs(100 * 365 * 86_400));
    let timed_out = |prompted: bool| {
        if prompted {
            anyhow!(
                "the turn did not end within {}s (--timeout); it goes on in session {}",
                args.timeout,
                args.session
            )
        } else {
            anyhow!(
                "session {} did not answer within {}s (--timeout)",
                args.session,
                args.timeout
            )
        }
    };
    let (socket, _) = tokio::time::timeout_at(deadline, tokio_tungstenite::connect_async(request))
        .await
        .map_err(|_| timed_out(false))?
        .map_err(|error| handshake_error(error, &url))?;
    let (mut sink, mut stream) = socket.split();

    let mut chat = Chat::new(&args.session, &args.harness, &prompt, args.thinking);
    sink.send(Message::text(chat.create_frame()))
        .await
        .context("sending session.create")?;
    // Made once, not per frame: a Ctrl-C between two frames must not be missed.
    let interrupted = tokio::signal::ctrl_c();
    let time_up = tokio::time::sleep_until(deadline);
    tokio::pin!(interrupted, time_up);
    let outcome = loop {
        let message = tokio::select! {
            message = stream.next() => message,
            () = &mut time_up => break Err(timed_out(chat.prompted())),
            _ = &mut interrupted => {
                if !chat.prompted() {
                    break Err(anyhow!("interrupted"));
                }
                // Best effort: the user wants the agent to stop, not just this client.
                let _ = sink.send(Message::text(chat.abort_frame())).await;
                break Err(anyhow!("interrupted; the turn was aborted"));
            }
        };
        let text = match message {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(close))) => {
                let reason = close
                    .map(|c| format!(": {} ({})", c.reason, u16::from(c.code)))
                    .unwrap_or_default();
                break Err(anyhow!(
                    "the gateway closed the connection before the turn ended{reason}"
                ));
            }
            // Pings are answered by tungstenite itself.
            Some(Ok(_)) => continue,
            Some(Err(error)) => break Err(error).context("the WebSocket to the gateway failed"),
            None => {
                break Err(anyhow!(
                    "the gateway closed the connection before the turn ended"
                ));
            }
        };
        let step = chat.on_frame(text.as_str());
        write(&step)?;
        if let Some(frame) = step.send {
            sink.send(Message::text(frame))
                .await
                .context("sending the prompt")?;
        }
        match step.end {
            Some(End::Done) => break Ok(()),
            Some(End::Failed(message)) => break Err(anyhow!(message)),
            None => {}
        }
    };
    if outcome.is_err() {
        // The original error matters more than a failed line break.
        let _ = write(&chat.interrupt());
    }
    // A polite goodbye; the answer is complete either way.
    let _ = tokio::time::timeout(Duration::from_secs(1), sink.close()).await;
    outcome
}

/// The mux endpoint of a gateway: `http` becomes `ws`, `https` becomes `wss`.
pub fn ws_url(server: &str) -> Result<reqwest::Url> {
    let mut url = client::url(server, &["api", "ws", "mux"])?;
    let scheme = match url.scheme() {
        "http" => "ws",
        "https" => "wss",
        other => bail!("{server:?}: cannot open a WebSocket for scheme {other:?}"),
    };
    url.set_scheme(scheme)
        .map_err(|()| anyhow!("{server:?}: cannot use scheme {scheme}"))?;
    Ok(url)
}

/// A refused upgrade carries the gateway's JSON error (401, 403): show it like REST errors.
fn handshake_error(error: tungstenite::Error, url: &reqwest::Url) -> anyhow::Error {
    match error {
        tungstenite::Error::Http(response) => {
            let body = response.body().as_deref().unwrap_or_default();
            client::api_error(response.status().as_u16(), body).into()
        }
        // tungstenite's message already includes its source: no chain, or it reads twice.
        other => anyhow!("cannot open the WebSocket {url}: {other}"),
    }
}

/// stderr first, then stdout (see `Step`), each flushed so the answer streams.
fn write(step: &Step) -> Result<()> {
    if !step.stderr.is_empty() {
        let mut err = std::io::stderr().lock();
        // A closed stderr must not stop the answer.
        let _ = err
            .write_all(step.stderr.as_bytes())
            .and_then(|()| err.flush());
    }
    if !step.stdout.is_empty() {
        let mut out = std::io::stdout().lock();
        out.write_all(step.stdout.as_bytes())
            .and_then(|()| out.flush())
            .context("writing to stdout")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mux_url_follows_the_server_url() {
        assert_eq!(
            ws_url("http://localhost:8080").unwrap().as_str(),
            "ws://localhost:8080/api/ws/mux"
        );
        assert_eq!(
            ws_url("https://oqto.example/prefix/").unwrap().as_str(),
            "wss://oqto.example/prefix/api/ws/mux"
        );
    }
}
