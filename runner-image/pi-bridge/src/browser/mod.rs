//! The runner's browser (the `browser` sidecar's Chromium) as the `browser` channel shows it:
//! one hub per bridge holds the DevTools connection to the first page, the connections that
//! watch its screencast, and who controls it (the agent, or one user connection).
//!
//! The hub connects lazily, on the first request, and again after the page went away (the
//! agent closed its tab, the sidecar restarted). Without `OQTO_BROWSER_CDP` there is no
//! browser and every request is answered with the reason.

pub mod cdp;
pub mod control;
pub mod screencast;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use oqto_proto::mux::{BrowserController, BrowserEvent, BrowserRequest};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use self::cdp::{Cdp, CdpEvent};
use self::screencast::ByteBudget;
use crate::mux::outbound::Outbound;

/// What every browser request of a runner without a browser is answered.
pub const NO_BROWSER: &str = "this runner has no browser (the workspace class does not enable one)";
/// What input from a connection that does not control the browser is answered.
pub const TAKE_CONTROL_FIRST: &str = "take control first";
/// How long after the page went away the hub looks for another, while someone watches.
const RECONNECT_AFTER: Duration = Duration::from_millis(500);
/// How often it tries before waiting for the next request.
const RECONNECT_ATTEMPTS: u32 = 10;

/// The browser of this runner, shared by all connections.
pub struct BrowserHub {
    /// The DevTools HTTP endpoint; `None`: no browser.
    endpoint: Option<String>,
    ack_interval: Duration,
    http: reqwest::Client,
    inner: Mutex<Inner>,
    /// One connection attempt at a time.
    connecting: tokio::sync::Mutex<()>,
    /// Screencast start/stop calls, one at a time, so they reach the browser in order.
    casting: tokio::sync::Mutex<()>,
}

struct Watcher {
    out: Outbound,
    budget: ByteBudget,
}

#[derive(Default)]
struct Inner {
    watchers: HashMap<u64, Watcher>,
    /// The connection in control; `None`: the agent.
    controller: Option<u64>,
    page: Option<Page>,
    url: String,
    title: String,
    /// Frames received from the browser.
    seq: u64,
}

#[derive(Clone)]
struct Page {
    cdp: Arc<Cdp>,
    /// Whether the screencast runs on this page.
    casting: bool,
}

impl BrowserHub {
    /// `endpoint`: `OQTO_BROWSER_CDP`; `fps`: the most screencast frames per second.
    pub fn new(endpoint: Option<String>, fps: u32) -> Arc<Self> {
        Arc::new(Self {
            endpoint,
            ack_interval: screencast::ack_interval(fps),
            http: reqwest::Client::new(),
            inner: Mutex::default(),
            connecting: tokio::sync::Mutex::new(()),
            casting: tokio::sync::Mutex::new(()),
        })
    }

    /// Who controls the browser now (the agent's tools refuse while a user does).
    pub fn controller(&self) -> BrowserController {
        match self.lock().controller {
            Some(_) => BrowserController::User,
            None => BrowserController::Agent,
        }
    }

    /// Handles one request of `connection`; answers (state, errors) go to `out`.
    pub async fn handle(
        self: &Arc<Self>,
        connection: u64,
        out: &Outbound,
        request: BrowserRequest,
    ) {
        let id = request.id().map(str::to_owned);
        if self.endpoint.is_none() {
            out.browser(error(id, NO_BROWSER));
            return;
        }
        if let Err(e) = self.serve(connection, out, request).await {
            out.browser(error(id, e));
        }
    }

    async fn serve(
        self: &Arc<Self>,
        connection: u64,
        out: &Outbound,
        request: BrowserRequest,
    ) -> Result<(), String> {
        match request {
            BrowserRequest::Watch { .. } => {
                self.page().await?;
                {
                    let mut inner = self.lock();
                    inner.watchers.insert(
                        connection,
                        Watcher {
                            out: out.clone(),
                            budget: ByteBudget::new(Instant::now()),
                        },
                    );
                    // Under the lock: `state` goes out before the first frame can.
                    out.browser(inner.state_for(connection));
                }
                self.sync_screencast().await
            }
            BrowserRequest::Unwatch { .. } => {
                self.leave(connection);
                Ok(())
            }
            BrowserRequest::TakeControl { .. } => {
                self.page().await?;
                let mut inner = self.lock();
                if let Some(previous) = inner.controller.replace(connection)
                    && previous != connection
                {
                    info!(
                        previous,
                        connection, "a user connection took browser control over"
                    );
                }
                inner.broadcast_state(Some(out), connection);
                Ok(())
            }
            BrowserRequest::ReleaseControl { .. } => {
                let mut inner = self.lock();
                if inner.controller == Some(connection) {
                    inner.controller = None;
                }
                inner.broadcast_state(Some(out), connection);
                Ok(())
            }
            input => {
                if self.lock().controller != Some(connection) {
                    return Err(TAKE_CONTROL_FIRST.into());
                }
                let Some((method, params)) = control::input_call(&input) else {
                    return Ok(());
                };
                let cdp = self.page().await?;
                let result = cdp.call(method, params).await?;
                // Page.navigate answers, rather than fails, when the page cannot be loaded.
                match result.get("errorText").and_then(Value::as_str) {
                    Some(failed) => Err(format!("the page could not be opened: {failed}")),
                    None => Ok(()),
                }
            }
        }
    }

