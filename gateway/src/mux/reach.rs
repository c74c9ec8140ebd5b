//! Following a session's route until its runner takes a connection: waking the session when it
//! is suspended, waiting while its runner starts, dialing when the route names one.
//!
//! A route can be a moment behind: a runner being stopped (its session just suspended, by a
//! parent after its sub-agent's turn or by the idle timer) is still named by the route until the
//! operator reports it stopped, and a frame that arrives then would meet a closed port. So a
//! refused dial is not the end: the route is read again on every change and between attempts,
//! and a runner that goes away is woken and waited for like any suspended one. Only a runner
//! the route keeps naming and that keeps refusing for `DIAL_PATIENCE`, or a session that does
//! not start within its start timeout, gets the frame refused.

use std::time::Duration;

use oqto_api::SessionPhase;
use oqto_proto::mux::SessionName;
use tokio::time::Instant;

use crate::routing::RouteTable;

/// Waits before each dial of the same runner address (none before the first): its listener may
/// lag its readiness by a moment, as sandbox routers allow for. The last is repeated.
pub const DIAL_BACKOFF: [Duration; 5] = [
    Duration::ZERO,
    Duration::from_millis(200),
    Duration::from_millis(400),
    Duration::from_millis(800),
    Duration::from_millis(1600),
];
/// How long the runner a route keeps naming may refuse before the frame is refused.
pub const DIAL_PATIENCE: Duration = Duration::from_secs(30);
/// The most wakes of one session for one frame: a session suspended again each time (a
/// parent's suspend racing the user's frame) is not fought over forever.
pub const MAX_WAKES: u32 = 3;
/// The longest one dial may take: a port that accepts but never completes the handshake must
/// not hold the route's changes (and `DIAL_PATIENCE`) up.
pub const DIAL_TIMEOUT: Duration = Duration::from_secs(5);

/// What `reach` needs from the gateway, one method per outside effect.
pub(crate) trait Reacher {
    type Runner;
    /// Clears the session's `suspended`.
    async fn wake(&mut self) -> Result<(), String>;
    /// Tells the client the session's runner is starting (once per `reach`).
    async fn starting(&mut self);
    /// One connection attempt to the runner at `url`, whose session has `uid`.
    async fn dial(&mut self, url: &str, uid: &str) -> Result<Self::Runner, String>;
}

