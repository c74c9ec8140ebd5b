//! What a virtual key allows: its Session must still exist (with the uid the key was minted
//! for), and the model must be one the Workspace's class allows. Looked up in the platform's
//! object store (the apiserver, or the local store on one node) on every request: a deleted
//! Session's key stops working at once, and a class change applies to the next request.

use std::future::Future;

use oqto_api::workspace_class::class_name;
use oqto_api::{Session, Workspace, WorkspaceClass};
use oqto_proto::llm::KeyClaims;
use oqto_store::ObjectStore;

/// Who is calling, and what they may use.
#[derive(Clone, Debug, PartialEq)]
pub struct Grant {
    pub user: String,
    pub namespace: String,
    pub workspace: String,
    pub session: String,
    /// The Workspace's class (for class budgets).
    pub class: Option<String>,
    /// Models the Workspace's class allows; empty: every model of the catalogue.
    pub models: Vec<String>,
}

impl Grant {
    pub fn allows(&self, model: &str) -> bool {
        self.models.is_empty() || self.models.iter().any(|m| m == model)
    }
}

/// Where grants come from.
pub trait Grants: Send + Sync + 'static {
    /// The grant of a key's Session; None when the Session is gone, was made again under its
    /// name, or is being deleted.
    fn grant(
        &self,
        claims: &KeyClaims,
    ) -> impl Future<Output = Result<Option<Grant>, String>> + Send;
}

/// Grants read from the platform's store.
pub struct StoreGrants<S> {
    pub store: S,
    /// The class of Workspaces that name none (`--default-workspace-class`, as the operator's).
    pub default_class: Option<String>,
}

impl<S: ObjectStore> Grants for StoreGrants<S> {
    async fn grant(&self, claims: &KeyClaims) -> Result<Option<Grant>, String> {
        let ns = claims.namespace.as_str();
        let session = self
            .store
            .get::<Session>(ns, &claims.session)
            .await
            .map_err(|e| e.to_string())?;
        let Some(session) = session.filter(|s| {
            s.metadata.uid.as_deref() == Some(claims.session_uid.as_str())
                && s.metadata.deletion_timestamp.is_none()
        }) else {
            return Ok(None);
        };
        let workspace_name = session.spec.workspace_ref.name.clone();
        let Some(workspace) = self
            .store
            .get::<Workspace>(ns, &workspace_name)
            .await
            .map_err(|e| e.to_string())?
            .filter(|w| w.metadata.deletion_timestamp.is_none())
        else {
            return Ok(None);
        };
        let class = class_name(&workspace.spec, self.default_class.as_deref()).map(str::to_owned);
        let models = match class.as_deref() {
            Some(class) => match self
                .store
                .get::<WorkspaceClass>(ns, class)
                .await
                .map_err(|e| e.to_string())?
            {
                Some(class) => class.spec.models,
                // A class that is gone allows nothing: its Workspace cannot start either.
                None => return Ok(None),
            },
            None => Vec::new(),
        };
        Ok(Some(Grant {
            user: workspace.spec.owner.clone(),
            namespace: claims.namespace.clone(),
            workspace: workspace_name,
            session: claims.session.clone(),
            class,
            models,
        }))
    }
}
