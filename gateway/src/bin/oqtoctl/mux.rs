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
    let (url, request) = mux_request(client)?;

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
    let mut chat = Chat::new(&args.session, &args.harness, &prompt, args.thinking);
    let (socket, _) =
        tokio::time::timeout_at(deadline, tokio_tungstenite::connect_async(request.clone()))
            .await
            .map_err(|_| timed_out(false))?
            .map_err(|error| handshake_error(error, &url))?;
    let (mut sink, mut stream) = socket.split();
    sink.send(Message::text(chat.create_frame()))
        .await
        .context("sending session.create")?;
    // Made once, not per frame: a Ctrl-C between two frames must not be missed.
    let interrupted = tokio::signal::ctrl_c();
    let time_up = tokio::time::sleep_until(deadline);
    tokio::pin!(interrupted, time_up);
    let mut reconnects = 0u32;
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
            // Pings are answered by tungstenite itself.
            Some(Ok(message)) if !matches!(message, Message::Close(_)) => continue,
            lost => {
                // A gateway that went away (killed, restarted, rolled): another replica takes
                // the next connection. A deliberate close (a refusal) ends the chat.
                if let Some(reason) = deliberate_close(&lost) {
                    break Err(anyhow!(
                        "the gateway closed the connection before the turn ended{reason}"
                    ));
                }
                reconnects += 1;
                if reconnects > MAX_RECONNECTS {
                    break Err(anyhow!(
                        "the connection to the gateway was lost {MAX_RECONNECTS} times; giving up"
                    ));
                }
                let socket = tokio::select! {
                    socket = reconnect(&request, &url, reconnects) => socket,
                    () = &mut time_up => break Err(timed_out(chat.prompted())),
                    _ = &mut interrupted => break Err(anyhow!("interrupted")),
                };
                let socket = match socket {
                    Ok(socket) => socket,
                    Err(error) => break Err(error),
                };
                (sink, stream) = socket.split();
                let step = chat.reconnected();
                write(&step)?;
                if let Some(frame) = step.send {
                    sink.send(Message::text(frame))
                        .await
                        .context("sending on the new connection")?;
                }
                continue;
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

/// How often one chat reconnects before it gives up (a gateway that keeps dropping it).
const MAX_RECONNECTS: u32 = 10;

/// A close the gateway meant (a refusal, a policy), with its reason for the error; None for a
/// connection that was lost or a gateway going away (shutdown, restart), worth a reconnect.
fn deliberate_close(lost: &Option<Result<Message, tungstenite::Error>>) -> Option<String> {
    use tungstenite::protocol::frame::coding::CloseCode;
    match lost {
        Some(Ok(Message::Close(Some(close)))) => match close.code {
            CloseCode::Away | CloseCode::Abnormal | CloseCode::Restart | CloseCode::Again => None,
            code => Some(format!(": {} ({})", close.reason, u16::from(code))),
        },
        _ => None,
    }
}

/// Opens a new connection after a loss, waiting a little longer each time (the Service or
/// ingress needs a moment to stop sending to a gateway that died). Refusals end the chat.
async fn reconnect(
    request: &tungstenite::handshake::client::Request,
    url: &reqwest::Url,
    attempt: u32,
) -> Result<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
> {
    let mut delay = Duration::from_millis(200 * u64::from(attempt.min(5)));
    loop {
        tokio::time::sleep(delay).await;
        match tokio_tungstenite::connect_async(request.clone()).await {
            Ok((socket, _)) => return Ok(socket),
            Err(tungstenite::Error::Http(response)) if response.status().is_client_error() => {
                return Err(handshake_error(tungstenite::Error::Http(response), url));
            }
            Err(_) => delay = (delay * 2).min(Duration::from_secs(2)),
        }
    }
}

/// The mux endpoint and the upgrade request that carries the token.
pub fn mux_request(
    client: &Client,
) -> Result<(
    reqwest::Url,
    tokio_tungstenite::tungstenite::handshake::client::Request,
)> {
    let url = ws_url(client.server())?;
    let mut request = url
        .as_str()
        .into_client_request()
        .with_context(|| format!("{url} is not a WebSocket URL"))?;
    let bearer = HeaderValue::from_str(&format!("Bearer {}", client.token()?))
        .context("the token cannot be sent in a header")?;
    request.headers_mut().insert(AUTHORIZATION, bearer);
    Ok((url, request))
}

/// Opens the mux WebSocket with the client's token.
pub async fn connect(
    client: &Client,
) -> Result<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
> {
    let (url, request) = mux_request(client)?;
    let (socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .map_err(|error| handshake_error(error, &url))?;
    Ok(socket)
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
