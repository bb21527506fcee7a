//! Admission inside a write: the request the policies see, the context
//! they read, mutation (the object checked again after it) and validation.

use domain::event_record::{Involved, Notice};

use super::*;

impl Ops<'_> {
    /// The admission request of a write. Policies and bindings themselves
    /// are exempt (an empty set), so a bad policy cannot block its repair.
    pub(super) async fn admitting(
        &self,
        operation: Operation,
        name: &str,
        object: Option<&Object>,
        old: Option<&Object>,
        status: bool,
    ) -> Result<Admitting, ApiError> {
        let set = if self.strategy.exempt_from_admission() {
            Arc::new(PolicySet::default())
        } else {
            self.server
                .admission
                .policies
                .current(&self.server.store)
                .await?
        };
        let principal = &self.call.request.principal;
        let doc = |o: &Object| at_version(o.to_value(), self.kind);
        let request = AdmissionRequest {
            uid: self.call.request.id.to_string(),
            operation,
            group: self.kind.group.clone(),
            version: self.kind.version.clone(),
            resource: self.kind.plural.clone(),
            subresource: if status {
                "status".into()
            } else {
                String::new()
            },
            kind: self.kind.kind.clone(),
            namespace: (!self.namespace.is_empty()).then(|| self.namespace.clone()),
            name: name.to_string(),
            object: object.map(doc),
            old_object: old.map(doc),
            namespace_object: None,
            context_labels: None,
            user_info: UserInfo {
                username: principal.subject.clone(),
                uid: String::new(),
                groups: principal.groups.clone(),
                extra: Default::default(),
            },
            dry_run: self.call.query.dry_run,
        };
        Ok(Admitting {
            request,
            set,
            context_read: false,
        })
    }

    /// What a `namespaceSelector` and `namespaceObject` see, read only once
    /// a policy's rules match the request: the namespace object, and the
    /// labels of the organization or project the object belongs to
    /// (see ARCHITECTURE.md, "Admission policies").
    pub(super) async fn read_context(&self, admitting: &mut Admitting) -> Result<(), ApiError> {
        if admitting.context_read {
            return Ok(());
        }
        let request = &mut admitting.request;
        let mut labels = placement::context_labels(self.context, self.call.context_object.as_ref());
        if *self.context == Context::Platform {
            let org = [&request.object, &request.old_object]
                .into_iter()
                .flatten()
                .find_map(|o| {
                    self.strategy
                        .organization_of(self.kind, &request.name, Some(o))
                })
                .or_else(|| {
                    self.strategy
                        .organization_of(self.kind, &request.name, None)
                });
            if let Some(org) = org {
                labels.insert(ORGANIZATION_LABEL.to_string(), org);
            }
        }
        request.context_labels = (!labels.is_empty()).then_some(labels);
        if let Some(namespace) = &request.namespace {
            let container = placement::namespace(self.context, namespace);
            let stored = self
                .server
                .store
                .get(&container.object_ref.key())
                .await
                .map_err(from_store)?;
            request.namespace_object = stored.map(|s| at_version_of_namespace(s.object));
        }
        admitting.context_read = true;
        Ok(())
    }

    /// The mutating policies; the mutated object, or `None` when none
    /// changed it.
    pub(super) async fn mutate(
        &self,
        admitting: &mut Admitting,
    ) -> Result<Option<Object>, ApiError> {
        if admitting
            .set
            .mutating_candidates(&admitting.request)
            .is_empty()
        {
            return Ok(None);
        }
        self.read_context(admitting).await?;
        let set = Arc::clone(&admitting.set);
        let applied = self
            .server
            .admission
            .mutate(
                &self.server.store,
                self.catalog,
                &set,
                &mut admitting.request,
            )
            .await?;
        if applied.is_empty() {
            return Ok(None);
        }
        tracing::info!(?applied, "mutated by admission policies");
        let doc = admitting.request.object.clone().unwrap_or(Value::Null);
        Object::from_value(doc)
            .map(Some)
            .map_err(|e| ApiError::Denied {
                reason: domain::admission::Reason::Invalid,
                message: format!(
                "the object as mutated by MutatingAdmissionPolicies {} is not a valid object: {e}",
                applied
                    .iter()
                    .map(|(p, _)| format!("'{p}'"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            })
    }

    /// Whether no validating policy would judge `old`'s delete: a delete
    /// in bulk runs none, so it takes only such objects.
    pub(super) async fn delete_unjudged(&self, old: &Object) -> Result<bool, ApiError> {
        let name = &old.metadata.name;
        let admitting = self
            .admitting(Operation::Delete, name, None, Some(old), false)
            .await?;
        Ok(admitting
            .set
            .validating_candidates(&admitting.request)
            .is_empty())
    }

    /// The validating policies on the final object (`None` on DELETE); the
    /// warnings to send, or the denial. Either is also left for a person
    /// to see as an Event on the object (recorder.rs).
    pub(super) async fn validate_policies(
        &self,
        admitting: &mut Admitting,
        object: Option<&Value>,
    ) -> Result<Vec<String>, ApiError> {
        admitting.request.object = object.map(|d| at_version(d.clone(), self.kind));
        if admitting
            .set
            .validating_candidates(&admitting.request)
            .is_empty()
        {
            return Ok(Vec::new());
        }
        self.read_context(admitting).await?;
        let decision = self
            .server
            .admission
            .validate(
                &self.server.store,
                self.catalog,
                &admitting.set,
                &admitting.request,
            )
            .await?;
        let request = &admitting.request;
        // A refused create leaves no object; a write to one names it.
        let uid = request.old_object.as_ref().map_or("", |old| {
            old["metadata"]["uid"].as_str().unwrap_or_default()
        });
        let involved = Involved::of_served(self.kind, &self.namespace, &request.name, uid);
        let action = request.operation.as_str();
        let notices = &self.call.notices;
        match decision.denial {
            Some(denial) => {
                let refusal: ApiError = denial.into();
                let message = refusal.to_string();
                let notice = Notice::admission_denied(involved, action, &message);
                notices.raise(self.context, notice);
                Err(refusal)
            }
            None => {
                for warning in &decision.warnings {
                    let notice = Notice::admission_warning(involved.clone(), action, warning);
                    notices.raise(self.context, notice);
                }
                Ok(decision.warnings)
            }
        }
    }

    /// A mutated new object made whole again, as the create path made the
    /// object it mutated: its name, the server's hierarchy metadata, no
    /// status where status is a subresource; then checked like a sent one.
    /// A mutation may not move a folder or project.
    pub(super) fn after_mutation_create(
        &self,
        placed: &Object,
        mut mutated: Object,
    ) -> Result<Object, ApiError> {
        mutated.metadata.name = placed.metadata.name.clone();
        mutated.metadata.namespace = placed.metadata.namespace.clone();
        if self.kind.status_subresource {
            mutated.set_status(placed.status().clone());
        }
        self.check_mutated(placed, mutated, None)
    }

    /// As [`Self::after_mutation_create`] for an update: the server's
    /// fields carried over from the stored object again.
    pub(super) fn after_mutation_update(
        &self,
        old: &Object,
        placed: &Object,
        mutated: Object,
        status: bool,
        next_version: u64,
    ) -> Result<Object, ApiError> {
        let (mutated, causes) = self.as_update_of(old, mutated, status, next_version);
        if !causes.is_empty() {
            return Err(self.invalid(&old.metadata.name, causes));
        }
        self.check_mutated(placed, mutated, Some(old))
    }

    pub(super) fn check_mutated(
        &self,
        placed: &Object,
        mut mutated: Object,
        old: Option<&Object>,
    ) -> Result<Object, ApiError> {
        let name = placed.metadata.name.clone();
        let mut causes = self.validate(&mutated, old);
        let parent_of = |o: &Object| self.strategy.parent_of(self.kind, o);
        if parent_of(&mutated) != parent_of(placed) {
            causes.push(Cause::forbidden(
                self.strategy.parent_field(self.kind),
                "a MutatingAdmissionPolicy may not change where an object sits in the hierarchy",
            ));
        }
        if !causes.is_empty() {
            return Err(self.invalid(&name, causes));
        }
        self.strategy.keep_placement(placed, &mut mutated);
        mutated.api_version = placed.api_version.clone();
        mutated.kind = placed.kind.clone();
        Ok(mutated)
    }
}

/// One write on its way through admission: the request the policies see,
/// the policy set it is judged by (one snapshot for both phases), and
/// whether its context (namespace object, context labels) was read yet.
pub(super) struct Admitting {
    pub(super) request: AdmissionRequest,
    set: Arc<PolicySet>,
    context_read: bool,
}

/// Namespaces are stored and served as `v1`.
pub(super) fn at_version_of_namespace(mut doc: Value) -> Value {
    if let Some(map) = doc.as_object_mut() {
        map.insert("apiVersion".into(), Value::String("v1".into()));
    }
    doc
}
