//! What quota does for claims: a ResourceClaim written or deleted
//! directly, the claims ClaimCreationPolicies make for a new object (planned
//! unread: the transaction's conditions decide), and their release when
//! that object is deleted.

use std::collections::BTreeMap;

use domain::object::Object;
use domain::quota::{self as q, Node};
use domain::{ApiError, Cause};
use serde_json::{json, Value};
use store::{Context, Expect, ObjectRef, Write};

use super::bucket_items::QuotaWrite;
use super::buckets::{bucket_writes, claim_types, read_buckets};
use super::paths::{consumer_path, path_of};
use super::pending::{emit, refused, Replan};
use super::rendered::{policy_invalid, rendered_object};
use super::{catalog_kind, invalid, HookContext, Pending};
use crate::errors::from_store;
use crate::hierarchy_reads::Link;
use crate::placement::{builtin_ref, is_hierarchy, object_ref};
use crate::quota_cache::Inputs;

/// A ResourceClaim written directly: its spec and how it was counted are
/// immutable; a new one counts on its consumer's path (see
/// [`claim_created`]).
pub(super) async fn claim_written(
    cx: &HookContext<'_>,
    obj: &mut Object,
    old: Option<&Object>,
    now: &str,
) -> Result<Pending, ApiError> {
    let name = obj.metadata.name.clone();
    let invalid = |causes: Vec<Cause>| invalid(cx, &name, causes);
    let claim = q::parse_claim(&obj.to_value()).map_err(invalid)?;
    let auto_created = |o: &Object| o.metadata.labels.get(q::AUTO_CREATED_LABEL).cloned();
    let label_field = format!("metadata.labels[{}]", q::AUTO_CREATED_LABEL);
    if let Some(old) = old {
        if old.spec() != obj.spec() {
            return Err(invalid(vec![Cause::invalid(
                "spec",
                "a ResourceClaim's spec is immutable: delete it and claim again",
            )]));
        }
        // It says how the claim was counted, and so how it is released.
        if auto_created(old) != auto_created(obj) {
            return Err(invalid(vec![Cause::invalid(
                &label_field,
                "this label is immutable: it is set by the server on the claims of ClaimCreationPolicies",
            )]));
        }
        return Ok(Pending::default());
    }
    if claim.auto_created {
        return Err(invalid(vec![Cause::invalid(
            &label_field,
            "this label is set only by the server, on the claims of ClaimCreationPolicies",
        )]));
    }
    claim_created(cx, obj, claim, now).await
}

/// A claim written directly counts on its consumer's path. It is an
/// object of its own, not a guard on another write: without room it is
/// stored refused (Granted=False, QuotaExceeded), as Milo stores it, and
/// counts nowhere. Its buckets are read to decide that; a claim that meets
/// a full bucket only at the transaction (a concurrent claim took the
/// room) is a 403.
async fn claim_created(
    cx: &HookContext<'_>,
    obj: &mut Object,
    claim: q::ResourceClaim,
    now: &str,
) -> Result<Pending, ApiError> {
    let generation = obj.metadata.generation.unwrap_or(1);
    let path = consumer_path(cx.store, &claim.consumer, "spec.consumerRef").await?;
    let registrations = super::inputs(cx).await?.registrations.clone();
    let claims = vec![claim];
    let levels = read_buckets(cx.store, &path, &claim_types(&claims)).await?;
    let plan = match q::plan_claims(&claims, &path, &levels, &registrations) {
        Ok(plan) => plan,
        Err(refusal @ q::ClaimRefusal::Exceeded(_)) => {
            for t in claim_types(&claims) {
                emit(&q::decision_metric(
                    &t,
                    q::Decision::QuotaExceeded,
                    chrono::Utc::now().timestamp_millis(),
                ));
            }
            obj.set_status(q::claim_refused_status(&refusal, generation, now));
            return Ok(Pending::default());
        }
        Err(refusal) => return Err(refused(&claims, &refusal)),
    };
    let allocations = plan
        .plans
        .first()
        .map(|p| p.allocations.clone())
        .unwrap_or_default();
    obj.set_status(q::claim_granted_status(&allocations, generation, now));
    let writes = bucket_writes(&plan.changes, &path, &levels, now);
    Ok(Pending {
        claim_buckets: writes,
        replan: Some(Replan {
            claims,
            path,
            registrations,
            now: now.to_string(),
        }),
        ..Pending::default()
    })
}

