//! The plan as Kubernetes objects: per Workspace a PersistentVolumeClaim, a ServiceAccount
//! without token and a NetworkPolicy; per Session a Pod that passes the "restricted" Pod Security
//! Standard (no Service: the gateway reaches it on its IP). Pure functions: the Kubernetes
//! runtime applies what they return.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{
    Capabilities, Container, ContainerPort, EmptyDirVolumeSource, EnvVar, EnvVarSource,
    HTTPGetAction, PersistentVolumeClaim, PersistentVolumeClaimSpec,
    PersistentVolumeClaimVolumeSource, Pod, PodAffinity, PodAffinityTerm, PodSecurityContext,
    PodSpec, Probe, SeccompProfile, Secret, SecretKeySelector, SecurityContext, ServiceAccount,
    Volume, VolumeMount, VolumeResourceRequirements,
};
use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer,
    NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use oqto_api::workspace::{AccessMode, EgressPolicy, ImagePullPolicy, ReclaimPolicy};

use super::desired::{OperatorDefaults, RunnerPlan, StoragePlan};
use oqto_api::names;
use oqto_proto::runner;

/// The runner's token, for the kubelet to hand to pi-bridge. Named like the Pod and owned by
/// the Session, so it goes with it; its value never appears in the Pod's spec, which more
/// people may read than Secrets.
pub fn token_secret(plan: &RunnerPlan, session_owner: OwnerReference) -> Secret {
    Secret {
        metadata: meta(
            &plan.name,
            &plan.namespace,
            plan.labels.clone(),
            Some(session_owner),
        ),
        data: Some(
            plan.secret_env()
                .into_iter()
                .map(|s| (s.key.to_owned(), ByteString(s.value.into_bytes())))
                .collect(),
        ),
        type_: Some("Opaque".into()),
        ..Default::default()
    }
}

/// The runner image's user (runner-image/Containerfile).
const RUNNER_UID: i64 = 1000;

/// Address ranges a Restricted runner must not reach: private networks (the cluster among
/// them), link-local (cloud metadata at 169.254.169.254), carrier-grade NAT and loopback.
const BLOCKED_V4: [&str; 6] = [
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "169.254.0.0/16",
    "100.64.0.0/10",
    "127.0.0.0/8",
];
const BLOCKED_V6: [&str; 3] = ["fc00::/7", "fe80::/10", "::1/128"];

fn meta(
    name: &str,
    namespace: &str,
    labels: BTreeMap<String, String>,
    owner: Option<OwnerReference>,
) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        namespace: Some(namespace.into()),
        labels: Some(labels),
        owner_references: owner.map(|o| vec![o]),
        ..Default::default()
    }
}