    /// A connection closed: it watches no more and gives control back.
    pub fn forget_connection(self: &Arc<Self>, connection: u64) {
        if self.endpoint.is_some() {
            self.leave(connection);
        }
    }

    /// `connection` stops watching; it controls no more; the screencast stops with the last.
    fn leave(self: &Arc<Self>, connection: u64) {
        let stop = {
            let mut inner = self.lock();
            let watched = inner.watchers.remove(&connection).is_some();
            if inner.controller == Some(connection) {
                inner.controller = None;
                inner.broadcast_state(None, connection);
            }
            watched && inner.watchers.is_empty()
        };
        if stop {
            let hub = self.clone();
            tokio::spawn(async move {
                if let Err(e) = hub.sync_screencast().await {
                    debug!(error = %e, "stopping the screencast failed");
                }
            });
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The page's DevTools connection, connecting first when there is none (or it closed).
    async fn page(self: &Arc<Self>) -> Result<Arc<Cdp>, String> {
        if let Some(cdp) = self.current() {
            return Ok(cdp);
        }
        let _one = self.connecting.lock().await;
        if let Some(cdp) = self.current() {
            return Ok(cdp);
        }
        let endpoint = self.endpoint.as_deref().ok_or(NO_BROWSER)?;
        let ws_url = cdp::first_page(&self.http, endpoint).await?;
        let (cdp, events) = Cdp::connect(&ws_url).await?;
        cdp.call("Page.enable", json!({})).await?;
        let (url, title) = location(&cdp).await;
        {
            let mut inner = self.lock();
            inner.page = Some(Page {
                cdp: cdp.clone(),
                casting: false,
            });
            inner.url = url;
            inner.title = title;
        }
        debug!("connected to the browser's page");
        tokio::spawn(self.clone().follow(cdp.clone(), events));
        Ok(cdp)
    }

    fn current(&self) -> Option<Arc<Cdp>> {
        let inner = self.lock();
        let page = inner.page.as_ref()?;
        (!page.cdp.is_closed()).then(|| page.cdp.clone())
    }

    /// Starts or stops the screencast so that it runs exactly while someone watches.
    async fn sync_screencast(self: &Arc<Self>) -> Result<(), String> {
        let _one = self.casting.lock().await;
        let (cdp, want, casting) = {
            let inner = self.lock();
            let Some(page) = &inner.page else {
                return Ok(());
            };
            (page.cdp.clone(), !inner.watchers.is_empty(), page.casting)
        };
        if want == casting {
            return Ok(());
        }
        if want {
            cdp.call("Page.startScreencast", screencast::start_params())
                .await?;
        } else {
            cdp.call("Page.stopScreencast", json!({})).await?;
        }
        if let Some(page) = self
            .lock()
            .page
            .as_mut()
            .filter(|p| Arc::ptr_eq(&p.cdp, &cdp))
        {
            page.casting = want;
        }
        Ok(())
    }

    /// The page's events until it goes away: frames to the watchers, navigations as `state`.
    async fn follow(self: Arc<Self>, cdp: Arc<Cdp>, mut events: mpsc::Receiver<CdpEvent>) {
        let mut last_ack: Option<Instant> = None;
        while let Some(CdpEvent { method, params }) = events.recv().await {
            match method.as_str() {
                "Page.screencastFrame" => {
                    self.forward_frame(&params);
                    let at = screencast::next_ack(last_ack, Instant::now(), self.ack_interval);
                    last_ack = Some(at);
                    let session = params["sessionId"].clone();
                    let cdp = cdp.clone();
                    // Holding the ack back is what bounds the frame rate (one frame in flight).
                    tokio::spawn(async move {
                        tokio::time::sleep_until(at).await;
                        cdp.notify("Page.screencastFrameAck", json!({ "sessionId": session }));
                    });
                }
                "Page.frameNavigated" if params["frame"]["parentId"].is_null() => {
                    if let Some(url) = params["frame"]["url"].as_str() {
                        self.lock().url = url.to_owned();
                    }
                    tokio::spawn(self.clone().refresh_state(cdp.clone()));
                }
                // A fragment or `history.pushState` (a single-page app's route) moves the
                // address without a navigation; the main frame's address is read afresh.
                "Page.loadEventFired" | "Page.navigatedWithinDocument" => {
                    tokio::spawn(self.clone().refresh_state(cdp.clone()));
                }
                "Inspector.detached" => break,
                _ => {}
            }
        }
        cdp.close();
        let watched = {
            let mut inner = self.lock();
            if inner
                .page
                .as_ref()
                .is_some_and(|p| Arc::ptr_eq(&p.cdp, &cdp))
            {
                inner.page = None;
            }
            !inner.watchers.is_empty()
        };
        info!("the browser's page went away");
        if watched {
            self.reconnect().await;
        }
    }

    /// While someone watches, finds the browser's (new) first page and resumes the screencast.
    /// Boxed: connecting spawns the task that ends here, and the compiler needs the cycle cut.
    fn reconnect(self: Arc<Self>) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(self.reconnect_now())
    }

    async fn reconnect_now(self: Arc<Self>) {
        for _ in 0..RECONNECT_ATTEMPTS {
            tokio::time::sleep(RECONNECT_AFTER).await;
            if self.lock().watchers.is_empty() {
                return;
            }
            match self.page().await {
                Ok(_) => {
                    self.lock().broadcast_state(None, 0);
                    if let Err(e) = self.sync_screencast().await {
                        warn!(error = %e, "resuming the screencast failed");
                    }
                    return;
                }
                Err(e) => debug!(error = %e, "the browser has no page yet"),
            }
        }
    }

    /// The page's title (and URL) after a navigation, to every watcher.
    async fn refresh_state(self: Arc<Self>, cdp: Arc<Cdp>) {
        let (url, title) = location(&cdp).await;
        let mut inner = self.lock();
        if !url.is_empty() {
            inner.url = url;
        }
        inner.title = title;
        inner.broadcast_state(None, 0);
    }

    fn forward_frame(&self, params: &Value) {
        let Some(data) = params["data"].as_str() else {
            return;
        };
        let dimension = |name: &str| {
            params["metadata"][name]
                .as_f64()
                .map_or(0, |v| v.round().clamp(0.0, f64::from(u32::MAX)) as u32)
        };
        let (width, height) = (dimension("deviceWidth"), dimension("deviceHeight"));
        let now = Instant::now();
        let mut inner = self.lock();
        inner.seq += 1;
        let seq = inner.seq;
        for watcher in inner.watchers.values_mut() {
            if !screencast::admit(&mut watcher.budget, &watcher.out, data.len(), now) {
                continue;
            }
            watcher.out.browser(BrowserEvent::Frame {
                seq,
                mime: "image/jpeg".into(),
                data_base64: data.to_owned(),
                width,
                height,
            });
        }
    }
}

impl Inner {
    fn state_for(&self, connection: u64) -> BrowserEvent {
        BrowserEvent::State {
            url: self.url.clone(),
            title: self.title.clone(),
            controller: match self.controller {
                Some(_) => BrowserController::User,
                None => BrowserController::Agent,
            },
            you_control: self.controller == Some(connection),
        }
    }

    /// `state` to every watcher, and to `requester` (of `connection`) when it does not watch.
    fn broadcast_state(&self, requester: Option<&Outbound>, connection: u64) {
        for (watcher, Watcher { out, .. }) in &self.watchers {
            out.browser(self.state_for(*watcher));
        }
        if let Some(out) = requester
            && !self.watchers.contains_key(&connection)
        {
            out.browser(self.state_for(connection));
        }
    }
}

fn error(id: Option<String>, error: impl Into<String>) -> BrowserEvent {
    BrowserEvent::Error {
        id,
        error: error.into(),
    }
}

/// The page's URL and title; empty when the page does not answer (it is loading).
async fn location(cdp: &Cdp) -> (String, String) {
    let params = json!({
        "expression": "({url: location.href, title: document.title})",
        "returnByValue": true,
    });
    match cdp.call("Runtime.evaluate", params).await {
        Ok(result) => {
            let value = &result["result"]["value"];
            let text = |name: &str| value[name].as_str().unwrap_or_default().to_owned();
            (text("url"), text("title"))
        }
        Err(e) => {
            debug!(error = %e, "the page's title could not be read");
            (String::new(), String::new())
        }
    }
}
