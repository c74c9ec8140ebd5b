//! The questions Pi's extensions are waiting on (`agent.input_needed`), so that the bridge can
//! say when one is over (`agent.input_resolved`), tell a page that attaches later which are open
//! (`get_state`), refuse answers to questions that are gone, and keep the stall watchdog from
//! killing a Pi that is waiting for its user.
//!
//! Pi resolves a question itself when its timeout passes (it answers the extension with the
//! default value and prints nothing), so the bridge keeps the same deadline and announces the
//! end. A question ends here when it is answered or cancelled (`input_response`), times out, or
//! its Pi process goes away. An extension may also stop waiting through its own abort signal,
//! which Pi does not report either: such a question stays until one of the above (an answer to
//! it is harmless, Pi ignores answers to ids it no longer waits for).

use std::time::Duration;

use oqto_proto::canonical::InputRequest;
use serde_json::Value;
use tokio::time::Instant;

/// The open questions of one Pi process, in the order Pi asked them.
#[derive(Debug, Default)]
pub struct Questions {
    open: Vec<Open>,
}

#[derive(Debug)]
struct Open {
    request: InputRequest,
    /// When Pi gives up waiting (`timeout` after it asked).
    deadline: Option<Instant>,
}

/// An answer as `input_response` carries it.
#[derive(Debug, Clone, Copy)]
pub struct Answer<'a> {
    pub value: Option<&'a Value>,
    pub confirmed: Option<bool>,
    pub cancelled: Option<bool>,
}

impl Questions {
    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    /// Pi asked (at `now`). A repeated id replaces the question it had.
    pub fn ask(&mut self, request: InputRequest, now: Instant) {
        let deadline = timeout_of(&request).map(|ms| now + Duration::from_millis(ms));
        let id = request_id(&request).to_owned();
        self.open.retain(|o| request_id(&o.request) != id);
        self.open.push(Open { request, deadline });
    }

    /// Checks an answer to the open question `id` before it goes to Pi: the extension that
    /// asked gets what it asked for (an offered option, yes or no, text) or a cancellation.
    pub fn check(&self, id: &str, answer: Answer<'_>) -> Result<(), String> {
        let Some(open) = self.open.iter().find(|o| request_id(&o.request) == id) else {
            return Err(format!(
                "input_response: question {id:?} is not open (it was answered, cancelled or \
                 timed out, or the agent restarted)"
            ));
        };
        if answer.cancelled == Some(true) {
            return Ok(());
        }
        match &open.request {
            InputRequest::Select { options, .. } => match answer.value {
                Some(Value::String(choice)) if options.contains(choice) => Ok(()),
                Some(Value::String(choice)) => Err(format!(
                    "input_response: {choice:?} is not one of the options of question {id:?}"
                )),
                _ => Err(format!(
                    "input_response: question {id:?} needs `value` (one of its options) or \
                     `cancelled: true`"
                )),
            },
            InputRequest::Input { .. } => match answer.value {
                Some(Value::String(_)) => Ok(()),
                _ => Err(format!(
                    "input_response: question {id:?} needs `value` (text) or `cancelled: true`"
                )),
            },
            InputRequest::Confirm { .. } | InputRequest::Permission { .. } => {
                match answer.confirmed {
                    Some(_) => Ok(()),
                    None => Err(format!(
                        "input_response: question {id:?} needs `confirmed` (true or false) or \
                         `cancelled: true`"
                    )),
                }
            }
        }
    }

    /// The question is over; false when it was not open.
    pub fn resolve(&mut self, id: &str) -> bool {
        let before = self.open.len();
        self.open.retain(|o| request_id(&o.request) != id);
        self.open.len() != before
    }

    /// The earliest deadline, for the conversation's timer.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.open.iter().filter_map(|o| o.deadline).min()
    }

    /// Removes the questions whose deadline passed; their ids.
    pub fn expire(&mut self, now: Instant) -> Vec<String> {
        let (gone, open) = std::mem::take(&mut self.open)
            .into_iter()
            .partition(|o| o.deadline.is_some_and(|d| d <= now));
        self.open = open;
        gone.into_iter()
            .map(|o| request_id(&o.request).to_owned())
            .collect()
    }

    /// Removes every question (Pi went away); their ids.
    pub fn clear(&mut self) -> Vec<String> {
        std::mem::take(&mut self.open)
            .into_iter()
            .map(|o| request_id(&o.request).to_owned())
            .collect()
    }

    /// The open questions as a page that attaches at `now` must see them: a timeout is what is
    /// left of it, so a countdown shown from this ends when Pi stops waiting.
    pub fn still_open(&self, now: Instant) -> Vec<InputRequest> {
        self.open
            .iter()
            .filter(|o| o.deadline.is_none_or(|d| d > now))
            .map(|o| {
                let mut request = o.request.clone();
                if let Some(deadline) = o.deadline {
                    let left = deadline.saturating_duration_since(now).as_millis();
                    set_timeout(&mut request, (left as u64).max(1));
                }
                request
            })
            .collect()
    }
}