/// The workspace's volume. With `reclaimPolicy: Delete` the Workspace owns it (garbage
/// collection removes it with the Workspace); with `Retain` nothing owns it and it stays.
pub fn claim(
    storage: &StoragePlan,
    workspace: &str,
    namespace: &str,
    workspace_owner: OwnerReference,
) -> PersistentVolumeClaim {
    let owner = (storage.reclaim_policy == ReclaimPolicy::Delete).then_some(workspace_owner);
    PersistentVolumeClaim {
        metadata: meta(
            &storage.claim_name,
            namespace,
            names::workspace_labels(workspace, "storage"),
            owner,
        ),
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(
                storage
                    .access_modes
                    .iter()
                    .map(|mode| {
                        match mode {
                            AccessMode::ReadWriteOnce => "ReadWriteOnce",
                            AccessMode::ReadWriteOncePod => "ReadWriteOncePod",
                            AccessMode::ReadWriteMany => "ReadWriteMany",
                        }
                        .to_owned()
                    })
                    .collect(),
            ),
            storage_class_name: storage.storage_class_name.clone(),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([(
                    "storage".to_owned(),
                    Quantity(storage.size.clone()),
                )])),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The runners' identity: no API token is mounted, so a runner cannot talk to the cluster.
pub fn service_account(workspace: &str, namespace: &str, owner: OwnerReference) -> ServiceAccount {
    ServiceAccount {
        metadata: meta(
            &names::service_account(workspace),
            namespace,
            names::workspace_labels(workspace, "runner"),
            Some(owner),
        ),
        automount_service_account_token: Some(false),
        ..Default::default()
    }
}

/// Ingress to the workspace's runners only from the gateway and the operator of this platform;
/// egress open, or (Restricted) the
/// public internet and DNS only.
pub fn network_policy(
    workspace: &str,
    namespace: &str,
    egress: EgressPolicy,
    defaults: &OperatorDefaults,
    owner: OwnerReference,
) -> NetworkPolicy {
    let runners = LabelSelector {
        match_labels: Some(BTreeMap::from([
            (
                names::LABEL_WORKSPACE.to_owned(),
                names::label_value(workspace),
            ),
            (names::LABEL_COMPONENT.to_owned(), "runner".to_owned()),
        ])),
        ..Default::default()
    };
    // Only the platform's namespace (by the label the apiserver sets on every namespace), so a
    // pod elsewhere that copies the gateway's labels gets nowhere.
    let namespace_selector = LabelSelector {
        match_labels: defaults
            .peers
            .namespace
            .as_ref()
            .map(|ns| BTreeMap::from([("kubernetes.io/metadata.name".to_owned(), ns.clone())])),
        ..Default::default()
    };
    let peer = |labels: &BTreeMap<String, String>| NetworkPolicyPeer {
        pod_selector: Some(LabelSelector {
            match_labels: Some(labels.clone()),
            ..Default::default()
        }),
        namespace_selector: Some(namespace_selector.clone()),
        ..Default::default()
    };
    let peers = vec![
        peer(&defaults.peers.gateway_labels),
        peer(&defaults.peers.operator_labels),
    ];
    let port = |protocol: &str, port: i32| NetworkPolicyPort {
        protocol: Some(protocol.into()),
        port: Some(IntOrString::Int(port)),
        ..Default::default()
    };
    let egress_rules = match egress {
        EgressPolicy::Open => vec![NetworkPolicyEgressRule::default()],
        EgressPolicy::Restricted => {
            let block = |cidr: &str, except: &[&str]| NetworkPolicyPeer {
                ip_block: Some(IPBlock {
                    cidr: cidr.into(),
                    except: Some(except.iter().map(|s| (*s).to_owned()).collect()),
                }),
                ..Default::default()
            };
            vec![
                // DNS, wherever the cluster resolver runs.
                NetworkPolicyEgressRule {
                    ports: Some(vec![port("UDP", 53), port("TCP", 53)]),
                    to: None,
                },
                NetworkPolicyEgressRule {
                    to: Some(vec![
                        block("0.0.0.0/0", &BLOCKED_V4),
                        block("::/0", &BLOCKED_V6),
                    ]),
                    ports: None,
                },
            ]
            .into_iter()
            // The LLM proxy: the one private address a Restricted runner reaches.
            .chain(
                defaults
                    .llm_proxy
                    .as_ref()
                    .filter(|proxy| !proxy.labels.is_empty())
                    .map(|proxy| NetworkPolicyEgressRule {
                        to: Some(vec![peer(&proxy.labels)]),
                        ports: Some(vec![port("TCP", proxy.port())]),
                    }),
            )
            // The gateway, for runners that may delegate: any port of its pods (its Service
            // maps its own port to theirs).
            .chain(
                defaults
                    .gateway_url
                    .as_ref()
                    .filter(|_| !defaults.peers.gateway_labels.is_empty())
                    .map(|_| NetworkPolicyEgressRule {
                        to: Some(vec![peer(&defaults.peers.gateway_labels)]),
                        ports: None,
                    }),
            )
            .collect()
        }
    };
    NetworkPolicy {
        metadata: meta(
            &names::network_policy(workspace),
            namespace,
            names::workspace_labels(workspace, "network"),
            Some(owner),
        ),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(runners),
            policy_types: Some(vec!["Ingress".into(), "Egress".into()]),
            ingress: Some(vec![NetworkPolicyIngressRule {
                from: Some(peers),
                ports: Some(vec![port("TCP", crate::core::RUNNER_PORT)]),
            }]),
            egress: Some(egress_rules),
        }),
    }
}

fn http_probe(path: &str, period: i32, failures: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::String("http".into()),
            ..Default::default()
        }),
        period_seconds: Some(period),
        failure_threshold: Some(failures),
        timeout_seconds: Some(2),
        ..Default::default()
    }
}

