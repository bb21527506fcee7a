//! What the GrantCreationPolicies do for a trigger written: the grants
//! they render are created, changed or deleted in the trigger's
//! transaction, with their limits.

use std::collections::BTreeMap;

use domain::kinds::{KindInfo, ORGANIZATION_LABEL};
use domain::lifecycle;
use domain::object::Object;
use domain::quota::{self as q, Node};
use domain::ApiError;
use serde_json::Value;
use store::{Context, Expect, ObjectRef, Stored, Write};

use super::bucket_items::QuotaWrite;
use super::buckets::limit_writes;
use super::paths::{consumer_not_found, consumer_organization};
use super::rendered::{policy_invalid, rendered_object};
use super::{catalog_kind, HookContext, Pending};
use crate::errors::from_store;
use crate::label_index;
use crate::placement::builtin_ref;
use crate::quota_cache::Inputs;

/// A grant a policy made for the old trigger, as stored (and owned by it).
struct StoredGrant {
    grant_ref: ObjectRef,
    stored: Stored,
}

/// The grant a policy renders for the new trigger.
struct NextGrant {
    grant_ref: ObjectRef,
    object: Object,
    grant: q::ResourceGrant,
}

/// What the GrantCreationPolicies do for a trigger written (`old`: as
/// stored before, `new`: as written; `None` on create / delete). A grant
/// is found again by the context and namespace its policy renders for the
/// trigger and the name the trigger's GRANTS_ANNOTATION records (else the
/// rendered one), and is only touched if the trigger owns it. Also returns
/// what the annotation records now: each policy's grant that stands.
pub(super) async fn grants_for(
    cx: &HookContext<'_>,
    old: Option<&Object>,
    new: Option<&Object>,
    now: &str,
    inputs: &Inputs,
) -> Result<(Pending, BTreeMap<String, String>), ApiError> {
    let policies = &inputs.grant_policies;
    let mut held = BTreeMap::new();
    if policies.is_empty() {
        return Ok((Pending::default(), held));
    }
    let recorded = old
        .and_then(|o| o.metadata.annotations.get(q::GRANTS_ANNOTATION))
        .map(|v| q::held_grants(v))
        .unwrap_or_default();
    let grant_kind = catalog_kind(cx, &q::RESOURCE_GRANT)?;
    let old_doc = old.map(Object::to_value);
    let new_doc = new.map(Object::to_value);
    let mut writes = Vec::new();
    for policy in policies {
        let before = render(policy, old_doc.as_ref())?;
        let after = render(policy, new_doc.as_ref())?;
        let stored = match (&before, old) {
            (Some(before), Some(old)) => {
                stored_grant(cx, before, recorded.get(&policy.name), old).await?
            }
            _ => None,
        };
        let next = match &after {
            Some(after) => Some(next_grant(
                after,
                stored.as_ref(),
                &grant_kind,
                inputs,
                now,
            )?),
            None => None,
        };
        match (stored, next) {
            (None, None) => {}
            (Some(stored), None) => writes.extend(grant_gone(cx, &stored, now).await?),
            (stored, Some(next)) => {
                held.insert(policy.name.clone(), next.grant_ref.name.clone());
                writes.extend(Box::pin(grant_rendered(cx, stored, next, new, now)).await?);
            }
        }
    }
    Ok((Pending::of(writes), held))
}

