//! Admission policies on the request path, and for the admission function:
//! the I/O around domain::admission. Given an [`AdmissionRequest`], it reads
//! what the pure evaluation needs (the compiled policies of
//! [`PolicyCache`], each candidate binding's params) and runs the mutating
//! policies, then the validating ones, under the instance's [`Budget`].
//!
//! The pipeline (objects/) calls [`Admission::mutate`] and
//! [`Admission::validate`] separately, because between the two it checks
//! the mutated object against its schema again; another caller (an
//! AdmissionReview endpoint) calls [`Admission::review`], which does both.
//!
//! Params are objects of a kind served in the platform context, where
//! policies and bindings live: read by name, or listed and filtered by the
//! binding's selector. A param kind this server does not serve is a
//! misconfigured binding, handled by the policy's failurePolicy.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use domain::admission::{
    self, AdmissionRequest, Budget, Decision, MutatingPair, ParamKind, ParamRef, Params,
    PolicyCommon, PolicySet, ValidatingPair,
};
use domain::catalog::Catalog;
use domain::kinds::Scope;
use domain::label_selector::LabelSelector;
use domain::ApiError;
use serde_json::Value;
use store::{Context, ObjectRef, Store};

use crate::errors::from_store;
use crate::policy_cache::PolicyCache;

/// One instance's admission state: the policy cache and the evaluation
/// budget (worker threads: one job per phase, a deadline per policy counted
/// from when the worker starts it).
pub struct Admission {
    pub policies: PolicyCache,
    budget: Arc<Budget>,
}

/// What admission made of one request (for [`Admission::review`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Review {
    /// The object after the mutations (as sent when none applied); `None`
    /// on DELETE.
    pub object: Option<Value>,
    /// `(policy, binding)` of the mutations that changed the object.
    pub mutations: Vec<(String, String)>,
    /// The validating decision: denial, warnings, audit annotations.
    pub decision: Decision,
}

impl Admission {
    pub fn new(refresh: Duration, budget: Budget) -> Self {
        Self {
            policies: PolicyCache::new(refresh),
            budget: Arc::new(budget),
        }
    }

    pub fn budget(&self) -> &Budget {
        &self.budget
    }

    /// Runs the mutating policies whose rules match; the request's object
    /// becomes the mutated one. Returns the pairs that changed it, or the
    /// denial of a failing mutation (`failurePolicy: Fail`, or params
    /// missing under `Deny`).
    pub async fn mutate(
        &self,
        store: &Store,
        catalog: &Catalog,
        set: &PolicySet,
        request: &mut AdmissionRequest,
    ) -> Result<Vec<(String, String)>, ApiError> {
        let candidates = set.mutating_candidates(request);
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        let mut pairs = Vec::with_capacity(candidates.len());
        for (policy, binding) in candidates {
            let params = params(
                store,
                catalog,
                &policy.common,
                binding.param_ref.as_ref(),
                request,
            )
            .await?;
            pairs.push(MutatingPair {
                policy: Arc::clone(policy),
                binding: Arc::clone(binding),
                params,
            });
        }
        let budget = &self.budget;
        let mutated = blocking(|| admission::mutate(&pairs, request, budget))?;
        request.object = mutated.object;
        Ok(mutated.applied)
    }

    /// Runs the validating policies whose rules match. The decision's
    /// denial is left to the caller (the pipeline turns it into a Status);
    /// audit annotations are logged here, with the request's id.
    pub async fn validate(
        &self,
        store: &Store,
        catalog: &Catalog,
        set: &PolicySet,
        request: &AdmissionRequest,
    ) -> Result<Decision, ApiError> {
        let candidates = set.validating_candidates(request);
        if candidates.is_empty() {
            return Ok(Decision::default());
        }
        let mut pairs = Vec::with_capacity(candidates.len());
        for (policy, binding) in candidates {
            let params = params(
                store,
                catalog,
                &policy.common,
                binding.param_ref.as_ref(),
                request,
            )
            .await?;
            pairs.push(ValidatingPair {
                policy: Arc::clone(policy),
                binding: Arc::clone(binding),
                params,
            });
        }
        let budget = &self.budget;
        let decision = blocking(|| admission::validate(&pairs, request, budget));
        if !decision.audit_annotations.is_empty() {
            // Until audit events exist (the events issue), the audit trail
            // is this log line; the request id is on the enclosing span.
            let annotations =
                serde_json::to_string(&decision.audit_annotations).unwrap_or_default();
            tracing::info!(
                target: "audit",
                admission_uid = %request.uid,
                operation = request.operation.as_str(),
                resource = %request.resource,
                name = %request.name,
                user = %request.user_info.username,
                annotations = %annotations,
                "admission audit annotations"
            );
        }
        Ok(decision)
    }

