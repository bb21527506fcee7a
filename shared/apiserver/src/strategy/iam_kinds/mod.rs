//! The objects IAM decides with: roles, bindings and group memberships of
//! both families (Milo's, Kubernetes' RBAC). Each is parsed at write (422
//! when it does not); a role or binding may grant only what its writer
//! holds where it applies (no escalation); a binding's Ready condition
//! says whether its role resolves and grants anything, a Role's status
//! its effective permissions. A write moves `s#iam` and answers once
//! every instance will decide with it.

use domain::event_record::{Involved, Notice};
use domain::iam::{BindingDef, Node, Permission, Reach, Resolved, RoleDef, Target};
use domain::kinds::KindInfo;
use domain::object::Object;
use domain::{ApiError, Cause};
use serde_json::{json, Value};

use super::{Reads, Strategy, StrategyContext};

mod uids;

use crate::authorization::{self, iam_cache, node_of};
use crate::write_set::Stamp;

pub(super) struct IamKinds;
impl Strategy for IamKinds {
    fn validate(&self, kind: &KindInfo, new: &Object, valid_so_far: bool) -> Vec<Cause> {
        if !valid_so_far {
            return Vec::new();
        }
        let doc = new.to_value();
        let parsed = match iam_cache::policy_kind(&kind.group, &kind.kind) {
            Some(iam_cache::PolicyKind::Role) => RoleDef::parse(&Node::Platform, &doc).err(),
            Some(iam_cache::PolicyKind::Binding) => BindingDef::parse(&Node::Platform, &doc).err(),
            Some(iam_cache::PolicyKind::Membership) => {
                domain::iam::Membership::parse(&Node::Platform, &doc).err()
            }
            None => None,
        };
        parsed.map(parse_cause).into_iter().collect()
    }

    fn admit_with_reads<'a>(
        &'a self,
        cx: &'a StrategyContext<'a>,
        obj: &'a mut Object,
        _previous: &'a Value,
    ) -> Reads<'a, ()> {
        Box::pin(async move {
            match iam_cache::policy_kind(&cx.kind.group, &cx.kind.kind) {
                Some(iam_cache::PolicyKind::Role) => admit_role(cx, obj).await,
                Some(iam_cache::PolicyKind::Binding) => admit_binding(cx, obj).await,
                _ => Ok(()),
            }
        })
    }

    fn stamp(&self) -> Option<Stamp> {
        Some(Stamp::Iam)
    }

    fn answers_when_every_instance_applies(&self) -> bool {
        true
    }
}

/// A role grants only what its writer holds in its context; its status
/// lists what it grants (Milo's `effectivePermissions`).
async fn admit_role(cx: &StrategyContext<'_>, obj: &mut Object) -> Result<(), ApiError> {
    let server = cx.server;
    let node = node_of(cx.context);
    let doc = obj.to_value();
    let role = RoleDef::parse(&node, &doc).map_err(|m| invalid(cx, obj, m))?;
    let policy = server.iam.reload_if_changed(&server.store).await?;
    // As written, its inherited roles as stored.
    let resolved = policy.resolve(&role);
    let writer = authorization::subject_of(&policy, cx.request);
    let at = authorization::context_target(server, cx.context).await?;
    let missing = policy.escalation(&writer, &resolved, &at);
    refuse_escalation(cx, obj, &missing)?;
    if cx.kind.group == domain::iam::IAM_GROUP {
        let mut status = obj.status().clone();
        if !status.is_object() {
            status = json!({});
        }
        status["effectivePermissions"] = json!(resolved.effective_permissions());
        status["conditions"] = json!([role_ready(cx, obj, &resolved)]);
        obj.set_status(status);
    }
    Ok(())
}

/// A role is Ready once stored; its message says what it grants and what
/// in it grants nothing (a malformed name, a missing or cyclic inherited
/// role, a permission no served resource has: Milo accepts them all).
fn role_ready(cx: &StrategyContext<'_>, obj: &Object, resolved: &Resolved) -> Value {
    let served = |p: &Permission| {
        let plural = p.resource.split('/').next().unwrap_or_default();
        cx.catalog
            .types()
            .iter()
            .any(|t| domain::iam::permission_group(&t.group) == p.group && t.plural == plural)
    };
    let mut problems: Vec<String> = resolved.problems().to_vec();
    problems.extend(
        resolved
            .unknown_permissions(&served)
            .into_iter()
            .map(|p| format!("{p}: no resource served here has this permission (yet)")),
    );
    let granted = resolved.effective_permissions().len();
    let message = match problems.is_empty() {
        true => format!("grants {granted} permissions"),
        false => format!("grants {granted} permissions; {}", problems.join("; ")),
    };
    json!({
        "type": "Ready",
        "status": "True",
        "reason": if problems.is_empty() { "Ready" } else { "ReadyWithProblems" },
        "message": message,
        "lastTransitionTime": cx.request.timestamp(),
        "observedGeneration": obj.metadata.generation,
    })
}

