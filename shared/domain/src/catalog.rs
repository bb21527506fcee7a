//! The catalog: every type served, built-in and registered, resolved to the
//! kinds each context serves at each version. Built from parsed CRDs and the
//! DiscoveryContextPolicies in force (which override a type's contexts);
//! the API layer caches one per function instance and rebuilds it when a
//! CRD or a policy changes. Pure.

use std::cmp::Ordering;
use std::sync::Arc;

use crate::context_policy::ContextPolicies;
use crate::crd::{self, PrinterColumn, ResourceType, TypeVersion};
use crate::kinds::{self, ContextKind, KindInfo};

/// Why a path names no kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Miss {
    /// No served type has this group and plural.
    Unknown,
    /// The type exists but is not served in this context; these serve it.
    NotInContext(Vec<ContextKind>),
    /// The type is served here, but not at this version; these versions are.
    Version(Vec<String>),
}

/// A registered type that is not served, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub name: String,
    pub reason: String,
}

#[derive(Debug, Clone, Default)]
pub struct Catalog {
    types: Vec<Arc<ResourceType>>,
    /// The contexts of each type (same index as `types`): a policy's, or
    /// its annotation's.
    contexts: Vec<Vec<ContextKind>>,
    /// One entry per type and served version, in discovery order.
    kinds: Vec<Arc<KindInfo>>,
    refused: Vec<Refused>,
}

impl Catalog {
    /// The catalog of `builtins` plus `registered` (in registration order: on
    /// a name clash the earlier type keeps its names and the later one is
    /// not served), each in the contexts `policies` give it.
    pub fn build(
        builtins: Vec<ResourceType>,
        registered: Vec<ResourceType>,
        policies: &ContextPolicies,
    ) -> Self {
        let mut types: Vec<Arc<ResourceType>> = Vec::new();
        let mut refused = Vec::new();
        for candidate in builtins.into_iter().chain(registered) {
            let others: Vec<&ResourceType> = types.iter().map(|t| t.as_ref()).collect();
            if types.iter().any(|t| t.name == candidate.name) {
                refused.push(Refused {
                    name: candidate.name.clone(),
                    reason: format!("{} is a built-in type", candidate.name),
                });
                continue;
            }
            if let Some(reason) = crd::names_clash(&candidate, &others) {
                refused.push(Refused {
                    name: candidate.name.clone(),
                    reason,
                });
                continue;
            }
            types.push(Arc::new(candidate));
        }
        let contexts: Vec<Vec<ContextKind>> = types
            .iter()
            .map(|t| policies.contexts_for(&t.group, &t.plural, &t.contexts))
            .collect();
        let kinds = types
            .iter()
            .zip(&contexts)
            .flat_map(|(t, contexts)| {
                sorted_versions(t)
                    .into_iter()
                    .filter(|v| v.served)
                    .map(|v| Arc::new(kind_info(t, v, contexts)))
                    .collect::<Vec<_>>()
            })
            .collect();
        Self {
            types,
            contexts,
            kinds,
            refused,
        }
    }

    /// The catalog of the built-in types alone.
    pub fn builtin() -> Result<Self, String> {
        Ok(Self::build(
            crate::builtin::types()?,
            Vec::new(),
            &ContextPolicies::default(),
        ))
    }

    /// A built-in kind at its served version.
    pub fn kind(&self, id: &kinds::KindId) -> Option<Arc<KindInfo>> {
        self.kinds
            .iter()
            .find(|k| k.group == id.group && k.kind == id.kind && k.version == id.version)
            .cloned()
    }

    pub fn types(&self) -> &[Arc<ResourceType>] {
        &self.types
    }

    /// Why a registered type is not served, if it is not.
    pub fn refusal(&self, name: &str) -> Option<&Refused> {
        self.refused.iter().find(|r| r.name == name)
    }

    pub fn type_named(&self, name: &str) -> Option<&Arc<ResourceType>> {
        self.types.iter().find(|t| t.name == name)
    }

    pub fn type_of_kind(&self, group: &str, kind: &str) -> Option<&Arc<ResourceType>> {
        self.types
            .iter()
            .find(|t| t.group == group && t.kind == kind)
    }