/// The grant `policy` renders for a trigger's document, if it applies.
/// Whether any policy renders a grant for `obj` (its delete then reads
/// and deletes what the policy made).
pub(super) fn any_renders(inputs: &Inputs, obj: &Object) -> Result<bool, ApiError> {
    if inputs.grant_policies.is_empty() {
        // Every update asks (objects/delete_collection.rs): no document
        // built for nothing.
        return Ok(false);
    }
    let doc = obj.to_value();
    for policy in &inputs.grant_policies {
        if render(policy, Some(&doc))?.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}

fn render(
    policy: &q::GrantCreationPolicy,
    doc: Option<&Value>,
) -> Result<Option<q::RenderedGrant>, ApiError> {
    let Some(doc) = doc else {
        return Ok(None);
    };
    if !policy.applies_to(doc).map_err(|e| e.to_api_error())? {
        return Ok(None);
    }
    policy
        .render_grant(doc)
        .map(Some)
        .map_err(|e| policy_invalid(&e))
}

/// The grant a policy made for the old trigger (rendered as `before`,
/// named as `recorded` if the trigger recorded it), as stored, if the
/// trigger owns it.
async fn stored_grant(
    cx: &HookContext<'_>,
    before: &q::RenderedGrant,
    recorded: Option<&String>,
    old: &Object,
) -> Result<Option<StoredGrant>, ApiError> {
    let mut grant_ref = rendered_ref(before);
    if let Some(name) = recorded {
        grant_ref.name = name.clone();
    }
    if grant_ref.name.is_empty() {
        return Ok(None);
    }
    let Some(stored) = cx.store.get(&grant_ref.key()).await.map_err(from_store)? else {
        return Ok(None);
    };
    let owned = stored.object["metadata"]["ownerReferences"]
        .as_array()
        .is_some_and(|o| o.iter().any(|o| o["uid"] == old.metadata.uid.as_str()));
    Ok(owned.then_some(StoredGrant { grant_ref, stored }))
}

/// The grant rendered as `after`, as a new object (422 if it is invalid
/// or names a type not registered). Rendered again in the place of the
/// grant made before (`stored`) and with only a generateName, it stays
/// that grant.
fn next_grant(
    after: &q::RenderedGrant,
    stored: Option<&StoredGrant>,
    grant_kind: &KindInfo,
    inputs: &Inputs,
    now: &str,
) -> Result<NextGrant, ApiError> {
    let (mut object, mut causes) = rendered_object(after.document.clone(), grant_kind, now)?;
    let grant = match q::parse_grant(&object.to_value()) {
        Ok(grant) => {
            causes.extend(grant.check_registrations(&inputs.registrations));
            Some(grant)
        }
        Err(more) => {
            causes.extend(more);
            None
        }
    };
    let (Some(grant), true) = (grant, causes.is_empty()) else {
        return Err(ApiError::invalid(
            q::QUOTA_GROUP,
            q::RESOURCE_GRANT.plural,
            &object.metadata.name,
            causes,
        ));
    };
    let mut grant_ref = rendered_ref(after);
    if let Some(old) = stored.filter(|_| grant_ref.name.is_empty()) {
        grant_ref.name = old.grant_ref.name.clone();
        if grant_ref == old.grant_ref {
            object.metadata.name = old.grant_ref.name.clone();
        }
    }
    grant_ref.name = object.metadata.name.clone();
    Ok(NextGrant {
        grant_ref,
        object,
        grant,
    })
}

/// The writes deleting a stored grant and its label index items.
fn grant_delete(stored: &StoredGrant) -> Vec<Write> {
    let mut writes = vec![Write::Delete {
        key: stored.grant_ref.key(),
        expect: Expect::Version(stored.stored.version),
    }];
    let labels = label_index::of_document(&stored.stored.object);
    writes.extend(label_index::deletes(&stored.grant_ref, &labels));
    writes
}

/// A grant the policy no longer renders: deleted, its limits taken back.
async fn grant_gone(
    cx: &HookContext<'_>,
    stored: &StoredGrant,
    now: &str,
) -> Result<Vec<QuotaWrite>, ApiError> {
    let grant = q::parse_grant(&stored.stored.object)
        .map_err(|c| ApiError::internal(format!("stored grant is corrupt: {c:?}")))?;
    let org = consumer_organization(cx.store, &grant.consumer).await?;
    let mut writes: Vec<QuotaWrite> = grant_delete(stored).into_iter().map(Into::into).collect();
    let changes = q::grant_limit_changes(Some(&grant), None);
    writes.extend(limit_writes(&changes, &grant, org.as_deref(), now));
    Ok(writes)
}

/// A grant the policy renders: created, or changed in place (keeping its
/// identity; nothing if its consumer and allowances are as stored), or
/// moved (the old one deleted); its limits follow.
async fn grant_rendered(
    cx: &HookContext<'_>,
    stored: Option<StoredGrant>,
    next: NextGrant,
    trigger: Option<&Object>,
    now: &str,
) -> Result<Vec<QuotaWrite>, ApiError> {
    let NextGrant {
        grant_ref,
        mut object,
        grant,
    } = next;
    let org = grant_organization(cx, &grant.consumer, trigger).await?;
    let mut writes = Vec::new();
    let (before, version, old_labels) = match &stored {
        Some(same) if same.grant_ref == grant_ref => {
            let before = q::parse_grant(&same.stored.object).ok();
            if before.as_ref().map(|b| (&b.consumer, &b.allowances))
                == Some((&grant.consumer, &grant.allowances))
            {
                return Ok(writes);
            }
            keep_identity(&mut object, &same.stored)?;
            let labels = label_index::of_document(&same.stored.object);
            (before, Some(same.stored.version), labels)
        }
        Some(elsewhere) => {
            // Rendered elsewhere now: the old one goes.
            writes.extend(grant_delete(elsewhere).into_iter().map(QuotaWrite::Item));
            if let Ok(b) = q::parse_grant(&elsewhere.stored.object) {
                let old_org = consumer_organization(cx.store, &b.consumer).await?;
                let gone = q::grant_limit_changes(Some(&b), None);
                writes.extend(limit_writes(&gone, &b, old_org.as_deref(), now));
            }
            (None, None, label_index::Labels::new())
        }
        None => (None, None, label_index::Labels::new()),
    };
    let generation = object.metadata.generation.unwrap_or(1);
    object.set_status(q::grant_status(generation, now));
    let grant = q::ResourceGrant {
        generation,
        ..grant
    };
    let doc = object.to_value();
    let new_labels = label_index::of_document(&doc);
    writes.push(QuotaWrite::Item(Write::PutObject {
        key: grant_ref.key(),
        object: doc,
        version: version.map_or(1, |v| v + 1),
        expect: version.map_or(Expect::Absent, Expect::Version),
    }));
    writes.extend(
        label_index::changes(&grant_ref, &old_labels, &new_labels)
            .into_iter()
            .map(QuotaWrite::Item),
    );
    let changes = q::grant_limit_changes(before.as_ref(), Some(&grant));
    writes.extend(limit_writes(&changes, &grant, Some(&org), now));
    Ok(writes)
}

/// The same grant with new content keeps what the server set on it
/// (uid, creation, generation: `lifecycle::carry_over`).
fn keep_identity(object: &mut Object, stored: &Stored) -> Result<(), ApiError> {
    let kept = Object::from_value(stored.object.clone())
        .map_err(|e| ApiError::internal(format!("stored grant: {e}")))?;
    // The rendered grant has no identity of its own yet.
    object.metadata.uid.clear();
    let causes = lifecycle::carry_over(&kept, object, stored.version + 1);
    debug_assert!(causes.is_empty(), "{causes:?}");
    Ok(())
}

/// The organization of a policy grant's consumer, which may be the
/// trigger being created in this very transaction; 422 if it does not
/// exist.
pub(super) async fn grant_organization(
    cx: &HookContext<'_>,
    consumer: &Node,
    trigger: Option<&Object>,
) -> Result<String, ApiError> {
    if let Some(trigger) = trigger {
        let own = q::NodeKind::of(&cx.kind.group, &cx.kind.kind)
            .map(|kind| Node::new(kind, &trigger.metadata.name));
        if own.as_ref() == Some(consumer) {
            return match consumer.kind {
                q::NodeKind::Organization => Ok(consumer.name.clone()),
                _ => Ok(trigger
                    .metadata
                    .labels
                    .get(ORGANIZATION_LABEL)
                    .cloned()
                    .unwrap_or_default()),
            };
        }
    }
    match consumer_organization(cx.store, consumer).await? {
        Some(org) => Ok(org),
        None => Err(ApiError::invalid(
            q::QUOTA_GROUP,
            q::RESOURCE_GRANT.plural,
            &consumer.name,
            vec![consumer_not_found("spec.consumerRef", consumer)],
        )),
    }
}

/// Records on a trigger the grants its policies made (GRANTS_ANNOTATION).
pub(super) fn record_grants(trigger: &mut Object, held: &BTreeMap<String, String>) {
    let annotations = &mut trigger.metadata.annotations;
    match q::held_grants_value(held) {
        Some(value) => annotations.insert(q::GRANTS_ANNOTATION.into(), value),
        None => annotations.remove(q::GRANTS_ANNOTATION),
    };
}

/// Where a rendered grant lives: the policy's parent context if it names
/// one, else the platform; the rendered namespace and name.
pub(super) fn rendered_ref(rendered: &q::RenderedGrant) -> ObjectRef {
    let context = match &rendered.parent_context {
        Some(p) if p.kind == "Organization" => Context::Organization(p.name.clone()),
        Some(p) if p.kind == "Project" => Context::Project(p.name.clone()),
        _ => Context::Platform,
    };
    let meta = &rendered.document["metadata"];
    builtin_ref(
        &context,
        &q::RESOURCE_GRANT,
        meta["namespace"].as_str().unwrap_or_default(),
        meta["name"].as_str().unwrap_or_default(),
    )
}
