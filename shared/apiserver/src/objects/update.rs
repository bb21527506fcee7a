//! PUT and PATCH (and their `/status`): the object read, changed, checked
//! and written under its version; writes that name no version are retried
//! on the server.

use super::*;

impl Ops<'_> {
    pub(super) async fn replace(&self, name: &str, status: bool) -> Result<Response, ApiError> {
        let sent = codec::decode_object(self.call.header("content-type"), self.call.body)?;
        let unconditional = !names_version(&sent.value);
        let mut attempt = 1;
        loop {
            let loaded = self.load(name).await?;
            let result = self
                .update(loaded, sent.value.clone(), status, &sent.duplicates)
                .await;
            if !(unconditional && self.retry_after(name, &result, &mut attempt).await) {
                return result;
            }
        }
    }

    pub(super) async fn patch(&self, name: &str, status: bool) -> Result<Response, ApiError> {
        let body = codec::decode_patch(self.call.header("content-type"), self.call.body)?;
        let (kind, patch) = match body {
            PatchBody::Apply(config) => return self.apply(name, status, config).await,
            PatchBody::Document(kind, patch) => (kind, patch),
        };
        if self.call.query.force {
            return Err(ApiError::bad_request(
                "force is only for apply patches (application/apply-patch+yaml)",
            ));
        }
        // A patch that does not mention resourceVersion applies to the version
        // just read; one that does is a precondition.
        let unconditional = patch.value.pointer("/metadata/resourceVersion").is_none();
        let mut attempt = 1;
        loop {
            let loaded = self.load(name).await?;
            let current = &at_version(loaded.1.object.clone(), self.kind);
            let mut doc = match kind {
                PatchKind::Merge => domain::patch::merge_patch(current, &patch.value),
                PatchKind::Json => {
                    domain::patch::json_patch(current, &patch.value).map_err(|e| {
                        ApiError::Invalid {
                            group: self.kind.group.clone(),
                            kind: self.kind.plural.clone(),
                            name: name.into(),
                            causes: vec![Cause::invalid("", e.to_string())],
                        }
                    })?
                }
            };
            if unconditional {
                if let Some(meta) = doc.get_mut("metadata").and_then(Value::as_object_mut) {
                    meta.insert(
                        "resourceVersion".into(),
                        Value::String(loaded.1.version.to_string()),
                    );
                }
            }
            let result = self.update(loaded, doc, status, &patch.duplicates).await;
            if !(unconditional && self.retry_after(name, &result, &mut attempt).await) {
                return result;
            }
        }
    }

    /// Whether an unconditional write (a patch or replacement that names no
    /// resourceVersion) goes again after `result`: as Kubernetes does, when a
    /// concurrent write changed the object between its read and its write,
    /// it is read and applied again, up to [`UNCONDITIONAL_WRITE_ATTEMPTS`]
    /// times. Each such failure means another write succeeded, so 32
    /// concurrent writers all get through well within the bound.
    pub(super) async fn retry_after(
        &self,
        name: &str,
        result: &Result<Response, ApiError>,
        attempt: &mut usize,
    ) -> bool {
        let stale = matches!(result, Err(e) if *e == self.stale(name));
        if !stale || *attempt >= UNCONDITIONAL_WRITE_ATTEMPTS {
            return false;
        }
        *attempt += 1;
        // A little jitter spreads writers that keep meeting each other.
        let spread = (2 * *attempt as u64).min(16);
        let jitter = u64::from(uuid::Uuid::new_v4().as_bytes()[0]) % spread;
        tokio::time::sleep(std::time::Duration::from_millis(jitter)).await;
        true
    }

    /// `sent` made an update of `old`: only its status for a `/status`
    /// write, else the stored status kept (where status is a subresource);
    /// the server's fields carried over. With the causes of fields it may
    /// not change.
    pub(super) fn as_update_of(
        &self,
        old: &Object,
        sent: Object,
        status: bool,
        next_version: u64,
    ) -> (Object, Vec<Cause>) {
        let mut new = if status {
            lifecycle::status_only(old, &sent)
        } else {
            sent
        };
        if !status && self.kind.status_subresource {
            lifecycle::keep_status_of(old, &mut new);
        }
        let causes = lifecycle::carry_over(old, &mut new, next_version);
        (new, causes)
    }

    /// The object an update sends, made whole: decoded against the stored
    /// one (its name and resourceVersion checked; only its status for a
    /// `/status` write, its status kept otherwise), the server's fields
    /// carried over, validated.
    fn sent_update(
        &self,
        stored: &Stored,
        old: &Object,
        mut doc: Value,
        status: bool,
        duplicates: &[String],
    ) -> Result<(Object, Vec<String>), ApiError> {
        let name = &old.metadata.name;
        let warnings = self.admit_body(&mut doc, duplicates)?;
        let sent = Object::from_value(doc).map_err(decode_error)?;
        if !sent.metadata.name.is_empty() && sent.metadata.name != *name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                sent.metadata.name
            )));
        }
        match sent.metadata.resource_version.as_str() {
            "" => {}
            // A watch event's object carries its position after a dot.
            rv if domain::watch::object_version(rv) == Some(stored.version) => {}
            _ => return Err(self.stale(name)),
        }
        let (mut new, mut causes) = self.as_update_of(old, sent, status, stored.version + 1);
        causes.extend(self.validate(&new, Some(old)));
        if !causes.is_empty() {
            return Err(self.invalid(name, causes));
        }
        new.api_version = kinds::api_version(&self.kind.group, &self.kind.storage_version);
        Ok((new, warnings))
    }

    /// An update that moves the object is placed again (the new parent
    /// chain, read, to guard); one that does not keeps its placement.
    async fn placed_again(
        &self,
        object_ref: &ObjectRef,
        old: &Object,
        new: &mut Object,
    ) -> Result<Vec<Link>, ApiError> {
        let old_parent = self.strategy.parent_of(self.kind, old);
        if old_parent == self.strategy.parent_of(self.kind, new) {
            self.strategy.keep_placement(old, new);
            return Ok(Vec::new());
        }
        let cx = self.strategy_context();
        self.strategy
            .place(&cx, new, Some((object_ref, old_parent)))
            .await
    }

    pub(super) async fn update(
        &self,
        (object_ref, stored, old): (ObjectRef, Stored, Object),
        doc: Value,
        status: bool,
        duplicates: &[String],
    ) -> Result<Response, ApiError> {
        let name = old.metadata.name.clone();
        // As Milo, an object being deleted may still be updated while its
        // project is suspended: removing its finalizers lets it go.
        if !domain::deletion::is_terminating(&old) {
            strategy::refuse_if_context_suspended(
                self.context,
                self.call.context_object.as_ref(),
                self.kind,
                &name,
            )?;
        }
        let (mut new, warnings) = self.sent_update(&stored, &old, doc, status, duplicates)?;
        let next_version = stored.version + 1;
        let old_parent = self.strategy.parent_of(self.kind, &old);
        let placement = self.placed_again(&object_ref, &old, &mut new).await?;
        let mut admitting = self
            .admitting(Operation::Update, &name, Some(&new), Some(&old), status)
            .await?;
        if let Some(mutated) = Box::pin(self.mutate(&mut admitting)).await? {
            new = self.after_mutation_update(&old, &new, mutated, status, next_version)?;
        }
        if !status {
            self.strategy
                .admit_update(self.catalog, &old, &mut new, &self.call.timestamp())?;
            self.strategy
                .admit_with_reads(&self.strategy_context(), &mut new, old.status())
                .await?;
        }
        let doc = new.to_value();
        // As Kubernetes, policies see (and may refuse) an update that
        // changes nothing.
        let warnings = [
            warnings,
            Box::pin(self.validate_policies(&mut admitting, Some(&doc))).await?,
        ]
        .concat();
        if unchanged(&old, &new) {
            return Ok(self.respond(200, stored.object).with_warnings(&warnings));
        }
        let causes = lifecycle::index_entry_causes(&new);
        if !causes.is_empty() {
            return Err(self.invalid(&name, causes));
        }
        if self
            .last_finalizer_removed(&object_ref, &stored, &old, &new)
            .await?
        {
            return Ok(self.respond(200, doc).with_warnings(&warnings));
        }
        let hooks = match status {
            true => hooks::on_status_update(&self.hooks(), &old, &mut new)?,
            false => hooks::on_update(&self.hooks(), &old, &mut new, &placement).await?,
        };
        let doc = new.to_value();
        if self.call.query.dry_run {
            // What would be stored, at the version stored: Kubernetes gives a
            // dry run no new resourceVersion (`kubectl diff` would show one).
            let mut shown = new;
            shown.metadata.resource_version = stored.version.to_string();
            return Ok(self.respond(200, shown.to_value()).with_warnings(&warnings));
        }
        let mut set = self.update_set(
            (&object_ref, &stored),
            (&old, &new, &doc),
            &placement,
            old_parent.as_ref(),
        );
        if let Some(fence) = self.cascade_fence(&old, &new).await? {
            set.put(Role::Container, fence);
        }
        match self.commit(set, hooks).await {
            Ok(()) => Ok(self.respond(200, doc).with_warnings(&warnings)),
            Err(err) => Err(self.update_error(&name, err)),
        }
    }

    /// What a refused update means, by the item that refused it.
    fn update_error(&self, name: &str, err: CommitError) -> ApiError {
        if is_parent_refusal(&err) {
            return self.conflict(
                name,
                "the new parent or one of its ancestors changed or is being deleted meanwhile; retry",
            );
        }
        if err.refused().is_some_and(|r| r.role == Role::Container) {
            return self.emptied_meanwhile(name);
        }
        self.commit_error(name, err)
    }

    /// Whether the update removed a Terminating object's last finalizer
    /// and the object therefore went (a container only once nothing is
    /// left in it; until then the update is stored and the gc function
    /// empties it).
    async fn last_finalizer_removed(
        &self,
        object_ref: &ObjectRef,
        stored: &Stored,
        old: &Object,
        new: &Object,
    ) -> Result<bool, ApiError> {
        if !domain::deletion::finalizers_done(new)
            || old.metadata.finalizers.is_empty()
            || self.call.query.dry_run
        {
            return Ok(false);
        }
        let gone = self.delete_counted(object_ref, stored, old, false).await?;
        Ok(gone == super::delete::Gone::Deleted)
    }

    /// An update's items: the object under its version, its label index
    /// changes, what the strategy updates with it and, for a move, its
    /// parent's child index items and the whole new chain guarded as read.
    fn update_set(
        &self,
        (object_ref, stored): (&ObjectRef, &Stored),
        (old, new, doc): (&Object, &Object, &Value),
        placement: &[Link],
        old_parent: Option<&ParentRef>,
    ) -> WriteSet {
        let next_version = stored.version + 1;
        let mut set = WriteSet::new();
        set.put(
            Role::Object,
            Write::PutObject {
                key: object_ref.key(),
                object: doc.clone(),
                version: next_version,
                expect: Expect::Version(stored.version),
            },
        );
        set.extend(
            Role::Index,
            index_changes(
                object_ref,
                &label_pairs(self.kind, old),
                &label_pairs(self.kind, new),
            ),
        );
        set.extend(
            Role::Companion,
            self.strategy.updated_with(object_ref, old, new),
        );
        if let Some(new_parent) = placement.first() {
            if let Some(old_parent) = old_parent {
                let old_ref = placement::parent_ref(old_parent);
                set.put(
                    Role::Index,
                    Write::Delete {
                        key: old_ref.child_index_key(object_ref),
                        expect: Expect::Anything,
                    },
                );
            }
            set.put(Role::Index, child_index(&new_parent.object_ref, object_ref));
            // Guard the whole chain as read, so a concurrent move cannot close
            // a cycle or slip the object out of its organization, and live, so
            // it cannot land under a parent whose children are being counted
            // for its delete.
            set.extend(
                Role::Parent,
                placement.iter().map(|l| Write::Check {
                    key: l.object_ref.key(),
                    expect: Expect::LiveAt(l.stored.version),
                }),
            );
        }
        set
    }
}