    /// The kinds served in a context, every served version, in discovery order.
    pub fn served_in(&self, context: ContextKind) -> impl Iterator<Item = &Arc<KindInfo>> {
        self.kinds.iter().filter(move |k| k.served_in(context))
    }

    /// The kinds of one group-version served in a context.
    pub fn served_at<'a>(
        &'a self,
        context: ContextKind,
        group: &'a str,
        version: &'a str,
    ) -> impl Iterator<Item = &'a KindInfo> {
        self.served_in(context)
            .filter(move |k| k.group == group && k.version == version)
            .map(|k| k.as_ref())
    }

    /// The kind behind `/apis/{group}/{version}/{plural}` in a context.
    pub fn resolve(
        &self,
        context: ContextKind,
        group: &str,
        version: &str,
        plural: &str,
    ) -> Result<Arc<KindInfo>, Miss> {
        let Some((rt, contexts)) = self
            .types
            .iter()
            .zip(&self.contexts)
            .find(|(t, _)| t.group == group && t.plural == plural)
        else {
            return Err(Miss::Unknown);
        };
        if !kinds::serves(contexts, context) {
            return Err(Miss::NotInContext(contexts.clone()));
        }
        self.served_in(context)
            .find(|k| k.group == group && k.plural == plural && k.version == version)
            .cloned()
            .ok_or_else(|| {
                Miss::Version(
                    sorted_versions(rt)
                        .iter()
                        .filter(|v| v.served)
                        .map(|v| v.name.clone())
                        .collect(),
                )
            })
    }

    /// The kind of a group at its preferred served version, in any context
    /// (for reading stored objects by their kind).
    pub fn preferred(&self, group: &str, kind: &str) -> Option<&Arc<KindInfo>> {
        self.kinds
            .iter()
            .find(|k| k.group == group && k.kind == kind)
    }

    /// The groups served in a context, each with its served versions,
    /// preferred first.
    pub fn groups(&self, context: ContextKind) -> Vec<(String, Vec<String>)> {
        let mut groups: Vec<(String, Vec<String>)> = Vec::new();
        for k in self.served_in(context) {
            match groups.iter_mut().find(|(g, _)| *g == k.group) {
                Some((_, versions)) if !versions.contains(&k.version) => {
                    versions.push(k.version.clone())
                }
                Some(_) => {}
                None => groups.push((k.group.clone(), vec![k.version.clone()])),
            }
        }
        for (_, versions) in &mut groups {
            versions.sort_by(|a, b| version_priority(a, b));
        }
        groups
    }
}

fn sorted_versions(rt: &ResourceType) -> Vec<&TypeVersion> {
    let mut versions: Vec<&TypeVersion> = rt.versions.iter().collect();
    versions.sort_by(|a, b| version_priority(&a.name, &b.name));
    versions
}

