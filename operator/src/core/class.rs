//! A Workspace as its runners are built: with its WorkspaceClass (the one it names, or the
//! operator's default) applied, and a Session's model override held to the class's models.

use oqto_api::workspace_class::with_class;
use oqto_api::{Session, Workspace, WorkspaceClass};

use super::error::CoreError;

/// `wanted`: the class the Workspace needs (`oqto_api::workspace_class::class_name`); `class`:
/// what the store gave for it (`None`: no such class).
pub fn effective(
    workspace: &Workspace,
    wanted: Option<&str>,
    class: Option<&WorkspaceClass>,
) -> Result<Workspace, CoreError> {
    let Some(name) = wanted else {
        return Ok(workspace.clone());
    };
    let class = class.ok_or_else(|| CoreError::ClassNotFound {
        class: name.to_owned(),
    })?;
    let mut out = workspace.clone();
    out.spec = with_class(&workspace.spec, &class.spec)?;
    Ok(out)
}

/// A Session may pick its model only among its class's.
pub fn check_session(session: &Session, class: Option<&WorkspaceClass>) -> Result<(), CoreError> {
    match (class, &session.spec.model) {
        (Some(class), Some(model)) => Ok(class.spec.check_model("spec.model", model)?),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::desired::tests::workspace;
    use oqto_api::workspace_class::class_name;
    use serde_json::json;

    fn class(spec: serde_json::Value) -> WorkspaceClass {
        serde_json::from_value(
            json!({"apiVersion":"oqto.dev/v1alpha1","kind":"WorkspaceClass",
            "metadata":{"name":"standard","namespace":"ns"},"spec":spec}),
        )
        .unwrap()
    }

    #[test]
    fn a_missing_class_is_named() {
        let ws = workspace(json!({"owner":"a","workspaceClassName":"gpu"}));
        let error = effective(&ws, class_name(&ws.spec, Some("standard")), None).unwrap_err();
        assert_eq!(error.reason(), "WorkspaceClassNotFound");
        assert!(error.to_string().contains("\"gpu\""), "{error}");
    }

    #[test]
    fn the_default_class_applies_to_workspaces_that_name_none() {
        let ws = workspace(json!({"owner":"a"}));
        let standard =
            class(json!({"runner":{"image":"team/runner:3"},"network":{"egress":"Open"}}));
        let out = effective(&ws, class_name(&ws.spec, Some("standard")), Some(&standard)).unwrap();
        assert_eq!(out.spec.runner.image.as_deref(), Some("team/runner:3"));
        // No class wanted: the Workspace as it is.
        let alone = effective(&ws, class_name(&ws.spec, None), Some(&standard)).unwrap();
        assert_eq!(alone.spec.runner.image, None);
    }
}