impl Ops<'_> {
    /// An update refused because the object's container is being emptied
    /// (see `delete_collection.rs`).
    fn emptied_meanwhile(&self, name: &str) -> ApiError {
        let container = self
            .collection_container()
            .map_or_else(|| "its container".to_string(), |c| c.describe());
        self.conflict(
            name,
            format!(
                "{container} is being deleted, and every object in it without finalizers with it: its finalizers, labels and owner references can no longer change"
            ),
        )
    }
}

/// Attempts of a write that names no resourceVersion (see `Ops::retry_after`).
pub(super) const UNCONDITIONAL_WRITE_ATTEMPTS: usize = 64;

/// Whether a body names a resourceVersion, which makes it a precondition.
pub(super) fn names_version(doc: &Value) -> bool {
    doc.pointer("/metadata/resourceVersion")
        .is_some_and(|v| !v.is_null() && v != "")
}

/// Whether a move was refused by the parent chain it was checked against.
pub(super) fn is_parent_refusal(err: &CommitError) -> bool {
    err.refused().is_some_and(|r| r.role == Role::Parent)
}

/// True when an update would store the same object (only the version moved).
pub(super) fn unchanged(old: &Object, new: &Object) -> bool {
    let mut probe = new.clone();
    probe.metadata.resource_version = old.metadata.resource_version.clone();
    probe == *old
}
