//! Roles resolved to what they grant: a Milo role's permissions with its
//! inherited roles' folded in (transitively; a missing role or a cycle is
//! a problem, and the rest still resolves), an RBAC role's rules as they are.

use std::collections::{HashMap, HashSet};

use super::permission::Rule;
use super::roles::Grants;
use super::wording::reference_phrase;
use super::{Node, ObjectRef, Permission, Resolved, RoleDef};

/// The key of the role `reference` names, from `from`: that context's
/// role first, then the platform's.
pub(super) fn lookup<T>(
    roles: &HashMap<ObjectRef, T>,
    from: &Node,
    reference: &ObjectRef,
) -> Option<ObjectRef> {
    let mut key = ObjectRef {
        context: from.clone(),
        ..reference.clone()
    };
    if roles.contains_key(&key) {
        return Some(key);
    }
    key.context = Node::Platform;
    roles.contains_key(&key).then_some(key)
}

pub(super) fn effective_permissions(resolved: &Resolved) -> Vec<String> {
    let mut names: Vec<String> = resolved.permissions.iter().map(Permission::name).collect();
    names.extend(resolved.rules.iter().flat_map(|rule| rule.spelt()));
    names.sort();
    names.dedup();
    names
}

/// Every role resolved, each once: a role already resolved is folded in
/// whole when another inherits it.
pub(super) fn resolve_all(roles: &HashMap<ObjectRef, RoleDef>) -> HashMap<ObjectRef, Resolved> {
    let mut done: HashMap<ObjectRef, Resolved> = HashMap::with_capacity(roles.len());
    let mut keys: Vec<&ObjectRef> = roles.keys().collect();
    // Sorted so that which role of a cycle reports it is the same every time.
    keys.sort();
    for key in keys {
        let mut walk = Walk {
            roles,
            done: &done,
            path: Vec::new(),
            seen: HashSet::new(),
            out: Resolved::default(),
        };
        walk.visit(key);
        let mut resolved = walk.out;
        let mut seen = HashSet::new();
        resolved
            .problems
            .retain(|problem| seen.insert(problem.clone()));
        done.insert(key.clone(), resolved);
    }
    done
}

/// One role's depth-first walk through what it inherits.
struct Walk<'a> {
    roles: &'a HashMap<ObjectRef, RoleDef>,
    done: &'a HashMap<ObjectRef, Resolved>,
    /// The roles from the root to here, to tell a cycle from a diamond.
    path: Vec<ObjectRef>,
    seen: HashSet<ObjectRef>,
    out: Resolved,
}

impl Walk<'_> {
    fn visit(&mut self, key: &ObjectRef) {
        if !self.seen.insert(key.clone()) {
            return;
        }
        let Some(role) = self.roles.get(key) else {
            return;
        };
        // Problems of an inherited role say which role has them.
        let prefix = match self.path.is_empty() {
            true => String::new(),
            false => format!("inherited role {}: ", reference_phrase(key)),
        };
        self.path.push(key.clone());
        match role.grants() {
            Grants::Rbac(rules) => self.out.rules.extend(rules.iter().cloned()),
            Grants::Milo {
                included,
                inherited,
            } => {
                self.include(included, &prefix);
                for (index, reference) in inherited.iter().enumerate() {
                    self.inherit(reference, &format!("{prefix}spec.inheritedRoles[{index}]"));
                }
            }
        }
        self.path.pop();
    }

    fn include(&mut self, included: &[String], prefix: &str) {
        for (index, name) in included.iter().enumerate() {
            match Permission::parse(name) {
                Some(permission) => match Rule::of_wildcard(&permission) {
                    Some(rule) => self.out.rules.push(rule),
                    None => {
                        self.out.permissions.insert(permission);
                    }
                },
                None => self.out.problems.push(format!(
                    "{prefix}spec.includedPermissions[{index}]: {name:?} is not a permission; spell it {{group}}/{{resource}}.{{verb}} (the core group as core); it grants nothing"
                )),
            }
        }
    }

    fn inherit(&mut self, reference: &ObjectRef, label: &str) {
        let Some(key) = lookup(self.roles, &reference.context, reference) else {
            self.out.problems.push(format!(
                "{label}: role {} not found; create it or remove it from inheritedRoles",
                reference_phrase(reference)
            ));
            return;
        };
        if let Some(start) = self.path.iter().position(|on_path| *on_path == key) {
            let cycle: Vec<String> = self.path[start..]
                .iter()
                .chain(std::iter::once(&key))
                .map(reference_phrase)
                .collect();
            self.out.problems.push(format!(
                "{label}: inheritedRoles form a cycle ({}); each role's permissions are counted once, remove one inheritance",
                cycle.join(" -> ")
            ));
            return;
        }
        let done = self.done;
        if let Some(resolved) = done.get(&key) {
            if self.seen.insert(key.clone()) {
                self.fold(&key, resolved);
            }
            return;
        }
        self.visit(&key);
    }

    /// A role resolved before, folded in whole.
    fn fold(&mut self, key: &ObjectRef, resolved: &Resolved) {
        self.out
            .permissions
            .extend(resolved.permissions.iter().cloned());
        self.out.rules.extend(resolved.rules.iter().cloned());
        let prefix = format!("inherited role {}: ", reference_phrase(key));
        self.out.problems.extend(
            resolved
                .problems
                .iter()
                .map(|problem| format!("{prefix}{problem}")),
        );
    }
}
