//! The runner's browser (the `browser` sidecar's Chromium) as the `browser` channel shows it:
//! one hub per bridge holds the DevTools connection to the first page, the connections that
//! watch its screencast, and who controls it (the agent, or one user connection).
//!
//! The hub connects lazily, on the first request, and again after the page went away (the
//! agent closed its tab, the sidecar restarted). Without `OQTO_BROWSER_CDP` there is no
//! browser and every request is answered with the reason.

pub mod cdp;
pub mod control;
pub mod held;
pub mod screencast;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use oqto_proto::mux::{BrowserController, BrowserEvent, BrowserRequest};
use serde_json::{Value, json};
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use self::cdp::{Cdp, CdpEvent};
use self::held::Held;
use self::screencast::ByteBudget;
use crate::mux::outbound::Outbound;

/// What every browser request of a runner without a browser is answered.
pub const NO_BROWSER: &str = "this runner has no browser (the workspace class does not enable one)";
/// What input from a connection that does not control the browser is answered.
pub const TAKE_CONTROL_FIRST: &str = "take control first";
/// What the watchers are told, once, when the page's DevTools connection is lost.
pub const RECONNECTING: &str = "the browser restarted or is unreachable; reconnecting…";
/// What the watchers are told when the page's renderer crashed.
pub const CRASHED: &str = "the page crashed; reloading it";
/// The first wait before looking for the browser's page again, doubled up to `RECONNECT_MAX`.
const RECONNECT_AFTER: Duration = Duration::from_millis(500);
const RECONNECT_MAX: Duration = Duration::from_secs(10);
/// Longest `url` and `title` kept and sent (in chars): the page chooses both.
pub const MAX_TEXT: usize = 2048;
/// Least time between two `state`s from navigations: a page that navigates in a loop gets a
/// few per second, whatever its rate.
const REFRESH_SPACING: Duration = Duration::from_millis(100);
/// How long one input call may hold up the next: a busy page (a renderer spinning) answers
/// late or never, and the user's input queue must not wait 5 s per event.
pub const INPUT_TIMEOUT: Duration = Duration::from_secs(1);

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
    /// Input calls and the releases of what a user left pressed, one at a time: a release
    /// goes out after the press it releases.
    dispatching: tokio::sync::Mutex<()>,
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
    /// What the connection in control holds pressed.
    held: Held,
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
            dispatching: tokio::sync::Mutex::new(()),
        })
    }

    /// Who controls the browser now (the agent's tools refuse while a user does).
    pub fn controller(&self) -> BrowserController {
        match self.lock().controller {
            Some(_) => BrowserController::User,
            None => BrowserController::Agent,
        }
    }

    /// Whether this runner has a browser at all (`OQTO_BROWSER_CDP`).
    pub fn enabled(&self) -> bool {
        self.endpoint.is_some()
    }

    /// `watch`: `connection` receives `state` now and the screencast's frames from now on.
    /// `watch`, unless `wanted` went false meanwhile (an `unwatch` that arrived while the page
    /// was being connected to: applied at once, it found nothing to undo).
    pub async fn watch(
        self: &Arc<Self>,
        connection: u64,
        out: &Outbound,
        id: Option<String>,
        wanted: &AtomicBool,
    ) {
        if let Err(e) = self.try_watch(connection, out, wanted).await {
            out.browser(error(id, e));
        }
    }

    async fn try_watch(
        self: &Arc<Self>,
        connection: u64,
        out: &Outbound,
        wanted: &AtomicBool,
    ) -> Result<(), String> {
        self.page().await?;
        {
            let mut inner = self.lock();
            // A connection that closed meanwhile is not watched (it would keep the
            // screencast running for nobody), nor one that unwatched meanwhile.
            if out.is_closed() || !wanted.load(Ordering::SeqCst) {
                return Ok(());
            }
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
        // The page may have gone between connecting and the watcher's arrival, when its end
        // saw nobody to reconnect for: connected again now that someone watches.
        self.page().await?;
        self.sync_screencast().await
    }

    /// `unwatch`: no more frames; control goes back to the agent if `connection` had it.
    pub fn unwatch(self: &Arc<Self>, connection: u64) {
        self.leave(connection);
    }

    /// `take_control`, at once (never behind input): `connection` controls the browser.
    /// `ensure_page` then connects to the page if need be.
    pub fn take_control(self: &Arc<Self>, connection: u64, out: &Outbound) {
        let mut inner = self.lock();
        // A closed connection never gets control: nobody could give it back.
        if out.is_closed() {
            return;
        }
        if let Some(previous) = inner.controller
            && previous != connection
        {
            info!(
                previous,
                connection, "a user connection took browser control over"
            );
            self.release_held(inner.end_control());
        }
        inner.controller = Some(connection);
        inner.broadcast_state(Some(out), connection);
    }

    /// After `take_control`: connects to the page if there is no connection yet, and tells
    /// `connection` the page's state (or why the browser cannot be reached).
    pub async fn ensure_page(
        self: &Arc<Self>,
        connection: u64,
        out: &Outbound,
        id: Option<String>,
    ) {
        match self.page().await {
            Ok(_) => {
                // The watchers had their `state` from `take_control`; a requester that does
                // not watch learns the page's address and title now that they are known.
                let inner = self.lock();
                if inner.controller == Some(connection) && !inner.watchers.contains_key(&connection)
                {
                    out.browser(inner.state_for(connection));
                }
            }
            Err(e) => {
                out.browser(error(id, e));
                // Control of a browser that cannot be reached is no control: the agent's
                // again, and everyone told, rather than a user "in control" of nothing.
                if self.current().is_none() {
                    let mut inner = self.lock();
                    if inner.controller == Some(connection) {
                        self.release_held(inner.end_control());
                        inner.broadcast_state(Some(out), connection);
                    }
                }
            }
        }
    }

    /// `release_control`, at once: control back to the agent.
    pub fn release_control(self: &Arc<Self>, connection: u64, out: &Outbound) {
        let mut inner = self.lock();
        if inner.controller == Some(connection) {
            self.release_held(inner.end_control());
        }
        inner.broadcast_state(Some(out), connection);
    }

    /// One input operation (mouse, key, text, navigate) of `connection`.
    pub async fn input(self: &Arc<Self>, connection: u64, out: &Outbound, request: BrowserRequest) {
        let id = request.id().map(str::to_owned);
        if let Err(e) = self.try_input(connection, request).await {
            out.browser(error(id, e));
        }
    }

    async fn try_input(
        self: &Arc<Self>,
        connection: u64,
        request: BrowserRequest,
    ) -> Result<(), String> {
        // Refused at once, not behind the input of the connection in control.
        if self.lock().controller != Some(connection) {
            return Err(TAKE_CONTROL_FIRST.into());
        }
        let in_order = self.dispatching.lock().await;
        {
            let mut inner = self.lock();
            if inner.controller != Some(connection) {
                return Err(TAKE_CONTROL_FIRST.into());
            }
            inner.held.note(&request);
        }
        let Some((method, params)) = control::input_call(&request) else {
            return Ok(());
        };
        let cdp = self.page().await?;
        if method != "Page.navigate" {
            // Input is not waited for beyond `INPUT_TIMEOUT`: a busy page gets it late.
            if cdp
                .call_within(method, params, INPUT_TIMEOUT)
                .await?
                .is_none()
            {
                debug!(method, "the page did not take the input in time");
            }
            return Ok(());
        }
        // Only keys and buttons need ordering against the releases: a navigation (up to
        // seconds) holds nobody's input up.
        drop(in_order);
        let result = cdp.call(method, params).await?;
        // Page.navigate answers, rather than fails, when the page cannot be loaded.
        match result.get("errorText").and_then(Value::as_str) {
            Some(failed) => Err(format!("the page could not be opened: {failed}")),
            None => Ok(()),
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
                self.release_held(inner.end_control());
                inner.broadcast_state(None, connection);
            }
            watched && inner.watchers.is_empty()
        };
        if stop {
            self.stop_screencast_later();
        }
    }

    /// Releases, after the input already on its way, the keys and buttons a user left
    /// pressed when control ended. Nothing is pressed on a page that is gone.
    fn release_held(self: &Arc<Self>, releases: Vec<BrowserRequest>) {
        if releases.is_empty() {
            return;
        }
        let hub = self.clone();
        tokio::spawn(async move {
            let _in_order = hub.dispatching.lock().await;
            let Some(cdp) = hub.current() else { return };
            for release in releases {
                if let Some((method, params)) = control::input_call(&release)
                    && let Err(e) = cdp.call_within(method, params, INPUT_TIMEOUT).await
                {
                    debug!(error = %e, "releasing a key or button the user left pressed failed");
                }
            }
        });
    }

    fn stop_screencast_later(self: &Arc<Self>) {
        let hub = self.clone();
        tokio::spawn(async move {
            if let Err(e) = hub.sync_screencast().await {
                debug!(error = %e, "stopping the screencast failed");
            }
        });
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
        let target = cdp::first_page(&self.http, endpoint).await?;
        let (cdp, events) = Cdp::connect(&target.ws_url).await?;
        cdp.call("Page.enable", json!({})).await?;
        let (url, title) = location(&cdp, &target.id).await;
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
        tokio::spawn(self.clone().follow(cdp.clone(), target.id, events));
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
    async fn follow(
        self: Arc<Self>,
        cdp: Arc<Cdp>,
        target: String,
        mut events: mpsc::Receiver<CdpEvent>,
    ) {
        let mut last_ack: Option<Instant> = None;
        // One refresher per page: events only wake it, so a page that navigates in a loop
        // gets one refresh in flight and one pending, never a task per event.
        let wake = Arc::new(Notify::new());
        let refresher = tokio::spawn(self.clone().refresher(cdp.clone(), target, wake.clone()));
        while let Some(CdpEvent { method, params }) = events.recv().await {
            match method.as_str() {
                "Page.screencastFrame" => {
                    if self.forward_frame(&params) {
                        self.stop_screencast_later();
                    }
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
                    wake.notify_one();
                }
                // A fragment or `history.pushState` (a single-page app's route) moves the
                // address without a navigation; the main frame's address is read afresh.
                "Page.loadEventFired" | "Page.navigatedWithinDocument" => {
                    wake.notify_one();
                }
                "Inspector.targetCrashed" => {
                    warn!("the browser's page crashed; reloading it");
                    self.lock().broadcast_error(CRASHED);
                    tokio::spawn(self.clone().recover(cdp.clone()));
                }
                "Inspector.detached" => break,
                _ => {}
            }
        }
        refresher.abort();
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
            let watched = !inner.watchers.is_empty();
            if watched {
                inner.broadcast_error(RECONNECTING);
            }
            watched
        };
        info!("the browser's page went away");
        if watched {
            self.reconnect().await;
        }
    }

    /// After a renderer crash: reloads the page and restarts the screencast on it.
    async fn recover(self: Arc<Self>, cdp: Arc<Cdp>) {
        if let Err(e) = cdp.call("Page.reload", json!({})).await {
            warn!(error = %e, "reloading the crashed page failed");
        }
        if let Some(page) = self
            .lock()
            .page
            .as_mut()
            .filter(|p| Arc::ptr_eq(&p.cdp, &cdp))
        {
            page.casting = false;
        }
        if let Err(e) = self.sync_screencast().await {
            warn!(error = %e, "restarting the screencast failed");
        }
    }

    /// Reads the page's address and title each time it is woken, spaced by `REFRESH_SPACING`.
    async fn refresher(self: Arc<Self>, cdp: Arc<Cdp>, target: String, wake: Arc<Notify>) {
        loop {
            wake.notified().await;
            if cdp.is_closed() {
                return;
            }
            let (url, title) = location(&cdp, &target).await;
            {
                let mut inner = self.lock();
                if !url.is_empty() {
                    inner.url = url;
                }
                inner.title = title;
                inner.broadcast_state(None, 0);
            }
            tokio::time::sleep(REFRESH_SPACING).await;
        }
    }

    /// While someone watches, finds the browser's (new) first page and resumes the screencast.
    /// Boxed: connecting spawns the task that ends here, and the compiler needs the cycle cut.
    fn reconnect(self: Arc<Self>) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(self.reconnect_now())
    }

    async fn reconnect_now(self: Arc<Self>) {
        for attempt in 0.. {
            tokio::time::sleep(reconnect_delay(attempt)).await;
            {
                let mut inner = self.lock();
                inner.watchers.retain(|_, w| !w.out.is_closed());
                if inner.watchers.is_empty() {
                    return;
                }
            }
            match self.page().await {
                Ok(_) => {
                    self.lock().broadcast_state(None, 0);
                    if let Err(e) = self.sync_screencast().await {
                        warn!(error = %e, "resuming the screencast failed");
                    }
                    return;
                }
                Err(e) => debug!(error = %e, attempt, "the browser has no page yet"),
            }
        }
    }

    /// A screencast frame to every watcher whose budget has room. Watchers whose connection
    /// closed are dropped (giving control back); true when that left nobody watching.
    fn forward_frame(&self, params: &Value) -> bool {
        let Some(data) = params["data"].as_str() else {
            return false;
        };
        let dimension = |name: &str| {
            params["metadata"][name]
                .as_f64()
                .map_or(0, |v| v.round().clamp(0.0, f64::from(u32::MAX)) as u32)
        };
        let (width, height) = (dimension("deviceWidth"), dimension("deviceHeight"));
        let now = Instant::now();
        let mut inner = self.lock();
        let mut closed = Vec::new();
        inner.watchers.retain(|connection, watcher| {
            let open = !watcher.out.is_closed();
            if !open {
                debug!(connection, "a closed connection watched no more");
                closed.push(*connection);
            }
            open
        });
        if inner.controller.is_some_and(|c| closed.contains(&c)) {
            inner.controller = None;
            inner.broadcast_state(None, 0);
        }
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
        !closed.is_empty() && inner.watchers.is_empty()
    }
}

