//! An object the operator cannot read is reported on itself and never stops the watch.
//!
//! Such an object can only exist if the CRD once accepted it (an older CRD version). This test
//! recreates that: it loosens the Workspace CRD's rule for `idleTimeout` to the bare pattern (as
//! the CRD was before durations were bounded), stores an unbounded duration, and restores the CRD.
//! It lives in a test binary of its own: cargo runs test binaries one after another, so no other
//! test sees the loosened CRD.
#![allow(clippy::unwrap_used)] // Test helpers: a failed step is a failed test.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::events::v1::Event as EventsV1;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::{ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use kube::runtime::wait::{await_condition, conditions};
use oqto_api::Session;
use oqto_e2e::{TestEnv, install_crds};
use oqto_operator::core::OperatorDefaults;
use oqto_operator::kubernetes::{Context, Settings, run};
use serde_json::{Value, json};

async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The Workspace CRD with the `idleTimeout` rule reduced to the pattern alone.
fn loosened_workspace_crd() -> Value {
    let crd = oqto_api::crds()
        .into_iter()
        .find(|c| c.metadata.name.as_deref() == Some("workspaces.oqto.dev"))
        .unwrap();
    let mut value = serde_json::to_value(crd).unwrap();
    let rules = &mut value["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
        ["properties"]["lifecycle"]["properties"]["idleTimeout"]["x-kubernetes-validations"][0]["rule"];
    let rule = rules.as_str().unwrap().to_owned();
    *rules = Value::String(rule.split(" && ").next().unwrap().to_owned());
    value
}

async fn create(api: &Api<DynamicObject>, body: Value) {
    let object: DynamicObject = serde_json::from_value(body).unwrap();
    api.create(&PostParams::default(), &object).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreadable_workspace_is_reported_and_the_others_keep_working() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("oqto_operator=warn"))
        .with_test_writer()
        .try_init();
    let env = TestEnv::new("op-malformed").await.unwrap();
    let crds: Api<CustomResourceDefinition> = Api::all(env.client.clone());
    crds.patch(
        "workspaces.oqto.dev",
        &PatchParams::apply("oqto-e2e").force(),
        &Patch::Apply(loosened_workspace_crd()),
    )
    .await
    .unwrap();
    tokio::time::timeout(
        Duration::from_secs(30),
        await_condition(
            crds.clone(),
            "workspaces.oqto.dev",
            conditions::is_crd_established(),
        ),
    )
    .await
    .unwrap()
    .unwrap();
    let workspaces: Api<DynamicObject> = Api::namespaced_with(
        env.client.clone(),
        &env.namespace,
        &ApiResource::erase::<oqto_api::Workspace>(&()),
    );
    create(
        &workspaces,
        json!({"apiVersion":"oqto.dev/v1alpha1","kind":"Workspace","metadata":{"name":"broken"},
        "spec":{"owner":"x","lifecycle":{"idleTimeout":"99999999999999999999h"}}}),
    )
    .await;
    install_crds(&env.client).await.unwrap();
    create(
        &workspaces,
        json!({"apiVersion":"oqto.dev/v1alpha1","kind":"Workspace","metadata":{"name":"fine"},
        "spec":{"owner":"y"}}),
    )
    .await;
    let sessions: Api<DynamicObject> = Api::namespaced_with(
        env.client.clone(),
        &env.namespace,
        &ApiResource::erase::<Session>(&()),
    );
    for (name, workspace) in [("on-broken", "broken"), ("on-fine", "fine")] {
        create(
            &sessions,
            json!({"apiVersion":"oqto.dev/v1alpha1","kind":"Session","metadata":{"name":name},
            "spec":{"workspaceRef":{"name":workspace}}}),
        )
        .await;
    }

    let settings = Settings {
        namespace: Some(env.namespace.clone()),
        defaults: OperatorDefaults {
            runner_image: Some("localhost/oqto-runner:dev".into()),
            ..OperatorDefaults::new(oqto_e2e::runner_key())
        },
        runner_port: 1,
        activity_every: Duration::from_secs(1),
        prune_every: Duration::from_secs(5),
        identity: "malformed-test".into(),
    };
    let context = Arc::new(Context::new(env.client.clone(), settings));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let operator = tokio::spawn(run(context, async {
        let _ = stopped.await;
    }));

    // The healthy pair is served: the watch was not stalled by the broken object.
    eventually("the runner pod of the healthy session", || async {
        env.api::<Pod>().get_opt("oqto-sess-on-fine").await.unwrap()
    })
    .await;
    // The broken Workspace says what is wrong with it, in an Event about it (the apiserver
    // refuses status writes to an object its current schema rejects).
    let event = eventually(
        "an InvalidObject event about the broken workspace",
        || async {
            env.api::<EventsV1>()
                .list(&Default::default())
                .await
                .unwrap()
                .items
                .into_iter()
                .find(|e| {
                    e.reason.as_deref() == Some("InvalidObject")
                        && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("broken")
                })
        },
    )
    .await;
    assert_eq!(event.type_.as_deref(), Some("Warning"));
    assert!(
        event
            .note
            .as_deref()
            .unwrap_or_default()
            .contains("cannot be read"),
        "{event:?}"
    );
    // Its Session waits with a reason that names the Workspace.
    let session_status = eventually("the session on it reported", || async {
        let object = sessions.get("on-broken").await.unwrap();
        let status = object.data.get("status").cloned()?;
        let ready = status["conditions"]
            .as_array()?
            .iter()
            .find(|c| c["type"] == "Ready")?
            .clone();
        (ready["reason"] == "WorkspaceInvalid").then_some(ready)
    })
    .await;
    assert!(
        session_status["message"]
            .as_str()
            .unwrap()
            .contains("\"broken\""),
        "{session_status}"
    );
    assert!(
        env.api::<Pod>()
            .get_opt("oqto-sess-on-broken")
            .await
            .unwrap()
            .is_none()
    );
    let _ = stop.send(());
    let _ = operator.await;
}
