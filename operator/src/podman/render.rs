//! The plan as a Podman container and volumes (pure): the same runner as on Kubernetes, with the
//! same restrictions where Podman has them (non-root user, all capabilities dropped, no new
//! privileges, read-only root with a tmpfs /tmp, the Workspace's memory and CPU limits and a
//! pids limit), published on loopback only.

use std::collections::HashMap;

use bollard::models::{ContainerCreateBody, HostConfig, Mount, MountType, PortBinding};
use k8s_openapi::api::core::v1::ResourceRequirements;

use crate::core::{RunnerPlan, StoragePlan};
use oqto_api::names;
use oqto_api::workspace::EgressPolicy;

/// Podman has no namespaces: a label keeps the store's namespace on what the operator makes.
pub use oqto_api::names::LABEL_NAMESPACE;
pub const LABEL_SESSION_UID: &str = "oqto.dev/session-uid";
pub const LABEL_RUNNER_HASH: &str = "oqto.dev/runner-hash";
pub const LABEL_RECLAIM: &str = "oqto.dev/reclaim-policy";
/// The id of the local store whose Session or Workspace the object serves.
pub const LABEL_STORE: &str = "oqto.dev/store";

/// The Podman network of runners with Restricted egress (`--restricted-network`), marked with
/// [`LABEL_EGRESS`]`=restricted` by `hack/podman/egress.sh`, which also installs the host
/// firewall rules that keep its runners to public addresses. Open runners use Podman's default
/// network.
pub const RESTRICTED_NETWORK: &str = "oqto-restricted";
pub const LABEL_EGRESS: &str = "dev.oqto.egress";

/// The label of a Workspace's volumes with the first host uid of its user namespace: every
/// runner of the Workspace maps container uids 0..65536 to that range, so they share the
/// files, and no two Workspaces share a range (a runner that escapes its container is a host
/// uid that owns nothing else). Volumes made without it (before user namespaces) keep runners
/// in the host's namespace.
pub const LABEL_USERNS_BASE: &str = "oqto.dev/userns-base";
/// Host uids of one Workspace's namespace.
pub const USERNS_SIZE: u32 = 65_536;
/// The ranges start at 2^31, the upper half `hack/podman/setup.sh` gives Podman's `containers`
/// user in /etc/subuid and /etc/subgid; the last range stops short of uid 2^32-1 (invalid).
pub const USERNS_FIRST: u32 = 1 << 31;
pub const USERNS_SLOTS: u32 = (u32::MAX - USERNS_FIRST) / USERNS_SIZE;

/// The first host uid of user namespace `slot`.
pub fn userns_base(slot: u32) -> Option<u32> {
    (slot < USERNS_SLOTS).then(|| USERNS_FIRST + slot * USERNS_SIZE)
}

/// A base read back from a volume label: one of ours, or none.
pub fn parse_userns_base(label: &str) -> Option<u32> {
    let base: u32 = label.parse().ok()?;
    let offset = base.checked_sub(USERNS_FIRST)?;
    (offset % USERNS_SIZE == 0 && offset / USERNS_SIZE < USERNS_SLOTS).then_some(base)
}

/// Podman's user-namespace mode for a range: `auto` with the Workspace's mapping forced.
fn userns_mode(base: u32) -> String {
    format!("auto:uidmapping=0:{base}:{USERNS_SIZE},gidmapping=0:{base}:{USERNS_SIZE}")
}

/// Processes one runner may hold (a fork bomb in its terminal stops here, not at the host's
/// limit), whatever the Workspace says.
pub const PIDS_LIMIT: i64 = 4096;

/// Memory (bytes) and CPU (billionths of a CPU) limits, as Podman takes them.
pub fn resource_limits(resources: Option<&ResourceRequirements>) -> (Option<i64>, Option<i64>) {
    let limit = |name: &str, scale: f64| {
        let text = &resources?.limits.as_ref()?.get(name)?.0;
        let value = oqto_api::rules::quantity(text)? * scale;
        // Below one byte or one billionth of a CPU there is nothing to give.
        (value >= 1.0 && value < i64::MAX as f64).then_some(value as i64)
    };
    (limit("memory", 1.0), limit("cpu", 1e9))
}

