//! Milo's OrganizationMembership: a user in an organization, with roles
//! there. Its write checks what it names (the organization and each role:
//! 422 when missing, as Milo's webhook; a user may come later), copies the user's and the
//! organization's names into its status, and says which roles it applied;
//! the PolicyBindings that grant those roles are written in the same
//! transaction (hooks/memberships.rs), so the grant is in force when the
//! write answers. The last owner of an organization cannot be removed.

use std::collections::BTreeSet;

use domain::iam::organization_membership::{self, is_owner, roles_of, OWNER_ROLE};
use domain::kinds::{self, KindInfo};
use domain::object::Object;
use domain::{ApiError, Cause};
use serde_json::Value;
use store::Context;

use super::{Reads, Strategy, StrategyContext};
use crate::authorization;
use crate::errors::from_store;
use crate::placement::builtin_ref;
use crate::request::Verb;
use crate::write_set::Stamp;
use domain::iam::{Node, ObjectRef as IamRef};

pub(super) struct Memberships;
impl Strategy for Memberships {
    fn validate(&self, _kind: &KindInfo, new: &Object, _valid_so_far: bool) -> Vec<Cause> {
        let mut seen = BTreeSet::new();
        roles_of(new)
            .into_iter()
            .enumerate()
            .filter(|(_, role)| !seen.insert(role.clone()))
            .map(|(index, (name, namespace))| Cause {
                reason: "FieldValueDuplicate".into(),
                field: format!("spec.roles[{index}]"),
                message: format!("Duplicate value: role {namespace}/{name} is listed twice"),
            })
            .collect()
    }

    fn admit_with_reads<'a>(
        &'a self,
        cx: &'a StrategyContext<'a>,
        obj: &'a mut Object,
        _previous: &'a Value,
    ) -> Reads<'a, ()> {
        Box::pin(async move {
            if matches!(cx.request.verb, Verb::Update | Verb::Patch) && !is_owner(obj) {
                refuse_if_last_owner(cx, &obj.metadata.name, &obj.metadata.namespace).await?;
            }
            let status = status(cx, obj).await?;
            refuse_escalation(cx, obj).await?;
            obj.set_status(status);
            Ok(())
        })
    }

    fn check_delete<'a>(
        &'a self,
        cx: &'a StrategyContext<'a>,
        old: &'a Object,
    ) -> Option<Reads<'a, ()>> {
        Some(Box::pin(async move {
            // The last owner goes with its organization, or with its user
            // (as Milo's webhook lets the user's finalizer through).
            if is_owner(old) && !owner_may_leave(cx, old).await? {
                refuse_if_last_owner(cx, &old.metadata.name, &old.metadata.namespace).await?;
            }
            Ok(())
        }))
    }

    fn stamp(&self) -> Option<Stamp> {
        Some(Stamp::Iam)
    }

    fn answers_when_every_instance_applies(&self) -> bool {
        true
    }
}

/// The status a membership's write gives it (`organization_membership::
/// status`), once the organization and every role are found (else a 422).
async fn status(cx: &StrategyContext<'_>, obj: &Object) -> Result<Value, ApiError> {
    let user_name = obj.spec()["userRef"]["name"].as_str().unwrap_or_default();
    let org_name = obj.spec()["organizationRef"]["name"]
        .as_str()
        .unwrap_or_default();
    let user = read(cx, &Context::Platform, &kinds::USER, "", user_name)
        .await?
        .unwrap_or(Value::Null);
    let org = read(cx, &Context::Platform, &kinds::ORGANIZATION, "", org_name)
        .await?
        .ok_or_else(|| {
            not_found(
                cx,
                obj,
                "spec.organizationRef.name",
                format!("Organization \"{org_name}\" not found"),
            )
        })?;
    find_roles(cx, obj).await?;
    Ok(organization_membership::status(
        obj,
        &user,
        &org,
        &cx.request.timestamp(),
    ))
}

/// Each role of the membership found: stored here or in the platform, or
/// built in; else a 422 naming it.
async fn find_roles(cx: &StrategyContext<'_>, obj: &Object) -> Result<(), ApiError> {
    for (index, (name, namespace)) in roles_of(obj).into_iter().enumerate() {
        if domain::iam::is_builtin_role(&name, &namespace) {
            continue;
        }
        let here = read(cx, cx.context, &kinds::IAM_ROLE, &namespace, &name).await?;
        let found = match here {
            Some(role) => Some(role),
            None => read(cx, &Context::Platform, &kinds::IAM_ROLE, &namespace, &name).await?,
        };
        if found.is_none() {
            return Err(not_found(
                cx,
                obj,
                &format!("spec.roles[{index}]"),
                format!("role '{name}' not found in namespace '{namespace}'"),
            ));
        }
    }
    Ok(())
}

