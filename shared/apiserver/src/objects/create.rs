//! POST: a new object, in one transaction with its index items, its
//! container's check and child index item, its parent's and what quota
//! and the kind's strategy add.

use super::*;

impl Ops<'_> {
    /// The object that contains a new one: the object it is a record
    /// about, its namespace, or its context's organization or project.
    /// `None` in the platform, and for a kind placed under a parent.
    pub(super) fn container(&self, obj: &Object) -> Option<Container> {
        self.strategy
            .tracked_by(obj)
            .or_else(|| self.collection_container())
    }

    /// The container of the path's collection: its namespace, or the
    /// context's object for a kind the context contains.
    pub(super) fn collection_container(&self) -> Option<Container> {
        if !self.namespace.is_empty() {
            return Some(placement::namespace(self.context, &self.namespace));
        }
        if !self.strategy.contained_by_context() {
            return None;
        }
        placement::context_object(self.context)
    }

    /// The container's item in a write of `obj` (`present`: a create):
    /// checked live, or, when it tracks the object in its status, that
    /// status rewritten (live too: a put would clear the deleting flag of
    /// a container being deleted). `None` when a tracker is gone.
    pub(super) async fn container_item(
        &self,
        container: &Container,
        obj: &Object,
        present: bool,
    ) -> Result<Option<Write>, ApiError> {
        let key = container.object_ref.key();
        if self.strategy.tracked_by(obj).is_none() {
            let check = Write::Check {
                key,
                expect: Expect::Live,
            };
            return Ok(present.then_some(check));
        }
        let Some(stored) = self.server.store.get(&key).await.map_err(from_store)? else {
            return match present {
                true => Err(container.missing()),
                false => Ok(None),
            };
        };
        let now = self.call.timestamp();
        let status =
            self.strategy
                .tracking_status(&stored.object["status"], &obj.to_value(), &now, present);
        let mut object = stored.object.clone();
        object["status"] = status;
        object["metadata"]["resourceVersion"] = Value::String((stored.version + 1).to_string());
        Ok(Some(Write::PutObject {
            key,
            object,
            version: stored.version + 1,
            expect: Expect::LiveAt(stored.version),
        }))
    }

    /// The body as sent, decoded, pruned and defaulted, without status
    /// where status is a subresource, its name generated if asked; and
    /// the warnings about it.
    async fn sent_object(&self, sent: codec::Decoded) -> Result<(Object, Vec<String>), ApiError> {
        let mut doc = sent.value;
        self.strategy
            .default_on_create(self.kind, self.context, &mut doc);
        let warnings = self.admit_body(&mut doc, &sent.duplicates)?;
        let mut obj = Object::from_value(doc).map_err(decode_error)?;
        if self.kind.status_subresource {
            obj.set_status(Value::Null);
        }
        if obj.metadata.name.is_empty() && !obj.metadata.generate_name.is_empty() {
            let suffix: String = uuid::Uuid::new_v4().simple().to_string()[..5].to_string();
            obj.metadata.name = generated_name(
                &obj.metadata.generate_name,
                &suffix,
                self.kind.max_name_length,
            );
        }
        Ok((obj, warnings))
    }

    pub(super) async fn create(&self) -> Result<Response, ApiError> {
        let sent = codec::decode_object(self.call.header("content-type"), self.call.body)?;
        self.create_from(sent).await
    }

    /// The create of `sent` (a request's body, or what an apply made).
    pub(super) async fn create_from(&self, sent: codec::Decoded) -> Result<Response, ApiError> {
        let (mut obj, warnings) = self.sent_object(sent).await?;
        let name = obj.metadata.name.clone();
        strategy::refuse_if_context_suspended(
            self.context,
            self.call.context_object.as_ref(),
            self.kind,
            &name,
        )?;
        let causes = self.validate(&obj, None);
        if !causes.is_empty() {
            return Err(self.invalid(&name, causes));
        }
        let placement = self
            .strategy
            .place(&self.strategy_context(), &mut obj, None)
            .await?;
        // Under an ancestor being deleted, or in a context that is: refused
        // now (a create that slips past this is still reached by the
        // cascade, which lists what it deletes last).
        let terminating = placement
            .iter()
            .map(|l| &l.stored)
            .chain(self.call.context_object.as_ref())
            .find(|s| s.object.pointer("/metadata/deletionTimestamp").is_some());
        if let Some(holder) = terminating.and_then(|s| ObjectRef::from_key(&s.key)) {
            let holder = format!("{} \"{}\"", holder.kind.to_lowercase(), holder.name);
            return Err(being_deleted(self.kind, &name, &holder));
        }
        let mut admitting = self
            .admitting(Operation::Create, &name, Some(&obj), None, false)
            .await?;
        if let Some(mutated) = Box::pin(self.mutate(&mut admitting)).await? {
            obj = self.after_mutation_create(&obj, mutated)?;
        }
        self.strategy
            .admit_create(self.catalog, &mut obj, &self.call.timestamp())?;
        self.strategy
            .admit_with_reads(&self.strategy_context(), &mut obj, &Value::Null)
            .await?;
        let now = self.call.timestamp();
        lifecycle::initialize(&mut obj, self.kind, uuid::Uuid::new_v4().to_string(), &now);
        obj.api_version = kinds::api_version(&self.kind.group, &self.kind.storage_version);
        self.strategy.prepare_for_create(&mut obj, &now);
        let causes = lifecycle::index_entry_causes(&obj);
        if !causes.is_empty() {
            return Err(self.invalid(&name, causes));
        }
        let hooks = hooks::on_create(&self.hooks(), &mut obj, &placement).await?;
        let doc = obj.to_value();
        let warnings = [
            warnings,
            Box::pin(self.validate_policies(&mut admitting, Some(&doc))).await?,
        ]
        .concat();
        if self.call.query.dry_run {
            return Ok(self.respond(201, doc).with_warnings(&warnings));
        }
        let container = self.container(&obj);
        let set = self
            .create_set(&obj, &doc, container.as_ref(), &placement, &now)
            .await?;
        match self.commit(set, hooks).await {
            Ok(()) => Ok(self.respond(201, doc).with_warnings(&warnings)),
            Err(err) => Err(self.create_error(&name, container.as_ref(), err)),
        }
    }

    /// A create's items: the object, its label index items, its
    /// container's item and child index item, its parent's check and child
    /// index item, what the strategy creates with it.
    async fn create_set(
        &self,
        obj: &Object,
        doc: &Value,
        container: Option<&Container>,
        placement: &[Link],
        now: &str,
    ) -> Result<WriteSet, ApiError> {
        let object_ref = self.object_ref(&obj.metadata.name);
        let mut set = WriteSet::new();
        set.put(
            Role::Object,
            Write::PutObject {
                key: object_ref.key(),
                object: doc.clone(),
                version: 1,
                expect: Expect::Absent,
            },
        );
        set.extend(
            Role::Index,
            index_puts(&object_ref, &label_pairs(self.kind, obj)),
        );
        if let Some(container) = container {
            set.extend(
                Role::Container,
                self.container_item(container, obj, true).await?,
            );
            // An object that expires goes by itself: an index item would
            // outlive it, and its container would wait for it for good.
            if !self.strategy.expires() {
                set.put(Role::Entry, child_index(&container.object_ref, &object_ref));
            }
        }
        if let Some(parent) = placement.first() {
            set.put(
                Role::Parent,
                Write::Check {
                    key: parent.object_ref.key(),
                    expect: Expect::Live,
                },
            );
            set.put(Role::Index, child_index(&parent.object_ref, &object_ref));
        }
        set.extend(
            Role::Companion,
            self.strategy.created_with(self.kind, &object_ref, now),
        );
        Ok(set)
    }

    /// What a refused create means, by the item that refused it.
    fn create_error(
        &self,
        name: &str,
        container: Option<&Container>,
        err: CommitError,
    ) -> ApiError {
        let Some(refused) = err.refused() else {
            return err.into_api();
        };
        match (refused.role, refused.failure, container) {
            (Role::Object, Failure::Exists, _) => ApiError::AlreadyExists {
                group: self.kind.group.clone(),
                kind: self.kind.plural.clone(),
                name: name.to_string(),
            },
            (Role::Container, Failure::Missing, Some(container)) => container.missing(),
            (Role::Container, Failure::Changed, Some(container)) => {
                being_deleted(self.kind, name, &container.describe())
            }
            (Role::Parent, Failure::Missing, _) => self.conflict(
                name,
                "the parent was deleted meanwhile; create under another parent",
            ),
            (Role::Parent, Failure::Changed, _) => self.conflict(
                name,
                "the parent is being deleted; create under another parent",
            ),
            _ => err.into_api(),
        }
    }
}

/// Kubernetes' answer to a create in a namespace being terminated (403),
/// for any container or ancestor being deleted.
fn being_deleted(kind: &KindInfo, name: &str, holder: &str) -> ApiError {
    ApiError::Forbidden {
        message: format!(
            "{}.{} \"{name}\" is forbidden: unable to create new content in {holder} because it is being deleted",
            kind.plural, kind.group
        ),
    }
}