/// Kubernetes' version priority: GA before beta before alpha, higher numbers
/// first; names that do not look like versions last, alphabetically.
pub fn version_priority(a: &str, b: &str) -> Ordering {
    fn rank(v: &str) -> Option<(u8, u64, u64)> {
        let rest = v.strip_prefix('v')?;
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let major: u64 = digits.parse().ok()?;
        let tail = &rest[digits.len()..];
        if tail.is_empty() {
            return Some((3, major, 0));
        }
        for (stage, level) in [("beta", 2u8), ("alpha", 1u8)] {
            if let Some(n) = tail.strip_prefix(stage) {
                return n.parse().ok().map(|minor| (level, major, minor));
            }
        }
        None
    }
    match (rank(a), rank(b)) {
        (Some(x), Some(y)) => y.cmp(&x),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

fn kind_info(rt: &ResourceType, version: &TypeVersion, contexts: &[ContextKind]) -> KindInfo {
    let (name_format, max_name_length) = kinds::name_rules(&rt.group, &rt.kind);
    let storage_version = rt
        .storage_version()
        .map(|v| v.name.clone())
        .unwrap_or_else(|| version.name.clone());
    KindInfo {
        group: rt.group.clone(),
        version: version.name.clone(),
        storage_version,
        kind: rt.kind.clone(),
        list_kind: rt.list_kind.clone(),
        plural: rt.plural.clone(),
        singular: rt.singular.clone(),
        short_names: rt.short_names.clone(),
        categories: rt.categories.clone(),
        scope: rt.scope,
        contexts: contexts.to_vec(),
        name_format,
        max_name_length,
        columns: columns_of(version),
        selectable_fields: version.selectable_fields.clone(),
        schema: version.schema.clone(),
        status_subresource: version.status_subresource,
        deprecation_warning: version
            .deprecated
            .then(|| version.deprecation_warning.clone())
            .flatten(),
    }
}

/// A CRD without printer columns shows its age, as Kubernetes does.
fn columns_of(version: &TypeVersion) -> Vec<PrinterColumn> {
    if !version.columns.is_empty() {
        return version.columns.clone();
    }
    vec![PrinterColumn {
        name: "Age".into(),
        type_: "date".into(),
        json_path: ".metadata.creationTimestamp".into(),
        description: "Time since creation".into(),
        format: String::new(),
        priority: 0,
    }]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context_policy::{self, ContextPolicies};
    use serde_json::json;

    fn widget(contexts: &str) -> ResourceType {
        crd::parse(&json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {
                "name": "widgets.example.com",
                "annotations": {"discovery.miloapis.com/parent-contexts": contexts}
            },
            "spec": {
                "group": "example.com",
                "scope": "Namespaced",
                "names": {"plural": "widgets", "kind": "Widget"},
                "versions": [{"name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object"}}}]
            }
        }))
        .unwrap()
    }

    fn with_widgets(policies: &ContextPolicies) -> Catalog {
        Catalog::build(
            crate::builtin::types().unwrap(),
            vec![widget("Organization")],
            policies,
        )
    }

    fn serves(catalog: &Catalog, context: ContextKind) -> bool {
        catalog
            .resolve(context, "example.com", "v1", "widgets")
            .is_ok()
    }

    #[test]
    fn the_platform_serves_every_type() {
        let catalog = with_widgets(&ContextPolicies::default());
        assert!(serves(&catalog, ContextKind::Platform));
        assert!(serves(&catalog, ContextKind::Organization));
        assert_eq!(
            catalog.resolve(ContextKind::Project, "example.com", "v1", "widgets"),
            Err(Miss::NotInContext(vec![ContextKind::Organization]))
        );
        let platform: Vec<&str> = catalog
            .served_at(
                ContextKind::Platform,
                kinds::RESOURCEMANAGER_GROUP,
                "v1alpha1",
            )
            .map(|k| k.plural.as_str())
            .collect();
        assert!(
            platform.contains(&"organizationmemberships"),
            "{platform:?}"
        );
        let user: Vec<&str> = catalog
            .served_in(ContextKind::User)
            .map(|k| k.plural.as_str())
            .collect();
        assert_eq!(user, ["organizationmemberships", "users"]);
    }

    #[test]
    fn a_policy_moves_a_type_between_contexts() {
        let rules = context_policy::parse(&json!({"spec": {"rules": [
            {"group": "example.com", "resources": ["widgets"], "contexts": ["Project"]}
        ]}}))
        .unwrap();
        let catalog = with_widgets(&ContextPolicies::new([rules]));
        assert!(!serves(&catalog, ContextKind::Organization));
        assert!(serves(&catalog, ContextKind::Project));
        assert!(serves(&catalog, ContextKind::Platform));
        assert_eq!(
            catalog.resolve(ContextKind::Organization, "example.com", "v1", "widgets"),
            Err(Miss::NotInContext(vec![ContextKind::Project]))
        );
        // Built-in types follow the same rules.
        let everything = context_policy::parse(&json!({"spec": {"rules": [
            {"group": "*", "resources": ["*"], "contexts": ["User"]}
        ]}}))
        .unwrap();
        let catalog = with_widgets(&ContextPolicies::new([everything]));
        assert_eq!(catalog.served_in(ContextKind::Organization).count(), 0);
        assert_eq!(
            catalog.served_in(ContextKind::User).count(),
            catalog.served_in(ContextKind::Platform).count()
        );
    }

    #[test]
    fn versions_sort_as_kubernetes_does() {
        let mut v = vec!["v1alpha1", "v2", "foo", "v1beta2", "v1", "v1beta1", "v10"];
        v.sort_by(|a, b| version_priority(a, b));
        assert_eq!(
            v,
            ["v10", "v2", "v1", "v1beta2", "v1beta1", "v1alpha1", "foo"]
        );
    }
}
