//! The three role kinds parsed: Milo's Role (permission names and inherited
//! roles) and RBAC's Role and ClusterRole (rules).

use serde_json::Value;

use super::fields::{self, kind_and_group, name_and_namespace};
use super::permission::Rule;
use super::{
    Node, ObjectRef, RoleDef, IAM_GROUP, RBAC_CLUSTER_ROLE_KIND, RBAC_GROUP, RBAC_ROLE_KIND,
    ROLE_KIND,
};

/// Milo's launch stages (the Role CRD's description).
pub(super) const LAUNCH_STAGES: [&str; 5] =
    ["Early Access", "Alpha", "Beta", "Stable", "Deprecated"];

/// What a role grants, as written.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Grants {
    Milo {
        /// As written: a malformed name is a problem of the resolved role,
        /// not a parse error, so that the role is stored and shows it.
        included: Vec<String>,
        inherited: Vec<ObjectRef>,
    },
    Rbac(Vec<Rule>),
}

impl RoleDef {
    pub(super) fn grants(&self) -> &Grants {
        &self.grants
    }
}

pub(super) fn parse(context: &Node, object: &Value) -> Result<RoleDef, String> {
    let (kind, group) = kind_and_group(object);
    let (name, namespace) = name_and_namespace(object)?;
    let reference = |kind: &str, namespace: &str| ObjectRef {
        context: context.clone(),
        kind: kind.to_string(),
        namespace: namespace.to_string(),
        name: name.clone(),
    };
    match (group, kind) {
        (IAM_GROUP, "Role") => Ok(RoleDef {
            grants: milo_grants(context, object, &namespace)?,
            reference: reference(ROLE_KIND, &namespace),
        }),
        (RBAC_GROUP, "Role") => {
            if namespace.is_empty() {
                return Err(
                    "metadata.namespace: a Role (rbac.authorization.k8s.io) is namespaced; set its namespace, or make it a ClusterRole"
                        .to_string(),
                );
            }
            Ok(RoleDef {
                grants: Grants::Rbac(rules(object, true)?),
                reference: reference(RBAC_ROLE_KIND, &namespace),
            })
        }
        (RBAC_GROUP, "ClusterRole") => Ok(RoleDef {
            grants: Grants::Rbac(rules(object, false)?),
            reference: reference(RBAC_CLUSTER_ROLE_KIND, ""),
        }),
        _ => Err(format!(
            "kind: {kind} ({group}) is not a role; expected Role ({IAM_GROUP}), or Role or ClusterRole ({RBAC_GROUP})"
        )),
    }
}

fn milo_grants(context: &Node, object: &Value, namespace: &str) -> Result<Grants, String> {
    let stage = fields::required(object, "spec.launchStage", "spec.launchStage").map_err(|_| {
        format!(
            "spec.launchStage: must be set, to one of {}",
            LAUNCH_STAGES.join(", ")
        )
    })?;
    if !LAUNCH_STAGES.contains(&stage) {
        return Err(format!(
            "spec.launchStage: {stage:?} is not a launch stage; use one of {}",
            LAUNCH_STAGES.join(", ")
        ));
    }
    let included = fields::strings(
        object,
        "spec.includedPermissions",
        "spec.includedPermissions",
    )?;
    let mut inherited = Vec::new();
    let entries = fields::list(object, "spec.inheritedRoles", "spec.inheritedRoles")?;
    for (index, entry) in entries.iter().enumerate() {
        let label = format!("spec.inheritedRoles[{index}]");
        let name = fields::required(entry, "name", &format!("{label}.name"))?;
        let role_namespace = fields::text(entry, "namespace", &format!("{label}.namespace"))?;
        inherited.push(ObjectRef {
            context: context.clone(),
            kind: ROLE_KIND.to_string(),
            namespace: role_namespace.unwrap_or(namespace).to_string(),
            name: name.to_string(),
        });
    }
    Ok(Grants::Milo {
        included,
        inherited,
    })
}

/// RBAC's rules, validated as Kubernetes validates them.
fn rules(object: &Value, namespaced: bool) -> Result<Vec<Rule>, String> {
    let entries = fields::list(object, "rules", "rules")?;
    let mut out = Vec::with_capacity(entries.len());
    for (index, entry) in entries.iter().enumerate() {
        out.push(rule(entry, &format!("rules[{index}]"), namespaced)?);
    }
    Ok(out)
}

fn rule(entry: &Value, label: &str, namespaced: bool) -> Result<Rule, String> {
    let strings = |key: &str| fields::strings(entry, key, &format!("{label}.{key}"));
    let rule = Rule {
        api_groups: strings("apiGroups")?,
        resources: strings("resources")?,
        verbs: strings("verbs")?,
        resource_names: strings("resourceNames")?,
        non_resource_urls: strings("nonResourceURLs")?,
    };
    if rule.verbs.is_empty() {
        return Err(format!("{label}.verbs: name at least one verb (or \"*\")"));
    }
    if rule.non_resource_urls.is_empty() {
        if rule.api_groups.is_empty() {
            return Err(format!(
                "{label}.apiGroups: name at least one API group (\"\" for the core group, \"*\" for all)"
            ));
        }
        if rule.resources.is_empty() {
            return Err(format!(
                "{label}.resources: name at least one resource (or \"*\")"
            ));
        }
        return Ok(rule);
    }
    if namespaced {
        return Err(format!(
            "{label}.nonResourceURLs: only a ClusterRole may name non-resource URLs"
        ));
    }
    if !rule.api_groups.is_empty() || !rule.resources.is_empty() {
        return Err(format!(
            "{label}: a rule names either resources or nonResourceURLs, not both; split it in two"
        ));
    }
    Ok(rule)
}