/// A ResourceClaim deleted directly: its usage released. One a policy made
/// is refused (403): it goes with its object.
pub(super) async fn claim_deleted(
    cx: &HookContext<'_>,
    old: &Object,
    now: &str,
) -> Result<Pending, ApiError> {
    let auto_created = old.metadata.labels.get(q::AUTO_CREATED_LABEL);
    if auto_created.map(String::as_str) == Some("true") {
        // Its usage is counted on its object's path; it goes with that
        // object.
        return Err(ApiError::Forbidden {
            message: format!(
                "resourceclaims.quota.miloapis.com \"{}\" was created by a ClaimCreationPolicy; it is released when its object is deleted",
                old.metadata.name
            ),
        });
    }
    let claim = q::parse_claim(&old.to_value()).map_err(|c| invalid(cx, &old.metadata.name, c))?;
    let path = consumer_path(cx.store, &claim.consumer, "spec.consumerRef").await?;
    let changes = q::merge_changes(&q::plan_release(&claim, &path));
    let levels = BTreeMap::new();
    Ok(Pending::of(bucket_writes(&changes, &path, &levels, now)))
}

/// The claim documents the ClaimCreationPolicies render for a new object
/// (its `user` and `requestInfo` from the request's description).
fn claim_documents(
    cx: &HookContext<'_>,
    obj: &Object,
    policies: &[q::ClaimCreationPolicy],
) -> Result<Vec<Value>, ApiError> {
    let trigger = obj.to_value();
    let principal = &cx.request.principal;
    let user = json!({
        "username": principal.subject,
        "name": principal.subject,
        "groups": principal.groups,
    });
    let request_info = json!({
        "verb": "create",
        "apiGroup": cx.kind.group,
        "apiVersion": cx.kind.storage_version,
        "resource": cx.kind.plural,
        "name": obj.metadata.name,
        "namespace": obj.metadata.namespace,
    });
    let policy_inputs = q::PolicyInputs {
        trigger: &trigger,
        user: &user,
        request_info: &request_info,
    };
    // A template without consumerRef claims from the control plane the
    // object is written in, as Milo fills it from the request's context.
    let context_consumer = match cx.context {
        Context::Organization(org) => Some(Node::organization(org).to_ref().to_json()),
        Context::Project(project) => Some(Node::project(project).to_ref().to_json()),
        Context::Platform => None,
    };
    let mut documents = Vec::new();
    for policy in policies {
        let claim = policy
            .claim_in_context_for(&policy_inputs, context_consumer.as_ref())
            .map_err(|e| policy_invalid(&e))?;
        documents.extend(claim);
    }
    Ok(documents)
}

/// The claims the ClaimCreationPolicies make for a new object, decided
/// against the buckets on its path.
pub(super) async fn claims_for(
    cx: &HookContext<'_>,
    obj: &Object,
    placement: &[Link],
    now: &str,
    inputs: &Inputs,
) -> Result<Pending, ApiError> {
    let policies = &inputs.claim_policies;
    if policies.is_empty() {
        return Ok(Pending::default());
    }
    let documents = claim_documents(cx, obj, policies)?;
    if documents.is_empty() {
        return Ok(Pending::default());
    }
    let name = obj.metadata.name.clone();
    let placement = is_hierarchy(cx.kind).then_some(placement);
    let Some(path) = path_of(cx, obj, placement).await? else {
        return Err(invalid(cx,
            &name,
            vec![Cause::invalid(
                "metadata",
                "a ClaimCreationPolicy applies to this object, but it is in no organization's tree, so it has no quota to claim from",
            )],
        ));
    };
    let (claims, mut objects) = rendered_claims(cx, documents, placement.is_some(), now)?;
    let registrations = inputs.registrations.clone();
    // No bucket read: the transaction's conditions decide (see persist).
    let plan = q::plan_claims_unread(&claims, &path, &registrations)
        .map_err(|refusal| refused(&claims, &refusal))?;
    let mut claim_objects = Vec::new();
    for (claim_obj, claim_plan) in objects.iter_mut().zip(&plan.plans) {
        claim_obj.set_status(q::claim_granted_status(&claim_plan.allocations, 1, now));
        // One item: claims' labels are not indexed (list.rs), the object
        // records it (CLAIMS_ANNOTATION), and it never keeps its
        // namespace from being deleted, as its object releases it.
        let claim_ref = claim_ref(cx, &claim_obj.metadata.namespace, &claim_obj.metadata.name);
        claim_objects.push(QuotaWrite::Item(Write::PutObject {
            key: claim_ref.key(),
            object: claim_obj.to_value(),
            version: 1,
            expect: Expect::Absent,
        }));
    }
    Ok(Pending {
        writes: claim_objects,
        claim_buckets: bucket_writes(&plan.changes, &path, &BTreeMap::new(), now),
        replan: Some(Replan {
            claims,
            path,
            registrations,
            now: now.to_string(),
        }),
        moves_stamp: false,
        earlier: Vec::new(),
    })
}

