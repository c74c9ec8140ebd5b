//! Single-node mode keeps Workspaces and Sessions in a local store instead of an apiserver, with
//! the same schema (apiVersion, kind, metadata, spec, status) so the same YAML works in both
//! modes, and the apiserver's write rules: a uid and creationTimestamp on create, `generation`
//! bumped when the spec changes, a global `resourceVersion` on every write, and status writes
//! that fail with a conflict when the object changed since it was read (optimistic
//! concurrency). One JSON file per object, written atomically (temp file + rename).

use std::path::{Path, PathBuf};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use oqto_api::names::is_object_name;
use serde_json::Value;
use tokio::sync::watch;

use crate::{EventNote, ObjectStore, StoreError, StoredKind, key_of};

/// Events kept per object (the newest), as `kubectl describe` shows the recent ones.
const EVENTS_KEPT: usize = 32;

pub struct LocalStore {
    dir: PathBuf,
    id: String,
    changed: watch::Sender<u64>,
}

/// DNS-1123 subdomain, as Kubernetes requires of object names.
fn check_name(field: &'static str, name: &str) -> Result<(), StoreError> {
    if is_object_name(name) {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "metadata.{field}: Invalid value: {name:?} must be a lowercase DNS-1123 name (a-z, 0-9, '-', '.')"
        )))
    }
}