impl Inner {
    /// Control back to the agent: the releases of what the user held pressed.
    fn end_control(&mut self) -> Vec<BrowserRequest> {
        self.controller = None;
        self.held.take_releases()
    }

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

    /// `error` to every watcher.
    fn broadcast_error(&self, message: &str) {
        for Watcher { out, .. } in self.watchers.values() {
            out.browser(error(None, message));
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

/// The page's URL and title as the browser (not the page's own script) knows them; empty
/// when the browser does not answer. Both bounded to `MAX_TEXT` chars.
async fn location(cdp: &Cdp, target: &str) -> (String, String) {
    match cdp
        .call("Target.getTargetInfo", json!({ "targetId": target }))
        .await
    {
        Ok(result) => {
            let info = &result["targetInfo"];
            let text = |name: &str| bounded(info[name].as_str().unwrap_or_default());
            (text("url"), text("title"))
        }
        Err(e) => {
            debug!(error = %e, "the page's title could not be read");
            (String::new(), String::new())
        }
    }
}

/// `text`, cut to `MAX_TEXT` chars (on a char boundary).
fn bounded(text: &str) -> String {
    match text.char_indices().nth(MAX_TEXT) {
        Some((end, _)) => text[..end].to_owned(),
        None => text.to_owned(),
    }
}

/// The wait before reconnection attempt `attempt` (from 0): 500 ms, doubling, at most 10 s.
fn reconnect_delay(attempt: u32) -> Duration {
    RECONNECT_AFTER
        .saturating_mul(2u32.saturating_pow(attempt.min(16)))
        .min(RECONNECT_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use oqto_proto::mux::SessionName;

    fn outbound(connection: u64) -> (Outbound, crate::mux::outbound::OutboundRx) {
        Outbound::new(connection, SessionName::parse("s").unwrap())
    }

    #[test]
    fn reconnecting_backs_off_from_half_a_second_to_ten() {
        let delays: Vec<u64> = (0..8)
            .map(|a| reconnect_delay(a).as_millis() as u64)
            .collect();
        assert_eq!(
            delays,
            [500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000]
        );
        assert_eq!(reconnect_delay(u32::MAX), RECONNECT_MAX);
    }

    #[test]
    fn url_and_title_are_cut_on_a_char_boundary() {
        assert_eq!(bounded("short"), "short");
        let long = "é".repeat(MAX_TEXT + 10);
        let cut = bounded(&long);
        assert_eq!(cut.chars().count(), MAX_TEXT);
        assert_eq!(bounded(&"a".repeat(MAX_TEXT)).len(), MAX_TEXT);
    }

    #[tokio::test]
    async fn a_closed_connection_cannot_take_control() {
        let hub = BrowserHub::new(Some("http://127.0.0.1:9".into()), 4);
        let (out, rx) = outbound(1);
        drop(rx);
        hub.take_control(1, &out);
        assert_eq!(hub.controller(), BrowserController::Agent);
        let (out, _rx) = outbound(2);
        hub.take_control(2, &out);
        assert_eq!(hub.controller(), BrowserController::User);
    }

    #[tokio::test]
    async fn closed_watchers_are_dropped_with_their_control() {
        let hub = BrowserHub::new(Some("http://127.0.0.1:9".into()), 4);
        let (gone, gone_rx) = outbound(1);
        let (stays, mut stays_rx) = outbound(2);
        {
            let mut inner = hub.lock();
            for (connection, out) in [(1, &gone), (2, &stays)] {
                inner.watchers.insert(
                    connection,
                    Watcher {
                        out: out.clone(),
                        budget: ByteBudget::new(Instant::now()),
                    },
                );
            }
            inner.controller = Some(1);
        }
        drop(gone_rx);
        let frame = json!({"data": "AAAA", "metadata": {"deviceWidth": 10, "deviceHeight": 10}});
        assert!(!hub.forward_frame(&frame), "one watcher is left");
        assert_eq!(hub.controller(), BrowserController::Agent);
        assert_eq!(hub.lock().watchers.len(), 1);
        let mut kinds = Vec::new();
        while let Ok(frame) = stays_rx.try_recv() {
            let frame: Value = serde_json::from_str(&frame.to_json()).unwrap();
            kinds.push(frame["type"].as_str().unwrap().to_owned());
        }
        assert_eq!(kinds, ["state", "frame"], "told the agent has control back");
        drop(stays_rx);
        assert!(hub.forward_frame(&frame), "nobody watches any more");
    }
}
