//! Resources through the apiserver. The apiserver validates (schema and CEL rules) and its
//! field-naming messages reach the caller as `invalid`.

use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use oqto_api::{Session, Workspace};
use serde_json::json;

use super::FIELD_MANAGER;
use crate::error::ApiError;

pub struct KubeResources {
    pub namespace: String,
    workspaces: Api<Workspace>,
    sessions: Api<Session>,
}

impl KubeResources {
    pub fn new(client: Client, namespace: &str) -> Self {
        Self {
            namespace: namespace.to_owned(),
            workspaces: Api::namespaced(client.clone(), namespace),
            sessions: Api::namespaced(client, namespace),
        }
    }

    pub async fn list_workspaces(&self) -> Result<Vec<Workspace>, ApiError> {
        Ok(self
            .workspaces
            .list(&ListParams::default())
            .await
            .map_err(error)?
            .items)
    }

    pub async fn get_workspace(&self, name: &str) -> Result<Option<Workspace>, ApiError> {
        self.workspaces.get_opt(name).await.map_err(error)
    }

    pub async fn create_workspace(&self, workspace: Workspace) -> Result<Workspace, ApiError> {
        self.workspaces
            .create(&PostParams::default(), &workspace)
            .await
            .map_err(error)
    }

    pub async fn apply_workspace(&self, workspace: Workspace) -> Result<Workspace, ApiError> {
        let name = workspace.metadata.name.clone().unwrap_or_default();
        self.workspaces
            .patch(
                &name,
                &PatchParams::apply(FIELD_MANAGER),
                &Patch::Apply(&workspace),
            )
            .await
            .map_err(error)
    }

    pub async fn delete_workspace(&self, name: &str) -> Result<bool, ApiError> {
        deleted(
            self.workspaces
                .delete(name, &DeleteParams::background())
                .await,
        )
    }

    pub async fn list_sessions(&self, workspace: &str) -> Result<Vec<Session>, ApiError> {
        // The CRD declares spec.workspaceRef.name selectable.
        let params = ListParams::default().fields(&format!("spec.workspaceRef.name={workspace}"));
        Ok(self.sessions.list(&params).await.map_err(error)?.items)
    }

    pub async fn get_session(&self, name: &str) -> Result<Option<Session>, ApiError> {
        self.sessions.get_opt(name).await.map_err(error)
    }

    pub async fn create_session(&self, session: Session) -> Result<Session, ApiError> {
        self.sessions
            .create(&PostParams::default(), &session)
            .await
            .map_err(error)
    }

    pub async fn apply_session(&self, session: Session) -> Result<Session, ApiError> {
        let name = session.metadata.name.clone().unwrap_or_default();
        self.sessions
            .patch(
                &name,
                &PatchParams::apply(FIELD_MANAGER),
                &Patch::Apply(&session),
            )
            .await
            .map_err(error)
    }

    pub async fn delete_session(&self, name: &str) -> Result<bool, ApiError> {
        deleted(
            self.sessions
                .delete(name, &DeleteParams::background())
                .await,
        )
    }

    pub async fn set_suspended(&self, name: &str, suspended: bool) -> Result<Session, ApiError> {
        let patch = json!({ "spec": { "suspended": suspended } });
        self.sessions
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(error)
    }
}

fn deleted<T>(result: Result<T, kube::Error>) -> Result<bool, ApiError> {
    match result {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(false),
        Err(e) => Err(error(e)),
    }
}

/// The apiserver's answer as one of ours. Its messages name the field
/// (`spec.storage.size: Invalid value: …`); they are passed on as they are.
fn error(error: kube::Error) -> ApiError {
    match error {
        kube::Error::Api(status) => match status.code {
            404 => ApiError::NotFound(status.message.clone()),
            409 if status.reason == "AlreadyExists" => {
                ApiError::AlreadyExists(status.message.clone())
            }
            409 => ApiError::Conflict(status.message.clone()),
            400 | 422 => ApiError::Invalid {
                message: status.message.clone(),
                details: None,
            },
            403 => ApiError::Unavailable(format!(
                "the gateway's service account may not do this: {}",
                status.message
            )),
            _ => ApiError::Unavailable(format!("the Kubernetes API answered: {}", status.message)),
        },
        other => ApiError::Unavailable(format!("the Kubernetes API is unavailable: {other}")),
    }
}