pub fn request_id(request: &InputRequest) -> &str {
    match request {
        InputRequest::Select { request_id, .. }
        | InputRequest::Confirm { request_id, .. }
        | InputRequest::Input { request_id, .. }
        | InputRequest::Permission { request_id, .. } => request_id,
    }
}

/// Pi's timeout in milliseconds (`setTimeout(…, opts.timeout)` in its RPC mode).
fn timeout_of(request: &InputRequest) -> Option<u64> {
    match request {
        InputRequest::Select { timeout, .. }
        | InputRequest::Confirm { timeout, .. }
        | InputRequest::Input { timeout, .. } => *timeout,
        InputRequest::Permission { .. } => None,
    }
}

fn set_timeout(request: &mut InputRequest, ms: u64) {
    match request {
        InputRequest::Select { timeout, .. }
        | InputRequest::Confirm { timeout, .. }
        | InputRequest::Input { timeout, .. } => *timeout = Some(ms),
        InputRequest::Permission { .. } => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn select(id: &str, timeout: Option<u64>) -> InputRequest {
        InputRequest::Select {
            request_id: id.into(),
            title: "Pick".into(),
            options: vec!["red".into(), "blue".into()],
            timeout,
        }
    }

    fn confirm(id: &str) -> InputRequest {
        InputRequest::Confirm {
            request_id: id.into(),
            title: "Run?".into(),
            message: "rm -rf build".into(),
            timeout: None,
        }
    }

    fn answer(
        value: Option<&Value>,
        confirmed: Option<bool>,
        cancelled: Option<bool>,
    ) -> Answer<'_> {
        Answer {
            value,
            confirmed,
            cancelled,
        }
    }

    #[test]
    fn questions_time_out_at_their_deadline_and_report_what_is_left() {
        let t0 = Instant::now();
        let mut q = Questions::default();
        q.ask(select("a", Some(10_000)), t0);
        q.ask(confirm("b"), t0);
        assert_eq!(q.next_deadline(), Some(t0 + Duration::from_secs(10)));

        let open = q.still_open(t0 + Duration::from_millis(7_500));
        assert_eq!(open.len(), 2, "in the order Pi asked");
        assert_eq!(timeout_of(&open[0]), Some(2_500), "what is left");
        assert_eq!(timeout_of(&open[1]), None);

        assert!(q.expire(t0 + Duration::from_millis(9_999)).is_empty());
        assert_eq!(q.expire(t0 + Duration::from_secs(10)), ["a"]);
        assert_eq!(q.next_deadline(), None);
        assert_eq!(
            q.still_open(t0 + Duration::from_secs(60))
                .iter()
                .map(request_id)
                .collect::<Vec<_>>(),
            ["b"],
            "a question without timeout waits"
        );
    }

    #[test]
    fn an_answered_question_is_no_longer_open() {
        let t0 = Instant::now();
        let mut q = Questions::default();
        q.ask(select("a", None), t0);
        let red = json!("red");
        assert!(q.check("a", answer(Some(&red), None, None)).is_ok());
        assert!(q.resolve("a"));
        assert!(!q.resolve("a"), "only once");
        let err = q.check("a", answer(Some(&red), None, None)).unwrap_err();
        assert!(err.contains("not open"), "{err}");
        assert!(q.is_empty());
    }

    #[test]
    fn answers_must_fit_the_question() {
        let t0 = Instant::now();
        let mut q = Questions::default();
        q.ask(select("s", None), t0);
        q.ask(confirm("c"), t0);
        q.ask(
            InputRequest::Input {
                request_id: "i".into(),
                title: "Name".into(),
                placeholder: None,
                timeout: None,
            },
            t0,
        );
        let green = json!("green");
        let number = json!(3);
        let text = json!("Ada");
        let err = q.check("s", answer(Some(&green), None, None)).unwrap_err();
        assert!(err.contains("not one of the options"), "{err}");
        assert!(q.check("s", answer(None, Some(true), None)).is_err());
        assert!(q.check("s", answer(None, None, Some(true))).is_ok());
        assert!(q.check("c", answer(None, Some(false), None)).is_ok());
        assert!(q.check("c", answer(Some(&text), None, None)).is_err());
        assert!(q.check("i", answer(Some(&text), None, None)).is_ok());
        assert!(q.check("i", answer(Some(&number), None, None)).is_err());
        assert!(
            q.check("i", answer(None, None, Some(false))).is_err(),
            "cancelled: false is no answer"
        );
    }

    #[test]
    fn asking_again_with_the_same_id_replaces_and_clear_empties() {
        let t0 = Instant::now();
        let mut q = Questions::default();
        q.ask(select("a", Some(1_000)), t0);
        q.ask(select("a", None), t0);
        assert_eq!(q.still_open(t0).len(), 1);
        assert_eq!(q.next_deadline(), None, "the replacement has no timeout");
        q.ask(confirm("b"), t0);
        assert_eq!(q.clear(), ["a", "b"]);
        assert!(q.is_empty());
    }
}
