//! What every instance makes sure of once, before its first request: the
//! platform's `default` and `milo-system` namespaces (the latter where Milo
//! keeps the platform's quota grants and claims), and the built-in CRDs stored as objects so
//! that `kubectl get crds` lists them (read-only: see crds.rs) — rewritten
//! when a release ships a changed one. Idempotent and race-safe: every
//! write is conditional.

use domain::crd;
use domain::kinds::{CUSTOM_RESOURCE_DEFINITION, NAMESPACE};
use domain::ApiError;
use serde_json::{json, Value};
use store::{Context, Expect, ObjectRef, Store, StoreError, Write};

use crate::errors::from_store;
use crate::namespaces;
use crate::placement::builtin_ref;

pub async fn run(store: &Store) -> Result<(), ApiError> {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let types = domain::builtin::types().map_err(ApiError::internal)?;
    let refs: Vec<ObjectRef> = domain::builtin::documents().iter().map(crd_ref).collect();
    let namespace_refs: Vec<(&str, ObjectRef)> = namespaces::PLATFORM_NAMESPACES
        .iter()
        .map(|name| (*name, builtin_ref(&Context::Platform, &NAMESPACE, "", name)))
        .collect();
    // One read tells what is there already, so a warm table costs a cold
    // start no write.
    let mut keys: Vec<_> = refs.iter().map(ObjectRef::key).collect();
    keys.extend(namespace_refs.iter().map(|(_, r)| r.key()));
    let stored = store.batch_get(&keys).await.map_err(from_store)?;
    for (name, namespace_ref) in &namespace_refs {
        if !stored.iter().any(|s| s.key == namespace_ref.key()) {
            ignore_existing(
                store
                    .write(namespaces::create_namespace(
                        Context::Platform,
                        name,
                        None,
                        &now,
                    ))
                    .await,
            )?;
        }
    }
    for ((doc, rt), object_ref) in domain::builtin::documents().iter().zip(&types).zip(&refs) {
        let current = stored.iter().find(|s| s.key == object_ref.key());
        if current.is_some_and(|s| s.object["spec"] == doc["spec"]) {
            continue;
        }
        let (version, expect) = match current {
            Some(s) => (s.version + 1, Expect::Version(s.version)),
            None => (1, Expect::Absent),
        };
        let stored_versions = crd::stored_versions(None, rt);
        let mut object = doc.clone();
        object["metadata"]["uid"] = json!(uuid::Uuid::new_v4().to_string());
        object["metadata"]["resourceVersion"] = json!(version.to_string());
        object["metadata"]["generation"] = json!(version);
        object["metadata"]["creationTimestamp"] = json!(now);
        object["status"] = crd::status(rt, None, &stored_versions, &now);
        let write = Write::PutObject {
            key: object_ref.key(),
            object,
            version,
            expect,
        };
        // Another instance may be doing the same at this moment: either
        // write is the shipped document.
        match store.write(vec![write]).await {
            Ok(()) | Err(StoreError::AlreadyExists { .. } | StoreError::Conflict { .. }) => {}
            Err(e) => return Err(from_store(e)),
        }
    }
    Ok(())
}

fn crd_ref(doc: &Value) -> ObjectRef {
    builtin_ref(
        &Context::Platform,
        &CUSTOM_RESOURCE_DEFINITION,
        "",
        doc["metadata"]["name"].as_str().unwrap_or_default(),
    )
}

fn ignore_existing(result: Result<(), StoreError>) -> Result<(), ApiError> {
    match result {
        Ok(()) | Err(StoreError::AlreadyExists { .. }) => Ok(()),
        Err(e) => Err(from_store(e)),
    }
}