/// The claims rendered for a new object, as claims and as the objects
/// stored (422 if one is invalid). `placed`: the object is a folder or
/// project, whose path starts from its parent.
fn rendered_claims(
    cx: &HookContext<'_>,
    documents: Vec<Value>,
    placed: bool,
    now: &str,
) -> Result<(Vec<q::ResourceClaim>, Vec<Object>), ApiError> {
    let claim_kind = catalog_kind(cx, &q::RESOURCE_CLAIM)?;
    // The context its path started from, for the audit to start there
    // too (a folder's or project's starts from its parent, which its
    // resourceRef tells).
    let resource_context = match cx.context {
        Context::Organization(org) if !placed => Some(Node::organization(org)),
        Context::Project(project) if !placed => Some(Node::project(project)),
        _ => None,
    };
    let mut claims = Vec::new();
    let mut objects = Vec::new();
    for document in documents {
        let (mut claim_obj, mut causes) = rendered_object(document, &claim_kind, now)?;
        if let Some(node) = &resource_context {
            claim_obj.metadata.annotations.insert(
                q::RESOURCE_CONTEXT_ANNOTATION.into(),
                q::resource_context_value(node),
            );
        }
        let claim = q::parse_claim(&claim_obj.to_value());
        match claim {
            Ok(claim) if causes.is_empty() => claims.push(claim),
            Ok(_) => {}
            Err(more) => causes.extend(more),
        }
        if !causes.is_empty() {
            return Err(ApiError::invalid(
                q::QUOTA_GROUP,
                q::RESOURCE_CLAIM.plural,
                &claim_obj.metadata.name,
                causes,
            ));
        }
        objects.push(claim_obj);
    }
    Ok((claims, objects))
}

/// Where a claim a policy makes for this request's object lives: the
/// context its object is stored in (a Secret's claim in the project's
/// control plane, as Milo; a project's claim in the platform's).
pub(super) fn claim_ref(cx: &HookContext<'_>, namespace: &str, name: &str) -> ObjectRef {
    let home = object_ref(cx.context, cx.kind, "", "").context;
    builtin_ref(&home, &q::RESOURCE_CLAIM, namespace, name)
}

/// The claims a policy made for `obj` (those its CLAIMS_ANNOTATION
/// records, kept if their owner is this very object), as stored.
pub(super) async fn claims_of(
    cx: &HookContext<'_>,
    obj: &Object,
) -> Result<Vec<(store::Stored, q::ResourceClaim)>, ApiError> {
    let Some(held) = obj.metadata.annotations.get(q::CLAIMS_ANNOTATION) else {
        return Ok(Vec::new());
    };
    let keys: Vec<_> = q::held_claims(held)
        .iter()
        .map(|(namespace, name)| claim_ref(cx, namespace, name).key())
        .collect();
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let stored = cx.store.batch_get(&keys).await.map_err(from_store)?;
    let uid = &obj.metadata.uid;
    Ok(stored
        .into_iter()
        .filter(|s| {
            s.object["metadata"]["ownerReferences"]
                .as_array()
                .is_some_and(|owners| owners.iter().any(|o| o["uid"] == uid.as_str()))
        })
        .filter_map(|s| {
            let claim = q::parse_claim(&s.object).ok()?;
            Some((s, claim))
        })
        .collect())
}

/// The claims a policy made for `old`, deleted with their usage.
pub(super) async fn release_claims_of(
    cx: &HookContext<'_>,
    old: &Object,
    now: &str,
) -> Result<Pending, ApiError> {
    let claims = claims_of(cx, old).await?;
    if claims.is_empty() {
        return Ok(Pending::default());
    }
    let Some(path) = path_of(cx, old, None).await? else {
        return Ok(Pending::default());
    };
    let mut changes = Vec::new();
    let mut rest = Vec::new();
    for (stored, claim) in &claims {
        changes.extend(q::plan_release(claim, &path));
        rest.push(Write::Delete {
            key: claim_ref(cx, &claim.namespace, &claim.name).key(),
            expect: Expect::Version(stored.version),
        });
    }
    let changes = q::merge_changes(&changes);
    let levels = BTreeMap::new();
    let mut writes = bucket_writes(&changes, &path, &levels, now);
    writes.extend(rest.into_iter().map(QuotaWrite::Item));
    Ok(Pending::of(writes))
}