fn runner_port() -> String {
    format!("{}/tcp", crate::core::RUNNER_PORT)
}

/// Container names are global on a host: the namespace is part of them.
pub fn container_name(namespace: &str, session: &str) -> String {
    names::bounded(&format!("oqto-{namespace}"), &format!("sess-{session}"))
}

/// Two volumes per workspace: the files (/workspace) and the runner's home (/home/oqto: Pi's
/// files and the chat history). Named like the Kubernetes claim, from the Workspace's uid (see
/// `names::claim`): a later Workspace of the same name never gets them.
pub fn volume_names(namespace: &str, storage: &StoragePlan) -> [String; 2] {
    let workspace_part = storage
        .claim_name
        .strip_prefix("oqto-")
        .unwrap_or(&storage.claim_name);
    let base = names::bounded(&format!("oqto-{namespace}"), workspace_part);
    [format!("{base}-files"), format!("{base}-home")]
}

pub fn fnv1a(text: &str) -> String {
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("{hash:016x}")
}

/// `secret_env`: the keys and values of the Secrets the plan references (envFrom); they go
/// into the container's environment and are left out of the spec hash (a rotated key does not
/// restart a runner by itself, as on Kubernetes). So does the runner's token (Podman has no
/// Secrets to hand it over in; it follows from the Session's uid, which the labels carry), and
/// so does the user namespace (`userns_base`, read from the Workspace's volumes: a runner
/// started before its Workspace had one is not replaced for it).
pub fn container(
    plan: &RunnerPlan,
    session_uid: &str,
    secret_env: &[(String, String)],
    restricted_network: &str,
    userns_base: Option<u32>,
) -> ContainerCreateBody {
    let [files, home] = volume_names(&plan.namespace, &plan.storage);
    let (memory, nano_cpus) = resource_limits(plan.resources.as_ref());
    let mut labels: HashMap<String, String> = plan.labels.clone().into_iter().collect();
    labels.insert(LABEL_NAMESPACE.into(), plan.namespace.clone());
    labels.insert(LABEL_SESSION_UID.into(), session_uid.into());
    let env: Vec<String> = plan
        .env
        .iter()
        .filter_map(|e| e.value.as_ref().map(|v| format!("{}={v}", e.name)))
        .collect();
    let mount = |source: &str, target: &str| Mount {
        typ: Some(MountType::VOLUME),
        source: Some(source.into()),
        target: Some(target.into()),
        ..Default::default()
    };
    let mut body = ContainerCreateBody {
        image: Some(plan.image.clone()),
        env: Some(env),
        user: Some("1000:1000".into()),
        exposed_ports: Some(vec![runner_port()]),
        host_config: Some(HostConfig {
            port_bindings: Some(HashMap::from([(
                runner_port(),
                Some(vec![PortBinding {
                    host_ip: Some("127.0.0.1".into()),
                    host_port: Some(String::new()),
                }]),
            )])),
            mounts: Some(vec![
                mount(&files, "/workspace"),
                mount(&home, "/home/oqto"),
            ]),
            cap_drop: Some(vec!["ALL".into()]),
            security_opt: Some(vec!["no-new-privileges".into()]),
            readonly_rootfs: Some(true),
            tmpfs: Some(HashMap::from([("/tmp".into(), "rw,size=512m".into())])),
            network_mode: match plan.egress {
                EgressPolicy::Restricted => Some(restricted_network.into()),
                EgressPolicy::Open => None,
            },
            pids_limit: Some(PIDS_LIMIT),
            memory,
            // No swap beyond the memory limit, as on Kubernetes.
            memory_swap: memory,
            nano_cpus,
            ..Default::default()
        }),
        labels: None,
        ..Default::default()
    };
    // The browser sidecar is part of the runner: changing it replaces both (the runner's name
    // stands in for the real one, which does not change). Without one, the hash is the runner's
    // alone, as before sidecars existed: running runners are not replaced for them.
    // Its labels stay out like the runner's: a HashMap serialises in a different order each time.
    let hashed = match super::browser::container(plan, "runner", session_uid, false) {
        Some(sidecar) => serde_json::to_string(&(
            &body,
            ContainerCreateBody {
                labels: None,
                ..sidecar
            },
        )),
        None => serde_json::to_string(&body),
    };
    let hash = fnv1a(&hashed.unwrap_or_default());
    labels.insert(LABEL_RUNNER_HASH.into(), hash);
    body.labels = Some(labels);
    if let (Some(base), Some(host)) = (userns_base, body.host_config.as_mut()) {
        host.userns_mode = Some(userns_mode(base));
    }
    if let Some(env) = body.env.as_mut() {
        env.extend(secret_env.iter().map(|(k, v)| format!("{k}={v}")));
        env.extend(
            plan.secret_env()
                .into_iter()
                .map(|secret| format!("{}={}", secret.name, secret.value)),
        );
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::OperatorDefaults;
    use serde_json::json;

    #[test]
    fn the_workspaces_limits_become_the_containers() {
        let ws: oqto_api::Workspace =
            serde_json::from_value(json!({"apiVersion":"oqto.dev/v1alpha1","kind":"Workspace",
            "metadata":{"name":"w","namespace":"default"},"spec":{"owner":"a",
            "runner":{"resources":{"limits":{"memory":"512Mi","cpu":"1500m"}}}}}))
            .unwrap();
        let s: oqto_api::Session =
            serde_json::from_value(json!({"apiVersion":"oqto.dev/v1alpha1","kind":"Session",
            "metadata":{"name":"s","namespace":"default","uid":"u"},"spec":{"workspaceRef":{"name":"w"}}}))
            .unwrap();
        let defaults = OperatorDefaults {
            runner_image: Some("img".into()),
            ..OperatorDefaults::new(oqto_proto::runner::RunnerKey::new(vec![7; 32]).unwrap())
        };
        let mut plan = RunnerPlan::build(&ws, &s, &defaults).unwrap();
        let host = container(&plan, "u", &[], RESTRICTED_NETWORK, None)
            .host_config
            .unwrap();
        // The runner's secret values come in its environment, and not into the spec's hash
        // (a new key for the same Session does not replace the container).
        let signer = oqto_proto::llm::VirtualKeySigner::new(vec![3; 32]).unwrap();
        let key = signer.mint(&oqto_proto::llm::KeyClaims {
            namespace: "default".into(),
            session: "s".into(),
            session_uid: "u".into(),
        });
        let before = container(&plan, "u", &[], RESTRICTED_NETWORK, None).labels;
        plan.llm_key = Some(key.clone());
        let body = container(&plan, "u", &[], RESTRICTED_NETWORK, None);
        assert!(
            body.env
                .unwrap()
                .contains(&format!("OQTO_LLM_API_KEY={}", key.expose()))
        );
        assert_eq!(body.labels, before);
        assert_eq!(host.memory, Some(512 * 1024 * 1024));
        assert_eq!(host.memory_swap, host.memory, "no swap beyond it");
        assert_eq!(host.nano_cpus, Some(1_500_000_000));
        assert_eq!(host.pids_limit, Some(PIDS_LIMIT));
    }

    #[test]
    fn the_container_is_restricted_and_published_on_loopback_only() {
        let ws: oqto_api::Workspace =
            serde_json::from_value(json!({"apiVersion":"oqto.dev/v1alpha1","kind":"Workspace",
            "metadata":{"name":"w","namespace":"default"},"spec":{"owner":"a"}}))
            .unwrap();
        let s: oqto_api::Session =
            serde_json::from_value(json!({"apiVersion":"oqto.dev/v1alpha1","kind":"Session",
            "metadata":{"name":"s","namespace":"default","uid":"uid-1"},"spec":{"workspaceRef":{"name":"w"}}}))
            .unwrap();
        let defaults = OperatorDefaults {
            runner_image: Some("img".into()),
            ..OperatorDefaults::new(oqto_proto::runner::RunnerKey::new(vec![7; 32]).unwrap())
        };
        let plan = RunnerPlan::build(&ws, &s, &defaults).unwrap();
        let body = container(
            &plan,
            "uid-1",
            &[("K".into(), "v".into())],
            RESTRICTED_NETWORK,
            userns_base(2),
        );
        let host = body.host_config.as_ref().unwrap();
        assert_eq!(host.cap_drop, Some(vec!["ALL".to_owned()]));
        assert_eq!(host.readonly_rootfs, Some(true));
        let binding = &host.port_bindings.as_ref().unwrap()["8080/tcp"]
            .as_ref()
            .unwrap()[0];
        assert_eq!(binding.host_ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(body.user.as_deref(), Some("1000:1000"));
        assert!(body.env.as_ref().unwrap().contains(&"K=v".to_owned()));
        assert_eq!(host.pids_limit, Some(PIDS_LIMIT));
        // Container uids 0..65536 are the Workspace's range of host uids, never the host's own.
        let base = USERNS_FIRST + 2 * USERNS_SIZE;
        assert_eq!(
            host.userns_mode.as_deref(),
            Some(format!("auto:uidmapping=0:{base}:65536,gidmapping=0:{base}:65536").as_str())
        );
        // Restricted (the default) runners go on the network the host's firewall holds;
        // open ones on Podman's default.
        assert_eq!(host.network_mode.as_deref(), Some(RESTRICTED_NETWORK));
        let mut open = plan.clone();
        open.egress = EgressPolicy::Open;
        let open = container(&open, "uid-1", &[], RESTRICTED_NETWORK, None);
        assert_eq!(open.host_config.unwrap().network_mode, None);
        assert_eq!((host.memory, host.nano_cpus), (None, None), "none asked");
        let token = format!("PI_BRIDGE_TOKEN={}", plan.token.expose());
        assert!(body.env.as_ref().unwrap().contains(&token));
        let labels = body.labels.as_ref().unwrap();
        assert_eq!(labels[LABEL_SESSION_UID], "uid-1");
        assert_eq!(labels[names::LABEL_MANAGED_BY], names::MANAGED_BY);
        assert_eq!(container_name("default", "s"), "oqto-default-sess-s");
        // The volumes are named from the Workspace's uid, like the Kubernetes claim.
        let base = format!(
            "oqto-default-{}",
            names::claim("w", ws.metadata.uid.as_deref().unwrap_or_default())
                .trim_start_matches("oqto-")
        );
        assert_eq!(
            volume_names("default", &plan.storage),
            [format!("{base}-files"), format!("{base}-home")]
        );
        assert!(base.starts_with("oqto-default-ws-w-"), "{base}");
        assert_eq!(
            container(&plan, "uid-1", &[], RESTRICTED_NETWORK, None)
                .labels
                .unwrap()[LABEL_RUNNER_HASH],
            labels[LABEL_RUNNER_HASH],
            "stable hash"
        );
    }

    #[test]
    fn user_namespace_ranges_are_disjoint_and_within_the_upper_half() {
        assert_eq!(userns_base(0), Some(1 << 31));
        let last = userns_base(USERNS_SLOTS - 1).unwrap();
        assert!(u64::from(last) + u64::from(USERNS_SIZE) <= u64::from(u32::MAX));
        assert_eq!(userns_base(USERNS_SLOTS), None);
        assert_eq!(parse_userns_base(&last.to_string()), Some(last));
        // Only the starts of our ranges are read back: not the host's root, not a range that
        // straddles two Workspaces', not the invalid tail.
        for bad in ["0", "1000", "2147483649", "4294967295", "-1", "x", ""] {
            assert_eq!(parse_userns_base(bad), None, "{bad}");
        }
    }
}
