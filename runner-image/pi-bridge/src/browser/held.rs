//! Keys and mouse buttons the user in control holds down. When control ends (handed back, taken
//! over, the connection gone) the user's queued `up`s are refused, so the page would keep a key
//! or button pressed for the agent (a Shift that capitalises what it types, a drag that never
//! ends); the hub releases them itself with what this remembers.

use oqto_proto::mux::{BrowserKeyEvent, BrowserMouseButton, BrowserMouseEvent, BrowserRequest};

/// The most keys and buttons remembered: no keyboard holds more, and a client that presses
/// without releasing cannot grow it.
pub const MAX_HELD: usize = 16;

/// What is pressed, as the `up` that releases each, oldest first.
#[derive(Debug, Default)]
pub struct Held {
    releases: Vec<BrowserRequest>,
}

impl Held {
    /// Notes one input operation of the user in control: a `down` is remembered (once per key
    /// or button, up to `MAX_HELD`), its `up` forgets it.
    pub fn note(&mut self, request: &BrowserRequest) {
        if let BrowserRequest::Mouse {
            event: BrowserMouseEvent::Move,
            x,
            y,
            ..
        } = request
        {
            // A drag ends where the pointer is.
            for held in &mut self.releases {
                if let BrowserRequest::Mouse { x: hx, y: hy, .. } = held {
                    (*hx, *hy) = (*x, *y);
                }
            }
            return;
        }
        let Some((pressed, release)) = release_of(request) else {
            return;
        };
        let same = |held: &BrowserRequest| same_control(held, &release);
        if !pressed {
            self.releases.retain(|held| !same(held));
        } else if !self.releases.iter().any(same) && self.releases.len() < MAX_HELD {
            self.releases.push(release);
        }
    }

    /// The `up`s that release everything still pressed, latest first; forgets them.
    pub fn take_releases(&mut self) -> Vec<BrowserRequest> {
        let mut releases = std::mem::take(&mut self.releases);
        releases.reverse();
        releases
    }
}

/// For a key or button event: whether it presses, and the `up` that releases what it names.
fn release_of(request: &BrowserRequest) -> Option<(bool, BrowserRequest)> {
    match request {
        BrowserRequest::Key {
            event, key, code, ..
        } => Some((
            *event == BrowserKeyEvent::Down,
            BrowserRequest::Key {
                id: None,
                event: BrowserKeyEvent::Up,
                key: key.clone(),
                code: code.clone(),
                text: None,
                modifiers: None,
            },
        )),
        BrowserRequest::Mouse {
            event: event @ (BrowserMouseEvent::Down | BrowserMouseEvent::Up),
            x,
            y,
            button,
            ..
        } => Some((
            *event == BrowserMouseEvent::Down,
            BrowserRequest::Mouse {
                id: None,
                event: BrowserMouseEvent::Up,
                x: *x,
                y: *y,
                button: Some(button.unwrap_or(BrowserMouseButton::Left)),
                click_count: Some(1),
                modifiers: None,
                delta_x: None,
                delta_y: None,
            },
        )),
        _ => None,
    }
}

/// Whether two releases name the same key (by `code` when both have one, else by `key`) or the
/// same mouse button.
fn same_control(a: &BrowserRequest, b: &BrowserRequest) -> bool {
    match (a, b) {
        (
            BrowserRequest::Key {
                key: ka, code: ca, ..
            },
            BrowserRequest::Key {
                key: kb, code: cb, ..
            },
        ) => match (ca, cb) {
            (Some(ca), Some(cb)) => ca == cb,
            _ => ka == kb,
        },
        (BrowserRequest::Mouse { button: ba, .. }, BrowserRequest::Mouse { button: bb, .. }) => {
            ba == bb
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(event: BrowserKeyEvent, key: &str, code: Option<&str>) -> BrowserRequest {
        BrowserRequest::Key {
            id: Some("k".into()),
            event,
            key: key.into(),
            code: code.map(str::to_owned),
            text: Some(key.into()),
            modifiers: Some(8),
        }
    }

    fn mouse(event: BrowserMouseEvent, button: Option<BrowserMouseButton>) -> BrowserRequest {
        BrowserRequest::Mouse {
            id: None,
            event,
            x: 30.0,
            y: 40.0,
            button,
            click_count: Some(2),
            modifiers: None,
            delta_x: None,
            delta_y: None,
        }
    }

    fn names(releases: &[BrowserRequest]) -> Vec<String> {
        releases
            .iter()
            .map(|r| match r {
                BrowserRequest::Key { key, event, .. } => format!("{key} {event:?}"),
                BrowserRequest::Mouse { button, event, .. } => format!("{button:?} {event:?}"),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn what_is_still_down_is_released_latest_first_and_once() {
        let mut held = Held::default();
        held.note(&key(BrowserKeyEvent::Down, "Shift", Some("ShiftLeft")));
        held.note(&key(BrowserKeyEvent::Down, "a", Some("KeyA")));
        // A key's auto-repeat presses it again: still one release.
        held.note(&key(BrowserKeyEvent::Down, "A", Some("KeyA")));
        held.note(&mouse(BrowserMouseEvent::Down, None));
        held.note(&BrowserRequest::Mouse {
            id: None,
            event: BrowserMouseEvent::Move,
            x: 300.0,
            y: 200.0,
            button: None,
            click_count: None,
            modifiers: None,
            delta_x: None,
            delta_y: None,
        });
        held.note(&key(BrowserKeyEvent::Up, "a", Some("KeyA")));
        let releases = held.take_releases();
        assert_eq!(
            names(&releases),
            ["Some(Left) Up", "Shift Up"],
            "{releases:?}"
        );
        // The button is let go where the drag got to.
        let BrowserRequest::Mouse {
            x, y, click_count, ..
        } = &releases[0]
        else {
            panic!("{releases:?}")
        };
        assert_eq!((*x, *y, *click_count), (300.0, 200.0, Some(1)));
        // The releases carry no id, no text and no modifiers of the press.
        assert_eq!(
            releases[1],
            BrowserRequest::Key {
                id: None,
                event: BrowserKeyEvent::Up,
                key: "Shift".into(),
                code: Some("ShiftLeft".into()),
                text: None,
                modifiers: None,
            }
        );
        assert!(held.take_releases().is_empty(), "taken once");
    }

    #[test]
    fn buttons_are_told_apart_and_a_key_without_code_goes_by_its_key() {
        let mut held = Held::default();
        held.note(&mouse(
            BrowserMouseEvent::Down,
            Some(BrowserMouseButton::Right),
        ));
        held.note(&mouse(BrowserMouseEvent::Down, None));
        held.note(&mouse(
            BrowserMouseEvent::Up,
            Some(BrowserMouseButton::Left),
        ));
        held.note(&key(BrowserKeyEvent::Down, "Enter", None));
        held.note(&key(BrowserKeyEvent::Up, "Enter", None));
        assert_eq!(names(&held.take_releases()), ["Some(Right) Up"]);
    }

    #[test]
    fn a_client_that_never_releases_cannot_grow_it() {
        let mut held = Held::default();
        for n in 0..1000 {
            held.note(&key(BrowserKeyEvent::Down, &format!("k{n}"), None));
        }
        assert_eq!(held.take_releases().len(), MAX_HELD);
    }
}