impl LocalStore {
    /// Where single-node mode keeps its store unless told otherwise (`--state-dir`), the same
    /// for the operator and the gateway: `$XDG_STATE_HOME/oqto/store`, else
    /// `~/.local/state/oqto/store`, else `/var/lib/oqto/store`.
    pub fn default_dir() -> PathBuf {
        std::env::var_os("XDG_STATE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
            .unwrap_or_else(|| PathBuf::from("/var/lib"))
            .join("oqto/store")
    }

    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
            path: dir.into(),
            source,
        })?;
        let (changed, _) = watch::channel(0);
        let id = Self::read_or_create_id(dir)?;
        Ok(Self {
            dir: dir.into(),
            id,
            changed,
        })
    }

    /// This store's identity (`<dir>/store-id`, made once): the Podman objects of one store
    /// carry it, so two stores on one Podman host (a developer's stack and a test's) never
    /// prune each other's runners.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn read_or_create_id(dir: &Path) -> Result<String, StoreError> {
        read_or_create(&dir.join("store-id"), || {
            uuid::Uuid::new_v4().simple().to_string()
        })
    }

    /// The key of runner tokens (`oqto_proto::runner::RunnerKey`) in single-node mode:
    /// `<dir>/runner-key`, made at first use and readable only by its owner. The gateway and
    /// the operator share this directory, so both derive the same tokens.
    pub fn runner_key(&self) -> Result<String, StoreError> {
        self.platform_key("runner-key")
    }

    /// A platform key kept as `<dir>/<file>`, made at first use and readable only by its owner
    /// (the runner key; the LLM proxy's key signer, shared by the operator and the proxy).
    pub fn platform_key(&self, file: &str) -> Result<String, StoreError> {
        read_or_create(&self.dir.join(file), || {
            // Two v4 uuids: 244 random bits from the system's generator.
            format!(
                "{}{}",
                uuid::Uuid::new_v4().simple(),
                uuid::Uuid::new_v4().simple()
            )
        })
    }

    /// Writers take an exclusive `flock` on `<dir>/.lock`: the operator, the gateway and
    /// `oqto-operator apply` are separate processes (or containers) sharing this directory, and
    /// every check-then-write (resource versions, optimistic status) must see the others' writes.
    /// The lock goes with the returned file.
    fn lock(&self) -> Result<std::fs::File, StoreError> {
        let path = self.dir.join(".lock");
        let io = |source| StoreError::Io {
            path: path.clone(),
            source,
        };
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io)?;
        file.lock().map_err(io)?;
        Ok(file)
    }

    /// The store's resource version as written by any process: it moves on every write and
    /// delete, so a poll of this one small file tells whether anything changed.
    pub fn version_on_disk(&self) -> u64 {
        std::fs::read_to_string(self.dir.join("resource-version"))
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    }

    /// A receiver that changes on every write.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    fn path<K: StoredKind>(&self, namespace: &str, name: &str) -> PathBuf {
        self.dir
            .join(K::KIND)
            .join(namespace)
            .join(format!("{name}.json"))
    }

    fn next_version(&self) -> Result<String, StoreError> {
        let path = self.dir.join("resource-version");
        let current: u64 = std::fs::read_to_string(&path)
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        let next = current + 1;
        write_atomic(&path, next.to_string().as_bytes())?;
        Ok(next.to_string())
    }

    fn read<K: StoredKind>(&self, path: &Path) -> Result<Option<K>, StoreError> {
        match std::fs::read(path) {
            // A file that is JSON but not the type (written by an older release, or by hand) is
            // unreadable, not corrupt: it is reported on the object.
            Ok(bytes) => match serde_json::from_slice::<Value>(&bytes) {
                Ok(value) => serde_json::from_value(value)
                    .map(Some)
                    .map_err(|e| StoreError::Unreadable(format!("{}: {e}", path.display()))),
                Err(source) => Err(StoreError::Corrupt {
                    path: path.into(),
                    source,
                }),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StoreError::Io {
                path: path.into(),
                source,
            }),
        }
    }

    fn write<K: StoredKind>(&self, object: &K) -> Result<(), StoreError> {
        let meta = object.meta();
        let path = self.path::<K>(
            meta.namespace.as_deref().unwrap_or("default"),
            meta.name.as_deref().unwrap_or_default(),
        );
        let bytes = serde_json::to_vec_pretty(object).map_err(|source| StoreError::Corrupt {
            path: path.clone(),
            source,
        })?;
        write_atomic(&path, &bytes)?;
        self.changed.send_modify(|n| *n += 1);
        Ok(())
    }

    pub fn get<K: StoredKind>(&self, namespace: &str, name: &str) -> Result<Option<K>, StoreError> {
        self.read(&self.path::<K>(namespace, name))
    }

    /// Objects of one namespace, or of all with `None`, sorted by name.
    pub fn list<K: StoredKind>(&self, namespace: Option<&str>) -> Result<Vec<K>, StoreError> {
        let root = self.dir.join(K::KIND);
        let mut out = Vec::new();
        let Ok(namespaces) = std::fs::read_dir(&root) else {
            return Ok(out);
        };
        for entry in namespaces.flatten() {
            if namespace.is_some_and(|ns| entry.file_name().to_str() != Some(ns)) {
                continue;
            }
            let Ok(files) = std::fs::read_dir(entry.path()) else {
                continue;
            };
            for file in files.flatten() {
                let path = file.path();
                if path.extension().is_some_and(|e| e == "json")
                    && let Some(object) = self.read::<K>(&path)?
                {
                    out.push(object);
                }
            }
        }
        out.sort_by_key(|o| key_of(o));
        Ok(out)
    }

    /// Creates; refused when the name is taken (also by an object still being deleted).
    pub fn create<K: StoredKind>(&self, object: K) -> Result<K, StoreError> {
        let _guard = self.lock()?;
        let (namespace, name) = key_of(&object);
        if self.get::<K>(&namespace, &name)?.is_some() {
            return Err(StoreError::already_exists::<K>(&name));
        }
        self.apply_locked(object)
    }

    /// Creates or updates an object's metadata (labels, annotations) and spec, as `kubectl
    /// apply` would; the status is kept. The rules of `oqto_api::rules` hold as on the apiserver.
    pub fn apply<K: StoredKind>(&self, object: K) -> Result<K, StoreError> {
        let _guard = self.lock()?;
        self.apply_locked(object)
    }

    fn apply_locked<K: StoredKind>(&self, mut object: K) -> Result<K, StoreError> {
        let (namespace, name) = key_of(&object);
        check_name("name", &name)?;
        check_name("namespace", &namespace)?;
        object.validate()?;
        let existing: Option<K> = self.get(&namespace, &name)?;
        if let Some(old) = &existing {
            object.validate_update(old)?;
        }
        let version = self.next_version()?;
        let spec = object.spec_value();
        let meta = object.meta_mut();
        meta.namespace = Some(namespace.clone());
        meta.resource_version = Some(version);
        meta.managed_fields = None;
        match &existing {
            None => {
                meta.uid = Some(uuid::Uuid::new_v4().to_string());
                meta.creation_timestamp = Some(Time(Timestamp::now()));
                meta.generation = Some(1);
                meta.deletion_timestamp = None;
            }
            Some(old) => {
                let old_meta = old.meta();
                meta.uid = old_meta.uid.clone();
                meta.creation_timestamp = old_meta.creation_timestamp.clone();
                // Set by delete only; finalizers are the operator's (set_finalizers).
                meta.deletion_timestamp = old_meta.deletion_timestamp.clone();
                meta.finalizers = old_meta.finalizers.clone();
                let bump = i64::from(old.spec_value() != spec);
                meta.generation = Some(old_meta.generation.unwrap_or(1) + bump);
            }
        }
        // The status belongs to the operator: an apply never changes it.
        let old_status = existing
            .as_ref()
            .and_then(|o| serde_json::to_value(o).ok())
            .and_then(|v| v.get("status").cloned());
        let object = self.with_status(&object, old_status)?;
        self.write(&object)?;
        Ok(object)
    }

    /// `object` with its status replaced by `status` (removed with None).
    fn with_status<K: StoredKind>(
        &self,
        object: &K,
        status: Option<Value>,
    ) -> Result<K, StoreError> {
        let corrupt = |source| StoreError::Corrupt {
            path: self.dir.clone(),
            source,
        };
        let mut value = serde_json::to_value(object).map_err(corrupt)?;
        if let Some(map) = value.as_object_mut() {
            match status {
                Some(status) => map.insert("status".into(), status),
                None => map.remove("status"),
            };
        }
        serde_json::from_value(value).map_err(corrupt)
    }

    /// A JSON merge patch of the spec, under the same rules as an apply.
    pub fn patch_spec<K: StoredKind>(
        &self,
        namespace: &str,
        name: &str,
        patch: &Value,
    ) -> Result<K, StoreError> {
        let _guard = self.lock()?;
        let current: K = self
            .get(namespace, name)?
            .ok_or_else(|| StoreError::not_found::<K>(name))?;
        let corrupt = |source| StoreError::Corrupt {
            path: self.dir.clone(),
            source,
        };
        let mut value = serde_json::to_value(&current).map_err(corrupt)?;
        if let Some(spec) = value.get_mut("spec") {
            merge_patch(spec, patch);
        }
        let patched: K = serde_json::from_value(value)
            .map_err(|e| StoreError::Invalid(format!("spec: Invalid value: {e}")))?;
        self.apply_locked(patched)
    }

    /// A merge patch of labels, annotations and spec if the object is still at
    /// `resource_version` (see [`ObjectStore::patch_if_unchanged`]).
    pub fn patch_if_unchanged<K: StoredKind>(
        &self,
        namespace: &str,
        name: &str,
        resource_version: &str,
        patch: &Value,
    ) -> Result<K, StoreError> {
        check_patch_fields(patch)?;
        let _guard = self.lock()?;
        let current: K = self
            .get(namespace, name)?
            .ok_or_else(|| StoreError::not_found::<K>(name))?;
        if current.meta().resource_version.as_deref() != Some(resource_version) {
            return Err(StoreError::Conflict(format!(
                "{} {name:?} was changed since it was read (resourceVersion {resource_version:?}, now {:?}); read it again",
                K::RESOURCE,
                current.meta().resource_version
            )));
        }
        let corrupt = |source| StoreError::Corrupt {
            path: self.dir.clone(),
            source,
        };
        let mut value = serde_json::to_value(&current).map_err(corrupt)?;
        merge_patch(&mut value, patch);
        let patched: K = serde_json::from_value(value)
            .map_err(|e| StoreError::Invalid(format!("Invalid value: {e}")))?;
        self.apply_locked(patched)
    }

    /// Writes `object`'s status if nothing changed since it was read (optimistic concurrency:
    /// a conflict means the next pass sees the newer object).
    pub fn update_status<K: StoredKind>(&self, object: &K) -> Result<K, StoreError> {
        let _guard = self.lock()?;
        let (namespace, name) = key_of(object);
        let Some(current) = self.get::<K>(&namespace, &name)? else {
            return Err(StoreError::not_found::<K>(&name));
        };
        let expected = &object.meta().resource_version;
        if expected.is_some() && current.meta().resource_version != *expected {
            return Err(StoreError::Conflict(format!(
                "{} {name:?} was changed since it was read (resourceVersion {expected:?}, now {:?}); read it again",
                K::RESOURCE,
                current.meta().resource_version
            )));
        }
        let status = serde_json::to_value(object)
            .ok()
            .and_then(|v| v.get("status").cloned());
        let mut updated = self.with_status(&current, status)?;
        updated.meta_mut().resource_version = Some(self.next_version()?);
        self.write(&updated)?;
        Ok(updated)
    }

    /// Deletes an object; one with finalizers gets a `deletionTimestamp` and stays until they
    /// are removed.
    pub fn delete<K: StoredKind>(&self, namespace: &str, name: &str) -> Result<bool, StoreError> {
        let _guard = self.lock()?;
        let Some(current) = self.get::<K>(namespace, name)? else {
            return Ok(false);
        };
        self.delete_locked(current, namespace, name)
    }

    /// [`LocalStore::delete`] if the object is still at `resource_version`.
    pub fn delete_if_unchanged<K: StoredKind>(
        &self,
        namespace: &str,
        name: &str,
        resource_version: &str,
    ) -> Result<bool, StoreError> {
        let _guard = self.lock()?;
        let Some(current) = self.get::<K>(namespace, name)? else {
            return Ok(false);
        };
        if current.meta().resource_version.as_deref() != Some(resource_version) {
            return Err(StoreError::Conflict(format!(
                "{} {name:?} was changed since it was read (resourceVersion {resource_version:?}, now {:?}); not deleted",
                K::RESOURCE,
                current.meta().resource_version
            )));
        }
        self.delete_locked(current, namespace, name)
    }

    fn delete_locked<K: StoredKind>(
        &self,
        mut current: K,
        namespace: &str,
        name: &str,
    ) -> Result<bool, StoreError> {
        if current
            .meta()
            .finalizers
            .as_ref()
            .is_some_and(|f| !f.is_empty())
        {
            if current.meta().deletion_timestamp.is_none() {
                current.meta_mut().deletion_timestamp = Some(Time(Timestamp::now()));
                current.meta_mut().resource_version = Some(self.next_version()?);
                self.write(&current)?;
            }
            return Ok(true);
        }
        self.remove::<K>(namespace, name)?;
        Ok(true)
    }

    fn remove<K: StoredKind>(&self, namespace: &str, name: &str) -> Result<(), StoreError> {
        let path = self.path::<K>(namespace, name);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(source) => return Err(StoreError::Io { path, source }),
        }
        self.next_version()?;
        self.changed.send_modify(|n| *n += 1);
        let _ = std::fs::remove_file(self.events_path::<K>(namespace, name));
        Ok(())
    }

    /// Sets the finalizers; removing the last one of a deleted object removes it.
    pub fn set_finalizers<K: StoredKind>(
        &self,
        namespace: &str,
        name: &str,
        finalizers: Vec<String>,
    ) -> Result<(), StoreError> {
        let _guard = self.lock()?;
        let Some(mut current) = self.get::<K>(namespace, name)? else {
            return Err(StoreError::not_found::<K>(name));
        };
        if current.meta().deletion_timestamp.is_some() && finalizers.is_empty() {
            return self.remove::<K>(namespace, name);
        }
        if current.meta().deletion_timestamp.is_some()
            && finalizers
                .iter()
                .any(|f| !current.meta().finalizers.iter().flatten().any(|o| o == f))
        {
            return Err(StoreError::Invalid(
                "metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted".into(),
            ));
        }
        current.meta_mut().finalizers = (!finalizers.is_empty()).then_some(finalizers);
        current.meta_mut().resource_version = Some(self.next_version()?);
        self.write(&current)
    }

    fn events_path<K: StoredKind>(&self, namespace: &str, name: &str) -> PathBuf {
        self.dir
            .join("events")
            .join(namespace)
            .join(format!("{}.{name}.jsonl", K::KIND))
    }

    /// Appends an Event to the object's list (the newest `EVENTS_KEPT`).
    pub fn record_event<K: StoredKind>(
        &self,
        object: &K,
        event: &EventNote,
    ) -> Result<(), StoreError> {
        let _guard = self.lock()?;
        let (namespace, name) = key_of(object);
        let path = self.events_path::<K>(&namespace, &name);
        let mut lines: Vec<String> = std::fs::read_to_string(&path)
            .map(|t| t.lines().map(str::to_owned).collect())
            .unwrap_or_default();
        #[derive(serde::Serialize)]
        struct Stored<'a> {
            time: Time,
            #[serde(flatten)]
            event: &'a EventNote,
        }
        let line = serde_json::to_string(&Stored {
            time: Time(Timestamp::now()),
            event,
        })
        .map_err(|source| StoreError::Corrupt {
            path: path.clone(),
            source,
        })?;
        lines.push(line);
        let keep = lines.len().saturating_sub(EVENTS_KEPT);
        write_atomic(&path, (lines[keep..].join("\n") + "\n").as_bytes())
    }

    /// The recorded Events of an object, oldest first.
    pub fn events<K: StoredKind>(&self, namespace: &str, name: &str) -> Vec<EventNote> {
        std::fs::read_to_string(self.events_path::<K>(namespace, name))
            .map(|t| {
                t.lines()
                    .filter_map(|l| serde_json::from_str(l).ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Where single-node mode keeps Secrets: `secrets/<namespace>/<name>.env`, `KEY=VALUE` lines.
    pub fn secret_path(&self, namespace: &str, name: &str) -> PathBuf {
        self.dir
            .join("secrets")
            .join(namespace)
            .join(format!("{name}.env"))
    }

    /// A Secret's keys and values (the runner's environment, as `envFrom` on Kubernetes).
    /// None when the Secret does not exist.
    pub fn secret(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Vec<(String, String)>>, StoreError> {
        let path = self.secret_path(namespace, name);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(StoreError::Io { path, source }),
        };
        let mut pairs = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                // Never echo the line: it may hold a value.
                return Err(StoreError::Invalid(format!(
                    "secret {}: line {} is not KEY=VALUE",
                    path.display(),
                    n + 1
                )));
            };
            pairs.push((key.trim().to_owned(), value.to_owned()));
        }
        Ok(Some(pairs))
    }
}

/// RFC 7396: objects merge, `null` removes, anything else replaces.
fn merge_patch(target: &mut Value, patch: &Value) {
    match (target.as_object_mut(), patch.as_object()) {
        (Some(target), Some(patch)) => {
            for (key, value) in patch {
                if value.is_null() {
                    target.remove(key);
                } else {
                    merge_patch(target.entry(key.clone()).or_insert(Value::Null), value);
                }
            }
        }
        _ => *target = patch.clone(),
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let io = |source| StoreError::Io {
        path: path.into(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// The file operations are short (one small file, one `flock`), so they run inline.
impl ObjectStore for LocalStore {
    async fn get<K: StoredKind>(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<K>, StoreError> {
        LocalStore::get(self, namespace, name)
    }

    async fn list<K: StoredKind>(&self, namespace: Option<&str>) -> Result<Vec<K>, StoreError> {
        LocalStore::list(self, namespace)
    }

    async fn sessions_of(
        &self,
        namespace: &str,
        workspace: &str,
    ) -> Result<Vec<oqto_api::Session>, StoreError> {
        let sessions: Vec<oqto_api::Session> = LocalStore::list(self, Some(namespace))?;
        Ok(sessions
            .into_iter()
            .filter(|s| s.spec.workspace_ref.name == workspace)
            .collect())
    }

    async fn create<K: StoredKind>(&self, object: K) -> Result<K, StoreError> {
        LocalStore::create(self, object)
    }

    async fn apply<K: StoredKind>(&self, object: K) -> Result<K, StoreError> {
        LocalStore::apply(self, object)
    }

    async fn patch_spec<K: StoredKind>(
        &self,
        namespace: &str,
        name: &str,
        patch: Value,
    ) -> Result<K, StoreError> {
        LocalStore::patch_spec(self, namespace, name, &patch)
    }

    async fn patch_if_unchanged<K: StoredKind>(
        &self,
        namespace: &str,
        name: &str,
        resource_version: &str,
        patch: Value,
    ) -> Result<K, StoreError> {
        LocalStore::patch_if_unchanged(self, namespace, name, resource_version, &patch)
    }

    async fn write_status<K: StoredKind>(&self, object: &K) -> Result<(), StoreError> {
        LocalStore::update_status(self, object).map(drop)
    }

    async fn delete<K: StoredKind>(&self, namespace: &str, name: &str) -> Result<bool, StoreError> {
        LocalStore::delete::<K>(self, namespace, name)
    }

    async fn delete_if_unchanged<K: StoredKind>(
        &self,
        namespace: &str,
        name: &str,
        resource_version: &str,
    ) -> Result<bool, StoreError> {
        LocalStore::delete_if_unchanged::<K>(self, namespace, name, resource_version)
    }

    async fn set_finalizers<K: StoredKind>(
        &self,
        namespace: &str,
        name: &str,
        finalizers: Vec<String>,
    ) -> Result<(), StoreError> {
        LocalStore::set_finalizers::<K>(self, namespace, name, finalizers)
    }

    async fn record_event<K: StoredKind>(&self, object: &K, event: EventNote) {
        tracing::info!(kind = K::KIND, object = ?key_of(object), reason = %event.reason, note = %event.note, warning = event.warning, "event");
        if let Err(error) = LocalStore::record_event(self, object, &event) {
            tracing::debug!(%error, "recording an event failed");
        }
    }
}

/// The content of a small file made once: of two processes making it at once, one content
/// wins (`create_new`) and both return it. Mode 0600: it may be a secret.
fn read_or_create(path: &Path, make: impl FnOnce() -> String) -> Result<String, StoreError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let io = |source| StoreError::Io {
        path: path.into(),
        source,
    };
    if let Ok(content) = std::fs::read_to_string(path)
        && !content.trim().is_empty()
    {
        return Ok(content.trim().to_owned());
    }
    let content = make();
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(mut file) => {
            file.write_all(content.as_bytes()).map_err(io)?;
            Ok(content)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            std::thread::sleep(std::time::Duration::from_millis(20));
            Ok(std::fs::read_to_string(path).map_err(io)?.trim().to_owned())
        }
        Err(e) => Err(io(e)),
    }
}

/// What [`ObjectStore::patch_if_unchanged`] may change: labels, annotations and spec; never
/// names, owners, finalizers or status (they have writers of their own).
pub(crate) fn check_patch_fields(patch: &Value) -> Result<(), StoreError> {
    let refused = |field: &str| {
        Err(StoreError::Invalid(format!(
            "{field}: a conditional patch changes only labels, annotations and spec"
        )))
    };
    let Some(fields) = patch.as_object() else {
        return refused("patch");
    };
    for (field, value) in fields {
        match field.as_str() {
            "spec" => {}
            "metadata" => {
                let Some(meta) = value.as_object() else {
                    return refused("metadata");
                };
                if let Some(other) = meta
                    .keys()
                    .find(|k| !matches!(k.as_str(), "labels" | "annotations"))
                {
                    return refused(&format!("metadata.{other}"));
                }
            }
            other => return refused(other),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use oqto_api::Session;
    use serde_json::json;

    fn session(spec: Value) -> Session {
        serde_json::from_value(json!({"apiVersion":"oqto.dev/v1alpha1","kind":"Session",
            "metadata":{"name":"s1"},"spec":spec}))
        .unwrap()
    }

    #[test]
    fn the_runner_key_is_made_once_private_and_shared_by_every_opener() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let key = LocalStore::open(dir.path()).unwrap().runner_key().unwrap();
        assert!(key.len() >= 64, "{} characters", key.len());
        let again = LocalStore::open(dir.path()).unwrap().runner_key().unwrap();
        assert_eq!(key, again, "the gateway and the operator read one key");
        let mode = std::fs::metadata(dir.path().join("runner-key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let other = tempfile::tempdir().unwrap();
        let elsewhere = LocalStore::open(other.path())
            .unwrap()
            .runner_key()
            .unwrap();
        assert_ne!(key, elsewhere);
    }

    #[test]
    fn a_conditional_patch_applies_once_and_refuses_a_stale_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(dir.path()).unwrap();
        let mut spare = session(json!({"workspaceRef":{"name":"w"}}));
        spare.metadata.labels = Some([("oqto.dev/spare".to_owned(), "true".to_owned())].into());
        let read = store.apply(spare).unwrap();
        let version = read.metadata.resource_version.clone().unwrap();
        let claim = json!({"metadata": {"labels": {"oqto.dev/spare": null},
            "annotations": {"oqto.dev/claimed-at": "2026-12-04T10:00:00Z"}},
            "spec": {"displayName": "mine"}});
        let claimed: Session = store
            .patch_if_unchanged("default", "s1", &version, &claim)
            .unwrap();
        assert!(claimed.metadata.labels.unwrap_or_default().is_empty());
        assert_eq!(claimed.spec.display_name.as_deref(), Some("mine"));
        assert_eq!(claimed.metadata.uid, read.metadata.uid);
        let second = store.patch_if_unchanged::<Session>("default", "s1", &version, &claim);
        assert!(matches!(second, Err(StoreError::Conflict(_))), "{second:?}");
        let stale_delete = store.delete_if_unchanged::<Session>("default", "s1", &version);
        assert!(
            matches!(stale_delete, Err(StoreError::Conflict(_))),
            "a claimed spare deleted"
        );
        for forbidden in [
            json!({"status": {"phase": "Running"}}),
            json!({"metadata": {"finalizers": []}}),
            json!({"metadata": {"name": "other"}}),
        ] {
            let refused = store.patch_if_unchanged::<Session>(
                "default",
                "s1",
                claimed.metadata.resource_version.as_deref().unwrap(),
                &forbidden,
            );
            assert!(
                matches!(refused, Err(StoreError::Invalid(_))),
                "{forbidden}"
            );
        }
        let current = claimed.metadata.resource_version.as_deref().unwrap();
        assert!(
            store
                .delete_if_unchanged::<Session>("default", "s1", current)
                .unwrap()
        );
        assert!(store.get::<Session>("default", "s1").unwrap().is_none());
    }

    #[test]
    fn apply_assigns_identity_and_bumps_generation_only_on_spec_changes() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(dir.path()).unwrap();
        let first = store
            .apply(session(json!({"workspaceRef":{"name":"w"}})))
            .unwrap();
        assert_eq!(first.metadata.namespace.as_deref(), Some("default"));
        assert_eq!(first.metadata.generation, Some(1));
        assert!(first.metadata.uid.is_some() && first.metadata.creation_timestamp.is_some());
        let same = store
            .apply(session(json!({"workspaceRef":{"name":"w"}})))
            .unwrap();
        assert_eq!(same.metadata.generation, Some(1));
        assert_eq!(same.metadata.uid, first.metadata.uid);
        assert_ne!(
            same.metadata.resource_version,
            first.metadata.resource_version
        );
        let changed = store
            .apply(session(
                json!({"workspaceRef":{"name":"w"},"suspended":true}),
            ))
            .unwrap();
        assert_eq!(changed.metadata.generation, Some(2));
        assert_eq!(store.list::<Session>(None).unwrap().len(), 1);
    }

    #[test]
    fn status_writes_are_optimistic_and_applies_keep_status() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(dir.path()).unwrap();
        let read = store
            .apply(session(json!({"workspaceRef":{"name":"w"}})))
            .unwrap();
        let mut with_status = read.clone();
        with_status.status = Some(oqto_api::SessionStatus {
            pod_name: Some("p".into()),
            ..Default::default()
        });
        store.update_status(&with_status).unwrap();
        // A second writer holding the old copy loses.
        let err = store.update_status(&with_status).unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err}");
        // A user's apply keeps the operator's status.
        let applied = store
            .apply(session(
                json!({"workspaceRef":{"name":"w"},"suspended":true}),
            ))
            .unwrap();
        assert_eq!(applied.status.unwrap().pod_name.as_deref(), Some("p"));
        assert!(store.delete::<Session>("default", "s1").unwrap());
        assert!(store.get::<Session>("default", "s1").unwrap().is_none());
    }

    #[test]
    fn names_are_validated_like_the_apiserver_does() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(dir.path()).unwrap();
        let mut bad = session(json!({"workspaceRef":{"name":"w"}}));
        bad.metadata.name = Some("Bad_Name".into());
        let err = store.apply(bad).unwrap_err();
        assert!(err.to_string().starts_with("metadata.name:"), "{err}");
    }

    #[test]
    fn two_stores_on_one_directory_never_hand_out_a_resource_version_twice() {
        // Two Store values stand for two processes (the gateway and the operator): each write
        // opens the lock file anew, so flock separates them exactly as it separates processes.
        let dir = tempfile::tempdir().unwrap();
        let stores = [
            std::sync::Arc::new(LocalStore::open(dir.path()).unwrap()),
            std::sync::Arc::new(LocalStore::open(dir.path()).unwrap()),
        ];
        let writers: Vec<_> = (0..4)
            .map(|t| {
                let store = stores[t % 2].clone();
                std::thread::spawn(move || {
                    (0..50)
                        .map(|i| {
                            let mut s = session(json!({"workspaceRef":{"name":"w"}}));
                            s.metadata.name = Some(format!("s-{t}-{i}"));
                            store.apply(s).unwrap().metadata.resource_version.unwrap()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut versions: Vec<String> = writers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect();
        versions.sort();
        versions.dedup();
        assert_eq!(versions.len(), 200, "every write got its own version");
        assert_eq!(stores[1].version_on_disk(), 200);
        assert!(stores[0].delete::<Session>("default", "s-0-0").unwrap());
        assert_eq!(stores[1].version_on_disk(), 201, "a delete is a change too");
        assert_eq!(
            stores[0].id(),
            stores[1].id(),
            "one directory, one store id"
        );
        let other = tempfile::tempdir().unwrap();
        assert_ne!(LocalStore::open(other.path()).unwrap().id(), stores[0].id());
    }
}
