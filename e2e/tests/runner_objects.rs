//! The operator core's runner objects against the real kube-apiserver: in a namespace that
//! enforces the "restricted" Pod Security Standard, the apiserver admits the runner Pod, and
//! the PVC, ServiceAccount and NetworkPolicy validate. No kubelet runs, so the Pod
//! stays Pending: this checks admission and schema, not scheduling.

use k8s_openapi::api::core::v1::{Namespace, PersistentVolumeClaim, Pod, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Resource};
use oqto_api::{Session, Workspace};
use oqto_e2e::TestEnv;
use oqto_operator::core::{OperatorDefaults, RunnerPlan, kube_objects};
use serde_json::json;

#[tokio::test]
async fn runner_objects_pass_restricted_pod_security_and_schema_validation() {
    let env = TestEnv::new("runner-objects").await.unwrap();
    // Enforce "restricted" Pod Security on the test namespace (the apiserver's built-in
    // PodSecurity admission).
    Api::<Namespace>::all(env.client.clone())
        .patch(
            &env.namespace,
            &PatchParams::apply("oqto-e2e"),
            &Patch::Apply(json!({"apiVersion":"v1","kind":"Namespace","metadata":{"name":env.namespace,
                "labels":{"pod-security.kubernetes.io/enforce":"restricted","pod-security.kubernetes.io/enforce-version":"latest"}}})),
        )
        .await
        .unwrap();

    let workspace: Workspace = serde_json::from_value(json!({"apiVersion":"oqto.dev/v1alpha1","kind":"Workspace",
        "metadata":{"name":"alice-dev"},"spec":{"owner":"alice","storage":{"size":"1Gi","reclaimPolicy":"Delete"},
        "llm":{"provider":"anthropic","model":"claude","credentialsSecretRef":{"name":"alice-llm"}}}}))
    .unwrap();
    let workspace = env
        .api::<Workspace>()
        .create(&PostParams::default(), &workspace)
        .await
        .unwrap();
    let session: Session =
        serde_json::from_value(json!({"apiVersion":"oqto.dev/v1alpha1","kind":"Session",
        "metadata":{"name":"fix-bug"},"spec":{"workspaceRef":{"name":"alice-dev"}}}))
        .unwrap();
    let session = env
        .api::<Session>()
        .create(&PostParams::default(), &session)
        .await
        .unwrap();

    let defaults = OperatorDefaults {
        runner_image: Some("localhost/oqto-runner:dev".into()),
        ..OperatorDefaults::new(oqto_e2e::runner_key())
    };
    let plan = RunnerPlan::build(&workspace, &session, &defaults).unwrap();
    let workspace_owner = workspace.controller_owner_ref(&()).unwrap();
    let session_owner = session.controller_owner_ref(&()).unwrap();
    let post = PostParams::default();

    env.api::<PersistentVolumeClaim>()
        .create(
            &post,
            &kube_objects::claim(
                &plan.storage,
                "alice-dev",
                &env.namespace,
                workspace_owner.clone(),
            ),
        )
        .await
        .unwrap();
    env.api::<ServiceAccount>()
        .create(
            &post,
            &kube_objects::service_account("alice-dev", &env.namespace, workspace_owner.clone()),
        )
        .await
        .unwrap();
    env.api::<NetworkPolicy>()
        .create(
            &post,
            &kube_objects::network_policy(
                "alice-dev",
                &env.namespace,
                plan.egress,
                &defaults,
                workspace_owner,
            ),
        )
        .await
        .unwrap();
    let pod = env
        .api::<Pod>()
        .create(&post, &kube_objects::pod(&plan, session_owner))
        .await
        .expect("the restricted namespace admits the runner pod");
    assert_eq!(
        pod.metadata.owner_references.unwrap()[0].uid,
        session.metadata.uid.clone().unwrap()
    );

    // The enforcement is real: a pod that may escalate privileges is refused.
    let mut loose = kube_objects::pod(&plan, session.controller_owner_ref(&()).unwrap());
    loose.metadata.name = Some("loose".into());
    if let Some(spec) = loose.spec.as_mut() {
        spec.containers[0].security_context = None;
    }
    match env.api::<Pod>().create(&post, &loose).await {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 403, "{}", status.message);
            assert!(status.message.contains("restricted"), "{}", status.message);
        }
        other => panic!("expected PodSecurity to refuse, got {other:?}"),
    }
}
