//! #20: the events function acts as its own principal, `system:events`,
//! decided by the same policy as every request: it writes records because
//! its built-in role grants it; a principal without that grant writes
//! nothing (the event is dead-lettered as Forbidden, to be replayed), a
//! graph acting as nobody writes nothing, and an administrator's binding
//! is in force on the next event.

mod common;

use std::sync::Arc;
use std::time::Duration;

use apiserver::ServicePrincipal;
use common::*;
use ingest::{handle, Graph, Outcome};
use serde_json::json;

const CREATE: &str = "01-loadbalancer-create.json";

fn acting_as(w: &World, principal: &'static str) -> Graph {
    let store = w.graph.store().clone();
    let decides = ServicePrincipal::new(principal, store.clone(), Duration::ZERO);
    Graph::new(store).acting_as(Arc::new(decides))
}

async fn ingest_with(w: &World, graph: &Graph) -> Outcome {
    let definitions = w.graph.definitions().await.expect("definitions");
    let subject = format!("{}.loadbalancer.create", w.prefix);
    handle(
        graph,
        &w.config.ingest,
        &definitions,
        &subject,
        &sample(CREATE),
    )
    .await
}

fn refusal(outcome: &Outcome) -> (&str, &str) {
    match outcome {
        Outcome::DeadLetter { reason, message } => (reason, message),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn records_are_written_only_as_a_principal_the_policy_lets_write_them() {
    let w = World::new().await;
    let stored = || async { w.graph.load(&urn(LB)).await.expect("load") };

    let nobody = ingest_with(&w, &acting_as(&w, "system:nobody")).await;
    let (reason, message) = refusal(&nobody);
    assert_eq!(reason, "Forbidden");
    assert!(
        message.contains("system:nobody may not graph.miloapis.com/externalresources.create"),
        "{message}"
    );
    let reader = ingest_with(&w, &Graph::new(w.graph.store().clone())).await;
    assert!(
        refusal(&reader).1.contains("acts as no principal"),
        "{reader:?}"
    );
    assert!(stored().await.is_none(), "a refused event wrote its record");

    // An administrator binds the events role to that principal: in force
    // on its next event.
    let (status, body) = w
        .call(
            "POST",
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
            Some(json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                "metadata": {"name": "nobody-writes-records"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:events"},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "system:nobody"}],
            })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let granted = ingest_with(&w, &acting_as(&w, "system:nobody")).await;
    assert!(matches!(granted, Outcome::Ack(_)), "{granted:?}");
    assert!(stored().await.is_some());

    // The events function's own principal holds the grant built in.
    let events = ingest_with(&w, &w.graph).await;
    assert!(matches!(events, Outcome::Ack(_)), "{events:?}");
}