    /// Both phases on one request, as an AdmissionReview asks: mutations,
    /// then validation of the mutated object. A mutation's denial comes
    /// back as the decision's denial.
    pub async fn review(
        &self,
        store: &Store,
        catalog: &Catalog,
        request: &AdmissionRequest,
    ) -> Result<Review, ApiError> {
        let set = self.policies.current(store).await?;
        let mut request = request.clone();
        let mutations = match self.mutate(store, catalog, &set, &mut request).await {
            Ok(applied) => applied,
            Err(ApiError::Denied { reason, message }) => {
                return Ok(Review {
                    object: request.object,
                    mutations: Vec::new(),
                    decision: Decision {
                        denial: Some(admission::Denial { message, reason }),
                        ..Decision::default()
                    },
                })
            }
            Err(e) => return Err(e),
        };
        let decision = self.validate(store, catalog, &set, &request).await?;
        Ok(Review {
            object: request.object,
            mutations,
            decision,
        })
    }
}

/// Evaluation blocks a thread while it waits for the budget's worker (up to
/// the deadline per policy); on a multi-threaded runtime the other tasks
/// move off this thread meanwhile. (Lambda and the tests run one request
/// per thread, where this is the plain call.)
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// A binding's params, read from the store.
pub async fn params(
    store: &Store,
    catalog: &Catalog,
    common: &PolicyCommon,
    param_ref: Option<&ParamRef>,
    request: &AdmissionRequest,
) -> Result<Params, ApiError> {
    let (Some(param_kind), Some(param_ref)) = (&common.param_kind, param_ref) else {
        // No paramKind: none needed. A paramKind without paramRef is the
        // evaluation's to report (under failurePolicy).
        return Ok(if common.param_kind.is_some() {
            Params::NotFound
        } else {
            Params::Unused
        });
    };
    let Some(kind) = param_kind_info(catalog, param_kind) else {
        tracing::warn!(policy = %common.name, api_version = %param_kind.api_version, kind = %param_kind.kind, "paramKind is not served in the platform context");
        // Unused with a paramKind is an evaluation error: failurePolicy.
        return Ok(Params::Unused);
    };
    let namespace = match (&param_ref.namespace, kind.scope) {
        (_, Scope::Cluster) => String::new(),
        (Some(ns), Scope::Namespaced) => ns.clone(),
        (None, Scope::Namespaced) => match &request.namespace {
            Some(ns) => ns.clone(),
            // A namespaced param for a cluster-scoped request needs an
            // explicit namespace; without one nothing is found.
            None => return Ok(Params::NotFound),
        },
    };
    let object_ref = |name: &str| ObjectRef {
        context: Context::Platform,
        group: kind.group.clone(),
        kind: kind.kind.clone(),
        namespace: namespace.clone(),
        name: name.to_string(),
    };
    if let Some(name) = &param_ref.name {
        let stored = store
            .get(&object_ref(name).key())
            .await
            .map_err(from_store)?;
        return Ok(match stored {
            Some(s) => Params::Found(vec![crate::present::at_version(s.object, kind)]),
            None => Params::NotFound,
        });
    }
    let selector = param_ref.selector.clone().unwrap_or_default();
    let collection = object_ref("").collection();
    let mut found = Vec::new();
    let mut start = None;
    loop {
        let page = store
            .query_objects(
                &collection.pk(),
                &store::Collection::namespace_prefix(&namespace),
                None,
                start,
            )
            .await
            .map_err(from_store)?;
        found.extend(
            page.items
                .into_iter()
                .map(|s| s.object)
                .filter(|doc| selector_matches(&selector, doc))
                .map(|doc| crate::present::at_version(doc, kind)),
        );
        match page.next {
            Some(next) => start = Some(next),
            None => break,
        }
    }
    Ok(Params::Found(found))
}

fn selector_matches(selector: &LabelSelector, doc: &Value) -> bool {
    let labels: BTreeMap<String, String> = doc["metadata"]["labels"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default();
    selector.matches(&labels)
}

/// The kind a paramKind names, as served in the platform context.
fn param_kind_info<'a>(
    catalog: &'a Catalog,
    param_kind: &'a ParamKind,
) -> Option<&'a domain::kinds::KindInfo> {
    let (group, version) = match param_kind.api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", param_kind.api_version.as_str()),
    };
    catalog
        .served_at(domain::kinds::ContextKind::Platform, group, version)
        .find(|k| k.kind == param_kind.kind)
}