/// A binding grants only a role whose permissions its writer holds where
/// the binding applies; a Milo binding's Ready condition says whether it
/// grants anything.
async fn admit_binding(cx: &StrategyContext<'_>, obj: &mut Object) -> Result<(), ApiError> {
    let server = cx.server;
    let node = node_of(cx.context);
    let unresolved = if cx.kind.group == domain::iam::IAM_GROUP {
        uids::resolve(cx, obj).await?
    } else {
        Vec::new()
    };
    let binding = BindingDef::parse(&node, &obj.to_value()).map_err(|m| invalid(cx, obj, m))?;
    let policy = server.iam.reload_if_changed(&server.store).await?;
    if let Some(role) = policy.role(&node, binding.role()) {
        let writer = authorization::subject_of(&policy, cx.request);
        let at = reach_target(server, cx, binding.reach()).await?;
        let missing = policy.escalation(&writer, role, &at);
        refuse_escalation(cx, obj, &missing)?;
    }
    if cx.kind.group == domain::iam::IAM_GROUP {
        let (ready, reason, message) = match unresolved.first() {
            Some(mismatch) => (false, uids::NOT_RESOLVED, mismatch.clone()),
            None => policy.binding_ready(&binding),
        };
        let now = cx.request.timestamp();
        let condition = json!({
            "type": "Ready",
            "status": if ready { "True" } else { "False" },
            "reason": reason,
            "message": message,
            "lastTransitionTime": now,
            "observedGeneration": obj.metadata.generation,
        });
        obj.set_status(json!({"conditions": [condition]}));
        if !ready {
            let meta = &obj.metadata;
            let binding = Involved::of_served(cx.kind, &meta.namespace, &meta.name, &meta.uid);
            let verb = cx.request.verb.as_str();
            // Written, but not Ready: its condition's reason and message.
            let notice = Notice::warning(binding, reason, verb, &message);
            cx.notices.raise(cx.context, notice);
        }
    }
    Ok(())
}

/// Where a binding applies, as the target a decision there would have.
async fn reach_target(
    server: &crate::ApiServer,
    cx: &StrategyContext<'_>,
    reach: &Reach,
) -> Result<Target, ApiError> {
    let mut target = authorization::context_target(server, cx.context).await?;
    match reach {
        Reach::Node(node) => return authorization::node_target(server, node).await,
        Reach::Context(_) => {}
        Reach::Kind { group, kind, .. } => {
            target.group = group.clone();
            target.kind = kind.clone();
        }
        Reach::Object {
            group,
            kind,
            namespace,
            name,
            ..
        } => {
            target.group = group.clone();
            target.kind = kind.clone();
            target.namespace = (!namespace.is_empty()).then(|| namespace.clone());
            target.name = Some(name.clone());
        }
        Reach::Namespace { namespace, .. } => target.namespace = Some(namespace.clone()),
    }
    Ok(target)
}

fn refuse_escalation(
    cx: &StrategyContext<'_>,
    obj: &Object,
    missing: &[String],
) -> Result<(), ApiError> {
    if missing.is_empty() {
        return Ok(());
    }
    Err(ApiError::Forbidden {
        message: format!(
            "{} \"{}\" is forbidden: it would grant permissions User \"{}\" does not hold where it applies (no escalation): {}",
            cx.kind.plural,
            obj.metadata.name,
            cx.request.principal.subject,
            missing.join(", ")
        ),
    })
}

/// domain::iam's parse messages start with the field they are about.
fn parse_cause(message: String) -> Cause {
    let field = message
        .split(':')
        .next()
        .unwrap_or("spec")
        .trim()
        .to_string();
    Cause {
        reason: "FieldValueInvalid".into(),
        field,
        message,
    }
}

fn invalid(cx: &StrategyContext<'_>, obj: &Object, message: String) -> ApiError {
    ApiError::invalid(
        &cx.kind.group,
        &cx.kind.plural,
        &obj.metadata.name,
        vec![parse_cause(message)],
    )
}
