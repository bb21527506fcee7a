//! Permissions as Milo spells them, and Kubernetes RBAC rules: what a rule
//! grants, and whether one rule covers another (for escalation).

use serde_json::{json, Value};

use super::Permission;

/// How a permission spells the core API group (RBAC spells it "").
pub(super) const CORE: &str = "core";

/// `{group}/{resource}.{verb}`: split at the first `/` (a group has none)
/// and the last `.` (a verb has none; a group and a resource may).
pub(super) fn parse(name: &str) -> Option<Permission> {
    let (group, rest) = name.split_once('/')?;
    let (resource, verb) = rest.rsplit_once('.')?;
    let blank = group.is_empty() || resource.is_empty() || verb.is_empty();
    if blank || name.chars().any(char::is_whitespace) {
        return None;
    }
    Some(Permission::new(group, resource, verb))
}

/// The group as RBAC and a request's target spell it: "" for the core group.
pub(super) fn rbac_group(group: &str) -> &str {
    if group == CORE {
        ""
    } else {
        group
    }
}

/// The group as a permission spells it: `core` for the core group.
pub fn permission_group(group: &str) -> &str {
    if group.is_empty() {
        CORE
    } else {
        group
    }
}

/// One entry of an RBAC role's `rules`, as written.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(super) struct Rule {
    pub api_groups: Vec<String>,
    pub resources: Vec<String>,
    pub verbs: Vec<String>,
    pub resource_names: Vec<String>,
    pub non_resource_urls: Vec<String>,
}

/// The writes a wildcard never grants: quota's limits (registrations,
/// grants) and its creation policies, and the release of a claim (its
/// delete or change; creating one only spends quota). Without this a
/// tenant bound to "all of my organization" could raise its own quota; a
/// role that names them grants them (and only someone who holds them may
/// bind such a role).
const RESERVED: [(&str, &str, Reserves); 5] = [
    (
        "quota.miloapis.com",
        "resourceregistrations",
        Reserves::Writes,
    ),
    ("quota.miloapis.com", "resourcegrants", Reserves::Writes),
    (
        "quota.miloapis.com",
        "claimcreationpolicies",
        Reserves::Writes,
    ),
    (
        "quota.miloapis.com",
        "grantcreationpolicies",
        Reserves::Writes,
    ),
    ("quota.miloapis.com", "resourceclaims", Reserves::Releases),
];

/// Which verbs of a reserved resource only a role naming them grants.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reserves {
    /// Every verb but reads.
    Writes,
    /// Every verb but reads and create.
    Releases,
}

/// Whether a permission is granted only by naming it.
pub(super) fn is_reserved(permission: &Permission) -> bool {
    let plural = permission.resource.split('/').next().unwrap_or_default();
    let verb = permission.verb.as_str();
    let reads = matches!(verb, "get" | "list" | "watch");
    RESERVED.iter().any(|(group, resource, reserves)| {
        permission.group == *group
            && plural == *resource
            && !reads
            && (*reserves == Reserves::Writes || verb != "create")
    })
}

impl Rule {
    /// The rule a Milo permission with a `*` in its group, resource or
    /// verb grants as (`*/*.*`: everything), as RBAC reads the same `*`;
    /// `None` for a permission that names one thing.
    pub fn of_wildcard(permission: &Permission) -> Option<Rule> {
        let parts = [&permission.group, &permission.resource, &permission.verb];
        if !parts.iter().any(|part| part.contains('*')) {
            return None;
        }
        let group = match permission.group.as_str() {
            "*" => "*",
            group => rbac_group(group),
        };
        Some(Rule {
            api_groups: vec![group.to_string()],
            resources: vec![permission.resource.clone()],
            verbs: vec![permission.verb.clone()],
            ..Rule::default()
        })
    }

