//! The user's input, as DevTools calls: each typed operation of the browser channel maps to one
//! `Input.*` or `Page.navigate` call, nothing else (the proto types already bound every field).

use oqto_proto::mux::{BrowserKeyEvent, BrowserMouseButton, BrowserMouseEvent, BrowserRequest};
use serde_json::{Map, Value, json};

/// The CDP call for an input operation; `None` for the requests that are not input.
pub fn input_call(request: &BrowserRequest) -> Option<(&'static str, Value)> {
    match request {
        BrowserRequest::Mouse {
            event,
            x,
            y,
            button,
            click_count,
            modifiers,
            delta_x,
            delta_y,
            ..
        } => {
            let (kind, pressing) = match event {
                BrowserMouseEvent::Down => ("mousePressed", true),
                BrowserMouseEvent::Up => ("mouseReleased", true),
                BrowserMouseEvent::Move => ("mouseMoved", false),
                BrowserMouseEvent::Wheel => ("mouseWheel", false),
            };
            let button = match (button, pressing) {
                (Some(BrowserMouseButton::Left), _) | (None, true) => "left",
                (Some(BrowserMouseButton::Middle), _) => "middle",
                (Some(BrowserMouseButton::Right), _) => "right",
                (None, false) => "none",
            };
            // A press without a count is no click at all for Chrome.
            let clicks = click_count.unwrap_or(u8::from(pressing));
            let mut params = json!({
                "type": kind,
                "x": x,
                "y": y,
                "button": button,
                "clickCount": clicks,
                "modifiers": modifiers.unwrap_or(0),
            });
            if *event == BrowserMouseEvent::Wheel {
                params["deltaX"] = json!(delta_x.unwrap_or(0.0));
                params["deltaY"] = json!(delta_y.unwrap_or(0.0));
            }
            Some(("Input.dispatchMouseEvent", params))
        }
        BrowserRequest::Key {
            event,
            key,
            code,
            text,
            modifiers,
            ..
        } => {
            let mut params = Map::new();
            let kind = match event {
                BrowserKeyEvent::Down => "keyDown",
                BrowserKeyEvent::Up => "keyUp",
            };
            params.insert("type".into(), json!(kind));
            params.insert("key".into(), json!(key));
            if let Some(code) = code {
                params.insert("code".into(), json!(code));
            }
            if let (BrowserKeyEvent::Down, Some(text)) = (event, text) {
                params.insert("text".into(), json!(text));
                params.insert("unmodifiedText".into(), json!(text));
            }
            // Editing keys (Backspace, arrows, Enter) act only with their key code.
            if let Some(code) = virtual_key_code(key) {
                params.insert("windowsVirtualKeyCode".into(), json!(code));
                params.insert("nativeVirtualKeyCode".into(), json!(code));
            }
            params.insert("modifiers".into(), json!(modifiers.unwrap_or(0)));
            Some(("Input.dispatchKeyEvent", Value::Object(params)))
        }
        BrowserRequest::Text { text, .. } => Some(("Input.insertText", json!({ "text": text }))),
        BrowserRequest::Navigate { url, .. } => Some(("Page.navigate", json!({ "url": url }))),
        BrowserRequest::Watch { .. }
        | BrowserRequest::Unwatch { .. }
        | BrowserRequest::TakeControl { .. }
        | BrowserRequest::ReleaseControl { .. } => None,
    }
}