/// The runner pod: "restricted" Pod Security (non-root, no privilege escalation, all
/// capabilities dropped, RuntimeDefault seccomp, read-only root), no service-account token, the
/// workspace volume at /workspace (files) and /home/oqto (Pi's files and the history).
pub fn pod(plan: &RunnerPlan, session_owner: OwnerReference) -> Pod {
    let mount = |sub_path: &str, at: &str| VolumeMount {
        name: "workspace".into(),
        mount_path: at.into(),
        sub_path: Some(sub_path.into()),
        ..Default::default()
    };
    // Probed every second while starting, giving up after the Workspace's start timeout (it
    // holds liveness off until then). A start does not wait for these ticks: the operator asks
    // `/readyz` itself as soon as the container runs (`Reconciler::confirm`; a warm spare's
    // `/readyz/warm`, its Pi loaded, as this probe does: it is claimed once Running).
    let startup_failures = i32::try_from(plan.start_timeout_seconds.max(1)).unwrap_or(i32::MAX);
    let container = Container {
        name: runner::CONTAINER.into(),
        image: Some(plan.image.clone()),
        image_pull_policy: plan.image_pull_policy.map(|p| {
            match p {
                ImagePullPolicy::Always => "Always",
                ImagePullPolicy::IfNotPresent => "IfNotPresent",
                ImagePullPolicy::Never => "Never",
            }
            .to_owned()
        }),
        env: Some(
            plan.env
                .iter()
                .cloned()
                .chain(plan.secret_env().into_iter().map(|secret| EnvVar {
                    name: secret.name.into(),
                    value: None,
                    value_from: Some(EnvVarSource {
                        secret_key_ref: Some(SecretKeySelector {
                            name: plan.name.clone(),
                            key: secret.key.into(),
                            optional: Some(false),
                        }),
                        ..Default::default()
                    }),
                }))
                .collect(),
        ),
        env_from: (!plan.env_from.is_empty()).then(|| plan.env_from.clone()),
        ports: Some(vec![ContainerPort {
            name: Some("http".into()),
            container_port: crate::core::RUNNER_PORT,
            protocol: Some("TCP".into()),
            ..Default::default()
        }]),
        resources: plan.resources.clone(),
        startup_probe: Some(http_probe(
            if plan.ready_when_warm {
                runner::READY_WARM_PATH
            } else {
                runner::HEALTH_PATH
            },
            1,
            startup_failures,
        )),
        liveness_probe: Some(http_probe(runner::HEALTH_PATH, 10, 3)),
        readiness_probe: Some(http_probe(runner::READY_PATH, 5, 2)),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".into()]),
                add: None,
            }),
            read_only_root_filesystem: Some(true),
            run_as_non_root: Some(true),
            run_as_user: Some(RUNNER_UID),
            run_as_group: Some(RUNNER_UID),
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".into(),
                localhost_profile: None,
            }),
            ..Default::default()
        }),
        volume_mounts: Some(vec![
            mount("workspace", "/workspace"),
            mount("home", "/home/oqto"),
            VolumeMount {
                name: "tmp".into(),
                mount_path: "/tmp".into(),
                ..Default::default()
            },
        ]),
        ..Default::default()
    };
    // A single-node volume can only be shared by pods on the same node.
    let affinity = plan
        .storage
        .single_node()
        .then(|| k8s_openapi::api::core::v1::Affinity {
            pod_affinity: Some(PodAffinity {
                required_during_scheduling_ignored_during_execution: Some(vec![PodAffinityTerm {
                    label_selector: Some(LabelSelector {
                        match_labels: Some(BTreeMap::from([
                            (
                                names::LABEL_WORKSPACE.to_owned(),
                                names::label_value(&plan.workspace),
                            ),
                            (names::LABEL_COMPONENT.to_owned(), "runner".to_owned()),
                        ])),
                        ..Default::default()
                    }),
                    topology_key: "kubernetes.io/hostname".into(),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        });
    // The browser sidecar, when enabled: after the runner, which stays the Pod's first
    // container (`kubectl exec`/`logs` default to it).
    let browser = plan
        .browser
        .as_ref()
        .map(|b| (b.container(container.image_pull_policy.clone()), b.volume()));
    let (sidecar, sidecar_volume) = browser.unzip();
    Pod {
        metadata: meta(
            &plan.name,
            &plan.namespace,
            plan.labels.clone(),
            Some(session_owner),
        ),
        spec: Some(PodSpec {
            containers: std::iter::once(container).chain(sidecar).collect(),
            service_account_name: Some(plan.service_account.clone()),
            automount_service_account_token: Some(false),
            enable_service_links: Some(false),
            runtime_class_name: plan.runtime_class_name.clone(),
            node_selector: (!plan.node_selector.is_empty()).then(|| plan.node_selector.clone()),
            tolerations: (!plan.tolerations.is_empty()).then(|| plan.tolerations.clone()),
            restart_policy: Some("Always".into()),
            termination_grace_period_seconds: Some(30),
            affinity,
            security_context: Some(PodSecurityContext {
                run_as_non_root: Some(true),
                run_as_user: Some(RUNNER_UID),
                run_as_group: Some(RUNNER_UID),
                fs_group: Some(RUNNER_UID),
                seccomp_profile: Some(SeccompProfile {
                    type_: "RuntimeDefault".into(),
                    localhost_profile: None,
                }),
                ..Default::default()
            }),
            volumes: Some(
                vec![
                    Volume {
                        name: "workspace".into(),
                        persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                            claim_name: plan.storage.claim_name.clone(),
                            read_only: Some(false),
                        }),
                        ..Default::default()
                    },
                    Volume {
                        name: "tmp".into(),
                        empty_dir: Some(EmptyDirVolumeSource::default()),
                        ..Default::default()
                    },
                ]
                .into_iter()
                .chain(sidecar_volume)
                .collect(),
            ),
            ..Default::default()
        }),
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::desired::tests::{session, workspace};
    use serde_json::json;

    fn owner(kind: &str) -> OwnerReference {
        OwnerReference {
            api_version: "oqto.dev/v1alpha1".into(),
            kind: kind.into(),
            name: "x".into(),
            uid: format!("{kind}-uid"),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }
    }

    fn defaults() -> OperatorDefaults {
        OperatorDefaults {
            runner_image: Some("img".into()),
            ..OperatorDefaults::new(oqto_proto::runner::RunnerKey::new(vec![7; 32]).unwrap())
        }
    }

    fn plan(ws: serde_json::Value) -> RunnerPlan {
        RunnerPlan::build(
            &workspace(ws),
            &session(json!({"workspaceRef":{"name":"alice-dev"}})),
            &defaults(),
        )
        .unwrap()
    }

    #[test]
    fn the_pod_meets_the_restricted_pod_security_standard() {
        let pod = pod(&plan(json!({"owner":"alice"})), owner("Session"));
        let spec = pod.spec.unwrap();
        assert_eq!(spec.automount_service_account_token, Some(false));
        let pod_sc = spec.security_context.unwrap();
        assert_eq!(pod_sc.run_as_non_root, Some(true));
        assert_eq!(pod_sc.seccomp_profile.unwrap().type_, "RuntimeDefault");
        let c = &spec.containers[0];
        let sc = c.security_context.as_ref().unwrap();
        assert_eq!(sc.allow_privilege_escalation, Some(false));
        assert_eq!(
            sc.capabilities.as_ref().unwrap().drop,
            Some(vec!["ALL".to_owned()])
        );
        assert_eq!(sc.read_only_root_filesystem, Some(true));
        let mounts: Vec<(&str, Option<&str>)> = c
            .volume_mounts
            .as_ref()
            .unwrap()
            .iter()
            .map(|m| (m.mount_path.as_str(), m.sub_path.as_deref()))
            .collect();
        assert_eq!(
            mounts,
            [
                ("/workspace", Some("workspace")),
                ("/home/oqto", Some("home")),
                ("/tmp", None)
            ]
        );
        assert_eq!(pod.metadata.owner_references.unwrap()[0].kind, "Session");
        assert!(
            spec.affinity.is_some(),
            "ReadWriteOnce storage: runners share a node"
        );
        assert_eq!((spec.node_selector, spec.tolerations), (None, None));
    }

    /// The kubelet probes a starting runner every second, for as long as the Workspace's start
    /// timeout allows (liveness is held off until then).
    #[test]
    fn a_starting_runner_is_probed_every_second_until_its_start_timeout() {
        let pod = pod(
            &plan(json!({"owner":"alice","lifecycle":{"startTimeout":"90s"}})),
            owner("Session"),
        );
        let container = &pod.spec.unwrap().containers[0];
        let startup = container.startup_probe.as_ref().unwrap();
        assert_eq!(
            (startup.period_seconds, startup.failure_threshold),
            (Some(1), Some(90))
        );
        let readiness = container.readiness_probe.as_ref().unwrap();
        assert_eq!(readiness.period_seconds, Some(5));
        let path = |probe: &Probe| probe.http_get.as_ref().and_then(|g| g.path.clone());
        assert_eq!(path(startup).as_deref(), Some("/healthz"));
        assert_eq!(path(readiness).as_deref(), Some("/readyz"));
        // A warm spare's start ends only when its Pi has loaded: it is claimed once Ready.
        let mut spare = plan(json!({"owner":"alice"}));
        spare.ready_when_warm = true;
        let spare_pod = super::pod(&spare, owner("Session"));
        let startup = spare_pod.spec.unwrap().containers[0]
            .startup_probe
            .clone()
            .unwrap();
        assert_eq!(path(&startup).as_deref(), Some("/readyz/warm"));
    }

    /// An admin's node pool: the runner Pod selects its nodes and tolerates their taint.
    #[test]
    fn runners_go_to_the_node_pool_their_workspace_names() {
        let pod = pod(
            &plan(json!({"owner":"alice","runner":{
                "nodeSelector":{"oqto.dev/pool":"sandbox"},
                "tolerations":[{"key":"oqto.dev/pool","operator":"Equal","value":"sandbox","effect":"NoSchedule"}]}})),
            owner("Session"),
        );
        let spec = pod.spec.unwrap();
        assert_eq!(
            spec.node_selector.unwrap(),
            [("oqto.dev/pool".to_owned(), "sandbox".to_owned())].into()
        );
        let tolerations = spec.tolerations.unwrap();
        assert_eq!(
            (
                tolerations[0].key.as_deref(),
                tolerations[0].effect.as_deref()
            ),
            (Some("oqto.dev/pool"), Some("NoSchedule"))
        );
    }

    #[test]
    fn retain_leaves_the_claim_unowned_and_delete_gives_it_to_the_workspace() {
        let retained = plan(json!({"owner":"alice"}));
        let pvc = claim(&retained.storage, "alice-dev", "team", owner("Workspace"));
        assert!(pvc.metadata.owner_references.is_none());
        assert_eq!(
            pvc.spec.unwrap().resources.unwrap().requests.unwrap()["storage"].0,
            "10Gi"
        );
        let deleted = plan(
            json!({"owner":"alice","storage":{"reclaimPolicy":"Delete","size":"1Gi","accessModes":["ReadWriteMany"]}}),
        );
        let pvc = claim(&deleted.storage, "alice-dev", "team", owner("Workspace"));
        assert_eq!(pvc.metadata.owner_references.unwrap()[0].kind, "Workspace");
        assert!(
            pod(&deleted, owner("Session"))
                .spec
                .unwrap()
                .affinity
                .is_none(),
            "RWX: no co-location"
        );
    }

    #[test]
    fn only_the_platforms_namespace_reaches_runners_and_the_token_stays_in_a_secret() {
        let mut defaults = defaults();
        defaults.peers.namespace = Some("oqto-system".into());
        let policy = network_policy(
            "alice-dev",
            "team",
            EgressPolicy::Open,
            &defaults,
            owner("Workspace"),
        );
        let ingress = serde_json::to_value(policy.spec.unwrap().ingress).unwrap();
        for peer in ingress[0]["from"].as_array().unwrap() {
            assert_eq!(
                peer["namespaceSelector"]["matchLabels"],
                json!({"kubernetes.io/metadata.name": "oqto-system"}),
                "{peer}"
            );
        }
        let mut plan = plan(json!({"owner":"alice"}));
        let signer = oqto_proto::llm::VirtualKeySigner::new(vec![3; 32]).unwrap();
        let llm_key = signer.mint(&oqto_proto::llm::KeyClaims {
            namespace: "team".into(),
            session: "s".into(),
            session_uid: "u".into(),
        });
        plan.llm_key = Some(llm_key.clone());
        let pod = pod(&plan, owner("Session"));
        let text = serde_json::to_string(&pod).unwrap();
        assert!(
            !text.contains(plan.token.expose()),
            "the token is not in the Pod"
        );
        assert!(!text.contains(llm_key.expose()), "nor the virtual LLM key");
        let env = serde_json::to_value(&pod.spec.unwrap().containers[0].env).unwrap();
        let token = env
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == "PI_BRIDGE_TOKEN")
            .unwrap();
        assert_eq!(
            token["valueFrom"]["secretKeyRef"],
            json!({"name": plan.name, "key": "token", "optional": false})
        );
        let key_ref = env
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == "OQTO_LLM_API_KEY")
            .unwrap();
        assert_eq!(key_ref["valueFrom"]["secretKeyRef"]["key"], "llm-key");
        let secret = token_secret(&plan, owner("Session"));
        assert_eq!(secret.metadata.name.as_deref(), Some(plan.name.as_str()));
        assert_eq!(secret.metadata.owner_references.unwrap()[0].kind, "Session");
        let data = secret.data.unwrap();
        assert_eq!(data["token"].0, plan.token.expose().as_bytes());
        assert_eq!(data["llm-key"].0, llm_key.expose().as_bytes());
    }

    #[test]
    fn restricted_runners_reach_the_llm_proxys_pods_and_no_other_private_peer() {
        let mut defaults = defaults();
        defaults.peers.namespace = Some("oqto-system".into());
        defaults.llm_proxy = Some(crate::core::LlmProxy {
            url: "http://10.96.0.92:8091".into(),
            signer: oqto_proto::llm::VirtualKeySigner::new(vec![3; 32]).unwrap(),
            labels: BTreeMap::from([("app.kubernetes.io/name".into(), "oqto-llm-proxy".into())]),
        });
        let policy = network_policy(
            "alice-dev",
            "team",
            EgressPolicy::Restricted,
            &defaults,
            owner("Workspace"),
        );
        let egress = serde_json::to_value(policy.spec.unwrap().egress).unwrap();
        let rule = egress
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["to"][0]["podSelector"].is_object())
            .expect("a rule for the proxy's pods");
        assert_eq!(
            rule["to"][0]["podSelector"]["matchLabels"],
            json!({"app.kubernetes.io/name": "oqto-llm-proxy"})
        );
        assert_eq!(
            rule["to"][0]["namespaceSelector"]["matchLabels"],
            json!({"kubernetes.io/metadata.name": "oqto-system"})
        );
        assert_eq!(rule["ports"], json!([{"protocol": "TCP", "port": 8091}]));
        let without = network_policy(
            "alice-dev",
            "team",
            EgressPolicy::Restricted,
            &self::defaults(),
            owner("Workspace"),
        );
        let text = serde_json::to_string(&without.spec.unwrap().egress).unwrap();
        assert!(
            !text.contains("podSelector"),
            "no proxy, no private peer: {text}"
        );
    }

    #[test]
    fn restricted_egress_blocks_private_and_metadata_ranges() {
        let policy = network_policy(
            "alice-dev",
            "team",
            EgressPolicy::Restricted,
            &defaults(),
            owner("Workspace"),
        );
        let spec = policy.spec.unwrap();
        let egress = serde_json::to_string(&spec.egress).unwrap();
        for cidr in ["10.0.0.0/8", "169.254.0.0/16", "192.168.0.0/16", "fc00::/7"] {
            assert!(egress.contains(cidr), "{cidr} blocked: {egress}");
        }
        let ingress = serde_json::to_value(&spec.ingress).unwrap();
        assert_eq!(
            ingress[0]["from"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/name"],
            "oqto-gateway"
        );
        assert_eq!(
            ingress[0]["from"][1]["podSelector"]["matchLabels"]["app.kubernetes.io/name"],
            "oqto-operator"
        );
        assert_eq!(ingress[0]["ports"][0]["port"], 8080);
        let open = network_policy(
            "alice-dev",
            "team",
            EgressPolicy::Open,
            &defaults(),
            owner("Workspace"),
        );
        assert_eq!(
            serde_json::to_value(open.spec.unwrap().egress).unwrap(),
            json!([{}])
        );
    }
}
