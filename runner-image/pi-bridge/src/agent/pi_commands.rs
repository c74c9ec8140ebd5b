//! Canonical commands (§1.4) as Pi RPC commands (§6.3), and Pi's answers as canonical response
//! data. Pure: the conversation actor carries the plan out.

use std::path::Path;

use oqto_proto::canonical::{CommandKind, EventKind};
use serde_json::{Map, Value, json};

/// How a command is carried out.
#[derive(Debug, PartialEq)]
pub enum Plan {
    /// Answered by the bridge once Pi runs.
    Local(Option<Value>),
    /// Pi is restarted (on the same session file), then the bridge answers.
    Restart(Option<Value>),
    /// Written to Pi, which does not answer (extension UI replies).
    Send(Value),
    /// Sent to Pi; its `response` is reshaped.
    Request { command: Value, shape: Shape },
}

/// How Pi's `data` becomes the canonical response `data`, and the event that goes with it.
#[derive(Debug, PartialEq)]
pub enum Shape {
    /// No data (`null`).
    Nothing,
    /// Pi's data as it is.
    Data,
    /// One field of Pi's data (`get_available_models` → `models`).
    Field(&'static str),
    ModelChanged {
        provider: String,
        model_id: String,
    },
    ThinkingLevelChanged {
        level: String,
    },
    /// `{session_id}`: the Oqto session id stays the same across Pi sessions (§1.5).
    SessionId(String),
    /// `{text, cancelled, new_session_id}`.
    Forked(String),
    /// `get_fork_messages` → `[{entry_id, role, preview}]`.
    ForkPoints,
}

impl Shape {
    pub fn apply(self, data: Option<Value>) -> (Option<Value>, Option<EventKind>) {
        match self {
            Self::Nothing => (None, None),
            Self::Data => (data, None),
            Self::Field(name) => (data.and_then(|d| d.get(name).cloned()), None),
            Self::ModelChanged { provider, model_id } => (
                Some(json!({"provider": provider, "model_id": model_id})),
                Some(EventKind::ConfigModelChanged { provider, model_id }),
            ),
            Self::ThinkingLevelChanged { level } => (
                Some(Value::String(level.clone())),
                Some(EventKind::ConfigThinkingLevelChanged { level }),
            ),
            Self::SessionId(session_id) => (Some(json!({"session_id": session_id})), None),
            Self::Forked(session_id) => {
                let data = data.unwrap_or(Value::Null);
                (
                    Some(json!({
                        "text": data.get("text").cloned().unwrap_or(Value::Null),
                        "cancelled": data.get("cancelled").and_then(Value::as_bool).unwrap_or(false),
                        "new_session_id": session_id,
                    })),
                    None,
                )
            }
            Self::ForkPoints => {
                let points = data
                    .as_ref()
                    .and_then(|d| d.get("messages"))
                    .and_then(Value::as_array)
                    .map(|messages| {
                        messages
                            .iter()
                            .map(|m| {
                                json!({
                                    "entry_id": m.get("entryId").cloned().unwrap_or(Value::Null),
                                    "role": "user",
                                    "preview": m.get("text").cloned().unwrap_or(Value::Null),
                                })
                            })
                            .collect::<Vec<_>>()
                    })
                    .unwrap_or_default();
                (Some(Value::Array(points)), None)
            }
        }
    }
}

fn request(command: Value, shape: Shape) -> Result<Plan, String> {
    Ok(Plan::Request { command, shape })
}

fn non_empty(cmd: &str, field: &str, value: &str) -> Result<(), String> {
    if value.trim().is_empty() {
        return Err(format!("{cmd}: `{field}` must not be empty"));
    }
    Ok(())
}

/// The plan for one command of conversation `session_id` in `workspace`.
pub fn plan(kind: &CommandKind, session_id: &str, workspace: &Path) -> Result<Plan, String> {
    match kind {
        CommandKind::SessionCreate { .. } => Ok(Plan::Local(Some(json!({
            "session_id": session_id,
            "target_scope": "personal",
            "target_workspace_id": null,
            "workspace_path": workspace,
        })))),
        CommandKind::SessionRestart => Ok(Plan::Restart(Some(json!({"session_id": session_id})))),
        CommandKind::SessionNew { parent_session } => {
            let mut command = json!({"type": "new_session"});
            if let Some(parent) = parent_session {
                command["parentSession"] = Value::String(parent.clone());
            }
            request(command, Shape::SessionId(session_id.to_owned()))
        }
        CommandKind::Prompt {
            message, images, ..
        } => {
            non_empty("prompt", "message", message)?;
            let mut command = json!({"type": "prompt", "message": message});
            if let Some(images) = images.as_ref().filter(|i| !i.is_empty()) {
                let mut pi_images = Vec::with_capacity(images.len());
                for (i, image) in images.iter().enumerate() {
                    if image.data.is_empty() {
                        return Err(format!("prompt: `images[{i}].data` must not be empty"));
                    }
                    pi_images.push(
                        json!({"type": "image", "data": image.data, "mimeType": image.media_type}),
                    );
                }
                command["images"] = Value::Array(pi_images);
            }
            request(command, Shape::Nothing)
        }
        CommandKind::Steer { message, .. } => {
            non_empty("steer", "message", message)?;
            request(json!({"type": "steer", "message": message}), Shape::Nothing)
        }
        CommandKind::FollowUp { message, .. } => {
            non_empty("follow_up", "message", message)?;
            request(
                json!({"type": "follow_up", "message": message}),
                Shape::Nothing,
            )
        }
        CommandKind::Abort => request(json!({"type": "abort"}), Shape::Nothing),
        CommandKind::InputResponse {
            request_id,
            value,
            confirmed,
            cancelled,
        } => {
            non_empty("input_response", "request_id", request_id)?;
            let mut command = Map::new();
            command.insert("type".into(), "extension_ui_response".into());
            command.insert("id".into(), Value::String(request_id.clone()));
            if let Some(value) = value {
                command.insert("value".into(), value.clone());
            }
            if let Some(confirmed) = confirmed {
                command.insert("confirmed".into(), Value::Bool(*confirmed));
            }
            if let Some(cancelled) = cancelled {
                command.insert("cancelled".into(), Value::Bool(*cancelled));
            }
            Ok(Plan::Send(Value::Object(command)))
        }
        CommandKind::GetState => request(json!({"type": "get_state"}), Shape::Data),
        CommandKind::GetStats => request(json!({"type": "get_session_stats"}), Shape::Data),
        CommandKind::GetModels { .. } => request(
            json!({"type": "get_available_models"}),
            Shape::Field("models"),
        ),
        CommandKind::GetCommands => {
            request(json!({"type": "get_commands"}), Shape::Field("commands"))
        }
        CommandKind::GetForkPoints => {
            request(json!({"type": "get_fork_messages"}), Shape::ForkPoints)
        }
        CommandKind::SetModel { provider, model_id } => {
            non_empty("set_model", "provider", provider)?;
            non_empty("set_model", "model_id", model_id)?;
            request(
                json!({"type": "set_model", "provider": provider, "modelId": model_id}),
                Shape::ModelChanged {
                    provider: provider.clone(),
                    model_id: model_id.clone(),
                },
            )
        }
        CommandKind::CycleModel => request(json!({"type": "cycle_model"}), Shape::Data),
        CommandKind::SetThinkingLevel { level } => {
            let level = serde_json::to_value(level)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            request(
                json!({"type": "set_thinking_level", "level": level}),
                Shape::ThinkingLevelChanged { level },
            )
        }
        CommandKind::CycleThinkingLevel => {
            request(json!({"type": "cycle_thinking_level"}), Shape::Data)
        }
        CommandKind::SetAutoCompaction { enabled } => request(
            json!({"type": "set_auto_compaction", "enabled": enabled}),
            Shape::Nothing,
        ),
        CommandKind::SetAutoRetry { enabled } => request(
            json!({"type": "set_auto_retry", "enabled": enabled}),
            Shape::Nothing,
        ),
        CommandKind::AbortRetry => request(json!({"type": "abort_retry"}), Shape::Nothing),
        CommandKind::Compact { instructions } => {
            let mut command = json!({"type": "compact"});
            if let Some(instructions) = instructions {
                command["customInstructions"] = Value::String(instructions.clone());
            }
            request(command, Shape::Nothing)
        }
        CommandKind::SetSessionName { name } => {
            non_empty("set_session_name", "name", name)?;
            request(
                json!({"type": "set_session_name", "name": name}),
                Shape::Nothing,
            )
        }
        CommandKind::Fork { entry_id } => {
            non_empty("fork", "entry_id", entry_id)?;
            request(
                json!({"type": "fork", "entryId": entry_id}),
                Shape::Forked(session_id.to_owned()),
            )
        }
        other => Err(format!("`{}` is not supported by pi-bridge", other.name())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oqto_proto::canonical::Command;

    fn kind(json: Value) -> CommandKind {
        serde_json::from_value::<Command>(json).unwrap().kind
    }

    fn plan_of(json: Value) -> Result<Plan, String> {
        plan(&kind(json), "S", Path::new("/workspace"))
    }

    #[test]
    fn prompts_become_pi_prompts_with_pi_image_shape() {
        let plan = plan_of(json!({"cmd":"prompt","session_id":"S","message":"hi",
            "images":[{"data":"AAAA","media_type":"image/png"}]}))
        .unwrap();
        assert_eq!(
            plan,
            Plan::Request {
                command: json!({"type":"prompt","message":"hi","images":[{"type":"image","data":"AAAA","mimeType":"image/png"}]}),
                shape: Shape::Nothing
            }
        );
    }

    #[test]
    fn empty_required_fields_are_refused_by_name() {
        let err = plan_of(json!({"cmd":"prompt","session_id":"S","message":"  "})).unwrap_err();
        assert_eq!(err, "prompt: `message` must not be empty");
        let err = plan_of(json!({"cmd":"set_model","session_id":"S","provider":"p","model_id":""}))
            .unwrap_err();
        assert!(err.contains("`model_id`"), "{err}");
    }

    #[test]
    fn set_model_answers_and_announces() {
        let Plan::Request { command, shape } =
            plan_of(json!({"cmd":"set_model","session_id":"S","provider":"p","model_id":"m"}))
                .unwrap()
        else {
            panic!("expected a request")
        };
        assert_eq!(
            command,
            json!({"type":"set_model","provider":"p","modelId":"m"})
        );
        let (data, event) = shape.apply(Some(json!({"id":"m"})));
        assert_eq!(data, Some(json!({"provider":"p","model_id":"m"})));
        assert!(matches!(event, Some(EventKind::ConfigModelChanged { .. })));
    }

    #[test]
    fn input_responses_go_to_pi_as_extension_ui_responses() {
        let plan = plan_of(
            json!({"cmd":"input_response","session_id":"S","request_id":"u1","confirmed":true}),
        )
        .unwrap();
        assert_eq!(
            plan,
            Plan::Send(json!({"type":"extension_ui_response","id":"u1","confirmed":true}))
        );
    }

    #[test]
    fn fork_points_and_models_are_reshaped() {
        let (data, _) =
            Shape::ForkPoints.apply(Some(json!({"messages":[{"entryId":"e1","text":"hello"}]})));
        assert_eq!(
            data,
            Some(json!([{"entry_id":"e1","role":"user","preview":"hello"}]))
        );
        let (data, _) = Shape::Field("models").apply(Some(json!({"models":[{"id":"m"}]})));
        assert_eq!(data, Some(json!([{"id":"m"}])));
    }

    #[test]
    fn unsupported_commands_say_so() {
        let err = plan_of(json!({"cmd":"delegate.cancel","session_id":"S","request_id":"r"}))
            .unwrap_err();
        assert!(err.contains("delegate.cancel"), "{err}");
    }
}
