//! The policy built once from what is stored (every role resolved, every
//! binding indexed by whom it names) and the decision made from it, which
//! looks only at the asking subject's own bindings.

use std::collections::{BTreeSet, HashMap};

use super::bindings::SubjectKey;
use super::permission::rbac_group;
use super::wording::{
    kind_phrase, node_phrase, object_phrase, reach_phrase, reference_phrase, target_phrase,
};
use super::{
    resolve, BindingDef, Decision, Membership, Permission, Policy, Reach, Resolved, RoleDef,
    Subject, Target, ADMIN_GROUP, AUTHENTICATED_GROUP,
};

pub(super) fn new(
    roles: Vec<RoleDef>,
    bindings: Vec<BindingDef>,
    memberships: Vec<Membership>,
) -> Policy {
    let defs: HashMap<_, _> = roles
        .into_iter()
        .map(|role| (role.reference().clone(), role))
        .collect();
    let roles = resolve::resolve_all(&defs);
    let mut by_user: HashMap<String, Vec<usize>> = HashMap::new();
    let mut by_group: HashMap<String, Vec<usize>> = HashMap::new();
    for (index, binding) in bindings.iter().enumerate() {
        for key in binding.subject_keys() {
            let (map, name) = match key {
                SubjectKey::User(name) => (&mut by_user, name),
                SubjectKey::Group(name) => (&mut by_group, name),
            };
            let indexes = map.entry(name.clone()).or_default();
            // A binding naming the same subject twice is looked at once.
            if indexes.last() != Some(&index) {
                indexes.push(index);
            }
        }
    }
    let binding_roles = bindings
        .iter()
        .map(|binding| resolve::lookup(&roles, &binding.reference().context, binding.role()))
        .collect();
    let mut by_member: HashMap<String, Vec<String>> = HashMap::new();
    for membership in memberships {
        by_member
            .entry(membership.user)
            .or_default()
            .push(membership.group);
    }
    Policy {
        defs,
        roles,
        bindings,
        binding_roles,
        by_user,
        by_group,
        memberships: by_member,
    }
}

pub(super) fn subject(policy: &Policy, user: &str, token_groups: &[String]) -> Subject {
    let mut groups: BTreeSet<String> = token_groups.iter().cloned().collect();
    groups.insert(AUTHENTICATED_GROUP.to_string());
    if let Some(member_of) = policy.memberships.get(user) {
        groups.extend(member_of.iter().cloned());
    }
    Subject {
        user: user.to_string(),
        groups,
    }
}

impl Policy {
    /// The indexes of the bindings naming the subject (its user or one of
    /// its groups), each once, in a stable order: the user's, then by group.
    pub(super) fn bindings_of(&self, subject: &Subject) -> Vec<usize> {
        let mut indexes: Vec<usize> = Vec::new();
        let by_user = self.by_user.get(&subject.user).into_iter();
        let by_group = subject
            .groups
            .iter()
            .filter_map(|group| self.by_group.get(group));
        for list in by_user.chain(by_group) {
            indexes.extend(list);
        }
        let mut seen = BTreeSet::new();
        indexes.retain(|index| seen.insert(*index));
        indexes
    }

    /// Binding `index` and its role, when the role resolved.
    pub(super) fn binding_with_role(&self, index: usize) -> Option<(&BindingDef, &Resolved)> {
        let key = self.binding_roles.get(index)?.as_ref()?;
        Some((self.bindings.get(index)?, self.roles.get(key)?))
    }
}

pub(super) fn decide(
    policy: &Policy,
    subject: &Subject,
    permission: &Permission,
    target: &Target,
) -> Decision {
    if subject.is_admin() {
        return Decision {
            allowed: true,
            binding: None,
            reason: format!("allowed: member of {ADMIN_GROUP}"),
        };
    }
    for index in policy.bindings_of(subject) {
        let Some((binding, role)) = policy.binding_with_role(index) else {
            continue;
        };
        if covers(binding.reach(), target) && role.grants(permission, target.name.as_deref()) {
            return Decision {
                allowed: true,
                binding: Some(binding.reference().clone()),
                reason: allowed_reason(policy, index, binding),
            };
        }
    }
    Decision {
        allowed: false,
        binding: None,
        reason: format!(
            "no binding grants {} on {} to user {}",
            permission.name(),
            target_phrase(target),
            subject.user
        ),
    }
}

/// "allowed by PolicyBinding default/x in Organization o (role
/// datum-system/y of the platform) on Organization o and below".
fn allowed_reason(policy: &Policy, index: usize, binding: &BindingDef) -> String {
    let role = match policy.binding_roles.get(index).and_then(Option::as_ref) {
        Some(key) => format!(
            "{} {} of {}",
            kind_phrase(&key.kind),
            reference_phrase(key),
            node_phrase(&key.context)
        ),
        None => reference_phrase(binding.role()),
    };
    format!(
        "allowed by {} ({role}) {}",
        object_phrase(binding.reference()),
        reach_phrase(binding.reach())
    )
}

/// Whether a binding's reach includes the target.
pub(super) fn covers(reach: &Reach, target: &Target) -> bool {
    match reach {
        Reach::Node(node) | Reach::Context(node) => target.chain.contains(node),
        Reach::Kind {
            context,
            group,
            kind,
        } => {
            target.chain.contains(context)
                && rbac_group(group) == rbac_group(&target.group)
                && *kind == target.kind
        }
        Reach::Object {
            context,
            group,
            kind,
            namespace,
            name,
        } => {
            target.context == *context
                && rbac_group(group) == rbac_group(&target.group)
                && *kind == target.kind
                && target.namespace.as_deref().unwrap_or("") == namespace
                && target.name.as_deref() == Some(name.as_str())
        }
        Reach::Namespace { context, namespace } => {
            target.context == *context && target.namespace.as_deref() == Some(namespace.as_str())
        }
    }
}