/// The Windows virtual key code of a DOM `key` value, for the keys whose action Chrome derives
/// from it.
fn virtual_key_code(key: &str) -> Option<u32> {
    let named = match key {
        "Backspace" => 8,
        "Tab" => 9,
        "Enter" => 13,
        "Shift" => 16,
        "Control" => 17,
        "Alt" => 18,
        "Escape" => 27,
        " " => 32,
        "PageUp" => 33,
        "PageDown" => 34,
        "End" => 35,
        "Home" => 36,
        "ArrowLeft" => 37,
        "ArrowUp" => 38,
        "ArrowRight" => 39,
        "ArrowDown" => 40,
        "Delete" => 46,
        _ => {
            let mut chars = key.chars();
            return match (chars.next(), chars.next()) {
                (Some(c), None) if c.is_ascii_alphanumeric() => {
                    Some(u32::from(c.to_ascii_uppercase()))
                }
                _ => None,
            };
        }
    };
    Some(named)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mouse(event: BrowserMouseEvent, button: Option<BrowserMouseButton>) -> BrowserRequest {
        BrowserRequest::Mouse {
            id: None,
            event,
            x: 10.0,
            y: 20.0,
            button,
            click_count: None,
            modifiers: None,
            delta_x: None,
            delta_y: Some(-5.0),
        }
    }

    #[test]
    fn mouse_events_map_to_dispatch_mouse_event() {
        let (method, params) = input_call(&mouse(BrowserMouseEvent::Down, None)).unwrap();
        assert_eq!(method, "Input.dispatchMouseEvent");
        assert_eq!(
            params,
            json!({"type":"mousePressed","x":10.0,"y":20.0,"button":"left","clickCount":1,"modifiers":0})
        );
        let (_, params) = input_call(&mouse(BrowserMouseEvent::Up, None)).unwrap();
        assert_eq!(
            (params["type"].clone(), params["button"].clone()),
            (json!("mouseReleased"), json!("left"))
        );
        let (_, params) = input_call(&mouse(BrowserMouseEvent::Move, None)).unwrap();
        assert_eq!(
            (params["button"].clone(), params["clickCount"].clone()),
            (json!("none"), json!(0))
        );
        let (_, params) = input_call(&mouse(
            BrowserMouseEvent::Wheel,
            Some(BrowserMouseButton::Middle),
        ))
        .unwrap();
        assert_eq!(params["type"], "mouseWheel");
        assert_eq!(params["button"], "middle");
        assert_eq!(
            (params["deltaX"].clone(), params["deltaY"].clone()),
            (json!(0.0), json!(-5.0))
        );
    }

    #[test]
    fn keys_carry_text_on_down_and_editing_keys_their_code() {
        let key = |event, key: &str, text: Option<&str>| BrowserRequest::Key {
            id: None,
            event,
            key: key.into(),
            code: None,
            text: text.map(str::to_owned),
            modifiers: None,
        };
        let (method, params) = input_call(&key(BrowserKeyEvent::Down, "a", Some("a"))).unwrap();
        assert_eq!(method, "Input.dispatchKeyEvent");
        assert_eq!(params["type"], "keyDown");
        assert_eq!(params["text"], "a");
        assert_eq!(params["windowsVirtualKeyCode"], 65);
        let (_, params) = input_call(&key(BrowserKeyEvent::Up, "a", Some("a"))).unwrap();
        assert_eq!(params["type"], "keyUp");
        assert!(params.get("text").is_none(), "{params}");
        let (_, params) = input_call(&key(BrowserKeyEvent::Down, "Backspace", None)).unwrap();
        assert_eq!(params["windowsVirtualKeyCode"], 8);
        let (_, params) = input_call(&key(BrowserKeyEvent::Down, "Dead", None)).unwrap();
        assert!(params.get("windowsVirtualKeyCode").is_none());
    }

    #[test]
    fn text_and_navigate_and_the_rest() {
        let text = BrowserRequest::Text {
            id: None,
            text: "hi".into(),
        };
        assert_eq!(
            input_call(&text),
            Some(("Input.insertText", json!({"text":"hi"})))
        );
        let go = BrowserRequest::Navigate {
            id: None,
            url: "https://example.com".into(),
        };
        assert_eq!(
            input_call(&go),
            Some(("Page.navigate", json!({"url":"https://example.com"})))
        );
        assert_eq!(input_call(&BrowserRequest::Watch { id: None }), None);
    }
}