    /// Kubernetes' matching: each of group, resource and verb is listed or
    /// `*`; resourceNames, when set, must name the object (so they never
    /// grant a collection). Non-resource URL rules grant no permission. A
    /// reserved permission ([`is_reserved`]) is granted only when group,
    /// resource and verb are each named.
    pub fn grants(&self, permission: &Permission, name: Option<&str>) -> bool {
        let group = rbac_group(&permission.group);
        if is_reserved(permission) {
            let named = |list: &[String], item: &str| list.iter().any(|i| i == item);
            let resource = permission.resource.as_str();
            if !(named(&self.api_groups, group)
                && named(&self.resources, resource)
                && named(&self.verbs, &permission.verb))
            {
                return false;
            }
        }
        self.api_groups.iter().any(|g| g == "*" || g == group)
            && self
                .resources
                .iter()
                .any(|r| resource_matches(r, &permission.resource))
            && self.verbs.iter().any(|v| v == "*" || *v == permission.verb)
            && (self.resource_names.is_empty()
                || name.is_some_and(|name| self.resource_names.iter().any(|n| n == name)))
    }

    /// Whether it can be spelt as a finite list of permissions.
    pub fn is_finite(&self) -> bool {
        let wild = |list: &[String]| list.iter().any(|item| item.contains('*'));
        self.non_resource_urls.is_empty()
            && !wild(&self.api_groups)
            && !wild(&self.resources)
            && !wild(&self.verbs)
    }

    /// The permissions it names: the product of groups, resources and
    /// verbs, wildcards left as written.
    pub fn permissions(&self) -> Vec<Permission> {
        let mut out = Vec::new();
        for group in &self.api_groups {
            for resource in &self.resources {
                for verb in &self.verbs {
                    out.push(Permission::new(permission_group(group), resource, verb));
                }
            }
        }
        out
    }

    /// Its spelling in `effectivePermissions` (see `Resolved::effective_permissions`).
    pub fn spelt(&self) -> Vec<String> {
        let suffix = if self.resource_names.is_empty() {
            String::new()
        } else {
            format!(" (resourceNames: {})", self.resource_names.join(", "))
        };
        self.permissions()
            .iter()
            .map(|permission| format!("{}{suffix}", permission.name()))
            .collect()
    }

    /// Whether everything `other` grants, this grants too.
    pub fn covers(&self, other: &Rule) -> bool {
        let names = self.resource_names.is_empty()
            || (!other.resource_names.is_empty()
                && other
                    .resource_names
                    .iter()
                    .all(|name| self.resource_names.contains(name)));
        names
            && covers_each(&self.api_groups, &other.api_groups, |p, g| {
                p == "*" || p == g
            })
            && covers_each(&self.resources, &other.resources, resource_matches)
            && covers_each(&self.verbs, &other.verbs, |p, v| p == "*" || p == v)
            && covers_each(
                &self.non_resource_urls,
                &other.non_resource_urls,
                url_matches,
            )
    }

    /// The rule as RBAC writes it (a SelfSubjectRulesReview's entry).
    pub fn to_value(&self) -> Value {
        if !self.non_resource_urls.is_empty() {
            return json!({"nonResourceURLs": self.non_resource_urls, "verbs": self.verbs});
        }
        let mut rule = json!({
            "apiGroups": self.api_groups,
            "resources": self.resources,
            "verbs": self.verbs,
        });
        if !self.resource_names.is_empty() {
            rule["resourceNames"] = json!(self.resource_names);
        }
        rule
    }
}

/// Every item of `wanted` matched by one of `patterns`.
fn covers_each(patterns: &[String], wanted: &[String], matches: fn(&str, &str) -> bool) -> bool {
    wanted
        .iter()
        .all(|item| patterns.iter().any(|pattern| matches(pattern, item)))
}

/// RBAC's resource matching: `*` is every resource and subresource,
/// `projects/*` every subresource of projects, `*/scale` the scale
/// subresource of every resource.
fn resource_matches(pattern: &str, resource: &str) -> bool {
    if pattern == "*" || pattern == resource {
        return true;
    }
    match (pattern.split_once('/'), resource.split_once('/')) {
        (Some((plural, "*")), Some((resource_plural, _))) => plural == resource_plural,
        (Some(("*", sub)), Some((_, resource_sub))) => sub == resource_sub,
        _ => false,
    }
}

/// RBAC's non-resource URL matching: exact, or a prefix ending in `*`.
fn url_matches(pattern: &str, url: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => url.starts_with(prefix),
        None => pattern == url,
    }
}
