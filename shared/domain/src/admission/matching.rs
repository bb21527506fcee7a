//! Whether a policy and binding apply to a request, before any CEL runs:
//! resource rules, exclusions, namespace and object selectors, as
//! Kubernetes' admission predicates. (`matchConditions` are CEL and run in
//! the evaluation.)

use super::request::AdmissionRequest;
use super::types::{MatchPolicy, MatchResources, PolicyCommon, ResourceRule, ScopeRule};

/// Why matching could not decide; handled by the policy's failurePolicy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatchError {
    #[error("namespace {0:?} is needed for the namespaceSelector but was not provided")]
    NamespaceUnknown(String),
}

impl PolicyCommon {
    /// The policy's `matchConstraints`, narrowed by the binding's
    /// `matchResources` when it has them.
    pub fn matches(
        &self,
        binding: Option<&MatchResources>,
        request: &AdmissionRequest,
    ) -> Result<bool, MatchError> {
        if !self.match_constraints.matches(request)? {
            return Ok(false);
        }
        match binding {
            Some(b) => b.matches(request),
            None => Ok(true),
        }
    }
}

impl MatchResources {
    /// Rules first (cheap), then selectors. Empty `resource_rules` (a
    /// binding's) match every resource.
    pub fn matches(&self, request: &AdmissionRequest) -> Result<bool, MatchError> {
        if !self.rules_match(request) || !self.object_selector_matches(request) {
            return Ok(false);
        }
        self.namespace_selector_matches(request)
    }

    /// The resource rules and exclusions alone: no labels needed, so the
    /// adapter can tell which policies may apply before it reads anything.
    pub fn rules_match(&self, request: &AdmissionRequest) -> bool {
        let included = self.resource_rules.is_empty()
            || self
                .resource_rules
                .iter()
                .any(|r| rule_matches(r, self.match_policy, request));
        included
            && !self
                .exclude_resource_rules
                .iter()
                .any(|r| rule_matches(r, self.match_policy, request))
    }

    /// Either the new or the old object's labels may match (a DELETE has
    /// only the old one; an update that removes the label still matches).
    fn object_selector_matches(&self, request: &AdmissionRequest) -> bool {
        if self.object_selector.is_empty() {
            return true;
        }
        let objects = [request.object.as_ref(), request.old_object.as_ref()];
        objects.iter().flatten().any(|o| {
            self.object_selector
                .matches(&AdmissionRequest::labels(Some(o)))
        })
    }

    /// A namespace is matched by its own labels; namespaced objects by
    /// their namespace's labels; other cluster-scoped objects by the labels
    /// of their organization or project context (`context_labels`), and are
    /// not constrained when they have none (the platform's own, as
    /// Kubernetes). The context labels are added to a namespace's own, so
    /// one selector narrows a binding to an organization or project
    /// whatever the object's scope.
    fn namespace_selector_matches(&self, request: &AdmissionRequest) -> Result<bool, MatchError> {
        if self.namespace_selector.is_empty() {
            return Ok(true);
        }
        if request.group.is_empty() && request.resource == "namespaces" {
            let own = request.object.as_ref().or(request.old_object.as_ref());
            return Ok(self
                .namespace_selector
                .matches(&with_context(AdmissionRequest::labels(own), request)));
        }
        let Some(namespace) = &request.namespace else {
            return Ok(match &request.context_labels {
                Some(labels) => self.namespace_selector.matches(labels),
                None => true,
            });
        };
        match &request.namespace_object {
            Some(ns) => Ok(self
                .namespace_selector
                .matches(&with_context(AdmissionRequest::labels(Some(ns)), request))),
            None => Err(MatchError::NamespaceUnknown(namespace.clone())),
        }
    }
}

/// A namespace's labels with its context's added (the server's win: they
/// say where the namespace is, and a user label must not fake that).
fn with_context(
    mut labels: std::collections::BTreeMap<String, String>,
    request: &AdmissionRequest,
) -> std::collections::BTreeMap<String, String> {
    if let Some(context) = &request.context_labels {
        labels.extend(context.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    labels
}

/// One rule against the request: operation, group, version (unless
/// `Equivalent`), resource/subresource, name, scope.
pub fn rule_matches(rule: &ResourceRule, policy: MatchPolicy, request: &AdmissionRequest) -> bool {
    let any_or = |list: &[String], value: &str| list.iter().any(|x| x == "*" || x == value);
    let operation = rule.operations.is_empty() || rule.operations.contains(&request.operation);
    let version = policy == MatchPolicy::Equivalent || any_or(&rule.api_versions, &request.version);
    // As Kubernetes: `res` is `res` with no subresource; `*` any resource
    // with no subresource; `res/*` the resource and all its subresources;
    // `*/*` everything.
    let resource = rule.resources.iter().any(|entry| {
        let (res, sub) = entry.split_once('/').unwrap_or((entry, ""));
        (res == "*" || res == request.resource) && (sub == "*" || sub == request.subresource)
    });
    let name = rule.resource_names.is_empty() || rule.resource_names.contains(&request.name);
    let scope = match rule.scope {
        ScopeRule::Any => true,
        ScopeRule::Cluster => request.namespace.is_none(),
        ScopeRule::Namespaced => request.namespace.is_some(),
    };
    operation && any_or(&rule.api_groups, &request.group) && version && resource && name && scope
}