fn not_found(cx: &StrategyContext<'_>, obj: &Object, field: &str, message: String) -> ApiError {
    ApiError::invalid(
        &cx.kind.group,
        &cx.kind.plural,
        &obj.metadata.name,
        vec![Cause {
            reason: "FieldValueNotFound".into(),
            field: field.into(),
            message,
        }],
    )
}

/// A membership grants its roles in its organization through bindings
/// the platform writes; its writer must hold what those roles grant there,
/// as the writer of a binding must (no escalation through a membership).
async fn refuse_escalation(cx: &StrategyContext<'_>, obj: &Object) -> Result<(), ApiError> {
    let server = cx.server;
    let policy = server.iam.reload_if_changed(&server.store).await?;
    let writer = authorization::subject_of(&policy, cx.request);
    if writer.is_admin() {
        return Ok(());
    }
    let org = obj.spec()["organizationRef"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let at = authorization::node_target(server, &Node::Organization(org)).await?;
    let from = authorization::node_of(cx.context);
    let mut missing = Vec::new();
    for (name, namespace) in roles_of(obj) {
        let reference = IamRef {
            context: from.clone(),
            kind: domain::iam::ROLE_KIND.to_string(),
            namespace,
            name,
        };
        if let Some(role) = policy.role(&from, &reference) {
            missing.extend(policy.escalation(&writer, role, &at));
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    Err(ApiError::Forbidden {
        message: format!(
            "organizationmemberships \"{}\" is forbidden: its roles would grant permissions User \"{}\" does not hold in the organization (no escalation): {}",
            obj.metadata.name,
            cx.request.principal.subject,
            missing.join(", ")
        ),
    })
}

async fn read(
    cx: &StrategyContext<'_>,
    context: &Context,
    kind: &kinds::KindId,
    namespace: &str,
    name: &str,
) -> Result<Option<Value>, ApiError> {
    let key = builtin_ref(context, kind, namespace, name).key();
    let stored = cx.server.store.get(&key).await.map_err(from_store)?;
    Ok(stored.map(|s| s.object))
}

/// Whether the last owner may go: its organization is being deleted, or
/// its user is (or is gone), as Milo's webhook lets the user's finalizer
/// through.
async fn owner_may_leave(cx: &StrategyContext<'_>, membership: &Object) -> Result<bool, ApiError> {
    let named = |field: &str| {
        membership.spec()[field]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let terminating = |doc: &Value| doc.pointer("/metadata/deletionTimestamp").is_some();
    let platform = &Context::Platform;
    let org = read(
        cx,
        platform,
        &kinds::ORGANIZATION,
        "",
        &named("organizationRef"),
    )
    .await?;
    let user = read(cx, platform, &kinds::USER, "", &named("userRef")).await?;
    Ok(org.as_ref().is_some_and(terminating) || user.as_ref().is_none_or(terminating))
}

/// Refuses to take the owner role from `name` when no other membership of
/// its namespace (the organization's) holds it.
async fn refuse_if_last_owner(
    cx: &StrategyContext<'_>,
    name: &str,
    namespace: &str,
) -> Result<(), ApiError> {
    let key = builtin_ref(cx.context, &kinds::ORGANIZATION_MEMBERSHIP, namespace, name).key();
    let Some(stored) = cx.server.store.get(&key).await.map_err(from_store)? else {
        return Ok(());
    };
    let Ok(current) = Object::from_value(stored.object) else {
        return Ok(());
    };
    if !is_owner(&current) {
        return Ok(());
    }
    let members = crate::stamped::namespace_documents(
        &cx.server.store,
        cx.context,
        &kinds::ORGANIZATION_MEMBERSHIP,
        namespace,
    )
    .await?;
    let other_owner = members
        .into_iter()
        .filter(|m| m["metadata"]["name"] != name)
        .filter_map(|m| Object::from_value(m).ok())
        .any(|m| is_owner(&m));
    if other_owner {
        return Ok(());
    }
    let org = current.spec()["organizationRef"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    Err(ApiError::Forbidden {
        message: format!(
            "organizationmemberships \"{name}\" is the last owner of organization \"{org}\": an organization keeps at least one owner. Give another member the role {}/{} first, then remove this one",
            OWNER_ROLE.1, OWNER_ROLE.0
        ),
    })
}