/// The runner of `session`, following its route in `routes`.
pub(crate) async fn reach<R: Reacher>(
    session: &SessionName,
    routes: &RouteTable,
    reacher: &mut R,
) -> Result<R::Runner, String> {
    let not_found = || format!("session {session} not found");
    let mut changes = routes.subscribe();
    let first = routes.route(session.as_str()).ok_or_else(not_found)?;
    // The session of this name, not one made under the same name after it was deleted
    // (perhaps by someone else): its uid is checked on every read.
    let current = || {
        routes
            .route(session.as_str())
            .filter(|route| route.uid == first.uid)
            .ok_or_else(not_found)
    };
    let deadline = Instant::now() + first.start_timeout;
    let mut wakes = 0;
    let mut told = false;
    // The address refusing, since when, and how many times.
    let mut refusing: Option<(String, Instant, usize)> = None;
    loop {
        changes.mark_unchanged();
        let route = current()?;
        if let Some(url) = route.websocket.clone() {
            let (since, attempts) = match &refusing {
                Some((refused, since, attempts)) if *refused == url => (*since, *attempts),
                _ => (Instant::now(), 0),
            };
            let error =
                match tokio::time::timeout(DIAL_TIMEOUT, reacher.dial(&url, &route.uid)).await {
                    Ok(Ok(runner)) => return Ok(runner),
                    Ok(Err(error)) => error,
                    Err(_) => format!("no answer within {DIAL_TIMEOUT:?}"),
                };
            if since.elapsed() >= DIAL_PATIENCE || Instant::now() >= deadline {
                return Err(format!(
                    "the runner of session {session} does not answer: {error}"
                ));
            }
            let wait = DIAL_BACKOFF[(attempts + 1).min(DIAL_BACKOFF.len() - 1)];
            refusing = Some((url, since, attempts + 1));
            // A change of this session's route meanwhile (the runner reported stopped) is acted
            // on at once; the changes of other sessions' routes do not cut the wait short.
            let until = Instant::now() + wait;
            while let Ok(Ok(())) = tokio::time::timeout_at(until, changes.changed()).await {
                changes.mark_unchanged();
                if routes.route(session.as_str()).as_ref() != Some(&route) {
                    break;
                }
            }
            continue;
        }
        if route.suspended && wakes >= MAX_WAKES {
            return Err(format!(
                "session {session} was suspended again as it was being woken"
            ));
        }
        let stopped_for_good = route.phase == Some(SessionPhase::Suspended) && wakes == 0;
        if (route.suspended || stopped_for_good) && wakes < MAX_WAKES {
            wakes += 1;
            tracing::info!(%session, "waking a suspended session for a frame");
            reacher
                .wake()
                .await
                .map_err(|e| format!("session {session} could not be resumed: {e}"))?;
        }
        if !told {
            told = true;
            reacher.starting().await;
        }
        if route.phase == Some(SessionPhase::Failed) && !route.suspended {
            return Err(format!(
                "session {session} failed to start{}",
                route.message.map(|m| format!(": {m}")).unwrap_or_default()
            ));
        }
        match tokio::time::timeout_at(deadline, changes.changed()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Err("the gateway is shutting down".into()),
            Err(_) => {
                return Err(format!(
                    "session {session} did not become ready within {:?}{}",
                    route.start_timeout,
                    route.message.map(|m| format!(" ({m})")).unwrap_or_default()
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::routing::{Addressing, SessionEntry, WorkspaceEntry};

    const DEAD: &str = "http://127.0.0.1:4000";
    const LIVE: &str = "http://127.0.0.1:4001";

    fn table(phase: SessionPhase, suspended: bool, endpoint: Option<&str>) -> Arc<RouteTable> {
        let table = Arc::new(RouteTable::new(Addressing::StatusEndpoint));
        table.update(|t| {
            t.workspaces.insert(
                "ws".into(),
                WorkspaceEntry {
                    owner: "alice".into(),
                    start_timeout: Duration::from_secs(120),
                },
            );
        });
        set(&table, phase, suspended, endpoint);
        table
    }

    fn set(table: &RouteTable, phase: SessionPhase, suspended: bool, endpoint: Option<&str>) {
        set_entry(table, "s1", "s1-uid", phase, suspended, endpoint);
    }

    fn set_entry(
        table: &RouteTable,
        name: &str,
        uid: &str,
        phase: SessionPhase,
        suspended: bool,
        endpoint: Option<&str>,
    ) {
        table.update(|t| {
            t.sessions.insert(
                name.into(),
                SessionEntry {
                    uid: uid.into(),
                    workspace: "ws".into(),
                    phase: Some(phase),
                    suspended,
                    pod_name: None,
                    endpoint: endpoint.map(str::to_owned),
                    message: None,
                    parent: None,
                },
            );
        });
    }

    /// Dials succeed only at `LIVE`; wakes clear `suspended` in the table, as the store would.
    struct Recorder {
        table: Arc<RouteTable>,
        log: Arc<Mutex<Vec<String>>>,
    }

    impl Recorder {
        fn new(table: &Arc<RouteTable>) -> Self {
            Self {
                table: table.clone(),
                log: Arc::default(),
            }
        }

        fn log(&self) -> Vec<String> {
            self.log.lock().unwrap().clone()
        }

        fn note(&self, what: String) {
            self.log.lock().unwrap().push(what);
        }
    }

    impl Reacher for Recorder {
        type Runner = String;
        async fn wake(&mut self) -> Result<(), String> {
            self.note("wake".into());
            let route = self.table.route("s1").unwrap();
            set(&self.table, route.phase.unwrap(), false, None);
            Ok(())
        }
        async fn starting(&mut self) {
            self.note("starting".into());
        }
        async fn dial(&mut self, url: &str, uid: &str) -> Result<String, String> {
            assert_eq!(uid, "s1-uid");
            self.note(format!("dial {url}"));
            if url.contains(":4001") {
                Ok(url.to_owned())
            } else if url.contains(":4002") {
                // Accepts, and never completes the handshake.
                std::future::pending().await
            } else {
                Err("Connection refused".into())
            }
        }
    }

    fn s1() -> SessionName {
        SessionName::parse("s1").unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn a_runner_being_stopped_is_waited_for_and_reached_when_it_is_back() {
        // The route still names the runner the operator is stopping; 10 s later the operator
        // reports it suspended, then (woken) running at a new address.
        let table = table(SessionPhase::Running, false, Some(DEAD));
        let operator = table.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(10)).await;
            set(&operator, SessionPhase::Suspended, false, None);
            tokio::time::sleep(Duration::from_secs(3)).await;
            set(&operator, SessionPhase::Running, false, Some(LIVE));
        });
        let mut reacher = Recorder::new(&table);
        let started = Instant::now();
        let runner = reach(&s1(), &table, &mut reacher).await.unwrap();
        assert_eq!(runner, "ws://127.0.0.1:4001/ws");
        assert_eq!(started.elapsed(), Duration::from_secs(13));
        let log = reacher.log();
        let refused = log.iter().filter(|l| l.contains(":4000")).count();
        // 0 + 0.2 + 0.4 + 0.8 + 1.6 s, then every 1.6 s: 9 dials in 10 s, not a busy loop.
        assert_eq!(refused, 9, "{log:?}");
        assert_eq!(
            log[refused..],
            ["wake", "starting", "dial ws://127.0.0.1:4001/ws"],
            "woken once, told once, then dialed"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_runner_the_route_keeps_naming_that_keeps_refusing_is_given_up() {
        let table = table(SessionPhase::Running, false, Some(DEAD));
        let mut reacher = Recorder::new(&table);
        let started = Instant::now();
        let error = reach(&s1(), &table, &mut reacher).await.unwrap_err();
        assert_eq!(
            error,
            "the runner of session s1 does not answer: Connection refused"
        );
        let waited = started.elapsed();
        assert!(
            waited >= DIAL_PATIENCE && waited < DIAL_PATIENCE + Duration::from_secs(2),
            "{waited:?}"
        );
        assert!(!reacher.log().contains(&"wake".to_owned()));
    }

    #[tokio::test(start_paused = true)]
    async fn a_session_suspended_again_after_every_wake_is_woken_at_most_thrice() {
        let table = table(SessionPhase::Suspended, true, None);
        // Something suspends it again right after each wake.
        let racer = table.clone();
        let mut changes = racer.subscribe();
        tokio::spawn(async move {
            while changes.changed().await.is_ok() {
                if !racer.route("s1").unwrap().suspended {
                    set(&racer, SessionPhase::Suspended, true, None);
                }
            }
        });
        let mut reacher = Recorder::new(&table);
        let started = Instant::now();
        let error = reach(&s1(), &table, &mut reacher).await.unwrap_err();
        assert_eq!(
            error,
            "session s1 was suspended again as it was being woken"
        );
        assert_eq!(started.elapsed(), Duration::ZERO, "refused at once");
        let log = reacher.log();
        assert_eq!(
            log.iter().filter(|l| *l == "wake").count(),
            MAX_WAKES as usize,
            "{log:?}"
        );
        assert_eq!(log.iter().filter(|l| *l == "starting").count(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn other_sessions_changing_do_not_hurry_the_redials() {
        let table = table(SessionPhase::Running, false, Some(DEAD));
        let churn = table.clone();
        tokio::spawn(async move {
            for _ in 0..1000 {
                tokio::time::sleep(Duration::from_millis(10)).await;
                set_entry(&churn, "s2", "s2-uid", SessionPhase::Running, false, None);
            }
            set(&churn, SessionPhase::Running, false, Some(LIVE));
        });
        let mut reacher = Recorder::new(&table);
        reach(&s1(), &table, &mut reacher).await.unwrap();
        let log = reacher.log();
        let refused = log.iter().filter(|l| l.contains(":4000")).count();
        assert_eq!(refused, 9, "the same 9 dials in 10 s as without the churn");
    }

    #[tokio::test(start_paused = true)]
    async fn a_session_deleted_and_made_again_under_its_name_is_not_reached() {
        let table = table(SessionPhase::Pending, false, None);
        let other = table.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            // Someone's new session of the same name, running.
            set_entry(
                &other,
                "s1",
                "another-uid",
                SessionPhase::Running,
                false,
                Some(LIVE),
            );
        });
        let mut reacher = Recorder::new(&table);
        let error = reach(&s1(), &table, &mut reacher).await.unwrap_err();
        assert_eq!(error, "session s1 not found");
        assert!(
            !reacher.log().iter().any(|l| l.starts_with("dial")),
            "{:?}",
            reacher.log()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_runner_that_never_completes_the_handshake_is_given_up() {
        let table = table(SessionPhase::Running, false, Some("http://127.0.0.1:4002"));
        let mut reacher = Recorder::new(&table);
        let started = Instant::now();
        let error = reach(&s1(), &table, &mut reacher).await.unwrap_err();
        assert_eq!(
            error,
            "the runner of session s1 does not answer: no answer within 5s"
        );
        assert!(
            started.elapsed() < DIAL_PATIENCE + DIAL_TIMEOUT + Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_session_and_one_that_never_starts_are_refused_with_the_reason() {
        let failed = table(SessionPhase::Failed, false, None);
        let error = reach(&s1(), &failed, &mut Recorder::new(&failed))
            .await
            .unwrap_err();
        assert_eq!(error, "session s1 failed to start");

        let pending = table(SessionPhase::Pending, false, None);
        let error = reach(&s1(), &pending, &mut Recorder::new(&pending))
            .await
            .unwrap_err();
        assert_eq!(error, "session s1 did not become ready within 120s");

        let error = reach(
            &SessionName::parse("s2").unwrap(),
            &pending,
            &mut Recorder::new(&pending),
        )
        .await
        .unwrap_err();
        assert_eq!(error, "session s2 not found");
    }
}
