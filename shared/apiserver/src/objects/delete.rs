//! DELETE: an object goes at once, in one transaction with its index
//! items and what goes with it, unless something holds it: its finalizers,
//! the finalizer its propagation policy adds, or, for a container, its
//! children. Then it stays Terminating (`deletionTimestamp` set) and goes
//! when the last of them does: the update that removes its last finalizer
//! (update.rs), or the gc function's delete once a container is empty
//! (gc/, #21).

use domain::deletion;
use domain::predeletion;
use domain::request_options::PropagationPolicy;

use super::*;

/// How long the note of who deleted an object is kept: the table's stream
/// holds the delete's record for 24 hours, and the feed reads the note
/// when it publishes that record.
const DELETION_NOTE_SECONDS: i64 = 2 * 24 * 3600;

/// What a delete that found nothing keeping the object did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Gone {
    /// It is gone (or, in a dry run, would be).
    Deleted,
    /// Children keep it (or are too many to go in its transaction).
    Waits,
}

/// A container's children, by what becomes of them on its delete.
#[derive(Default)]
struct Children {
    /// What goes in its transaction: empty namespaces, records about it.
    going: Vec<ObjectRef>,
    /// What keeps it until the gc function has deleted them.
    keeping: Vec<ObjectRef>,
}

impl Ops<'_> {
    pub(super) async fn delete(&self, name: &str) -> Result<Response, ApiError> {
        // Read whole before anything else: a body misread (a dry run taken
        // for a delete, a precondition dropped) would delete.
        let options = DeleteOptions::from_body(self.call.body, &self.kind.api_version())
            .map_err(ApiError::bad_request)?;
        let dry_run = self.call.query.dry_run || options.dry_run();
        let (object_ref, stored, old) = self.load(name).await?;
        if options
            .precondition_resource_version()
            .is_some_and(|rv| domain::watch::object_version(rv) != Some(stored.version))
        {
            return Err(self.stale(name));
        }
        if let Some(uid) = options
            .precondition_uid()
            .filter(|uid| *uid != old.metadata.uid)
        {
            return Err(self.conflict(
                name,
                format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    old.metadata.uid
                ),
            ));
        }
        if deletion::is_terminating(&old) {
            return self.delete_again(&object_ref, &stored, &old, dry_run).await;
        }
        if let Some(check) = self.strategy.check_delete(&self.strategy_context(), &old) {
            check.await?;
        }
        let mut admitting = self
            .admitting(Operation::Delete, name, None, Some(&old), false)
            .await?;
        admitting.request.dry_run = dry_run;
        let warnings = Box::pin(self.validate_policies(&mut admitting, None)).await?;
        let policy = deletion::propagation(&options);
        if !old.metadata.finalizers.is_empty() || deletion::finalizer_for(policy).is_some() {
            let response = self
                .terminate(&object_ref, &stored, &old, policy, dry_run)
                .await?;
            return Ok(response.with_warnings(&warnings));
        }
        let flagged = self.strategy.holds_children() && !dry_run;
        if flagged {
            // Flag first, then count: a child created after the flag fails its
            // parent check, one created before is counted.
            let mark = Write::MarkDeleting {
                key: object_ref.key(),
                version: stored.version,
                deleting: true,
            };
            self.server
                .store
                .write(vec![mark])
                .await
                .map_err(|e| self.write_error(name, e))?;
        }
        let outcome = match self
            .delete_counted(&object_ref, &stored, &old, dry_run)
            .await
        {
            Ok(Gone::Deleted) => Ok(self.respond(200, stored.object.clone())),
            // Its children keep it: Terminating (flagged for good, so
            // nothing new lands in it) while the gc function empties it.
            Ok(Gone::Waits) => {
                self.terminate(&object_ref, &stored, &old, policy, dry_run)
                    .await
            }
            Err(err) => Err(err),
        };
        if outcome.is_err() && flagged {
            // Whatever stopped it, the object stays and takes children again.
            if let Err(unmark) = self.unmark_deleting(&object_ref, &stored).await {
                tracing::warn!(error = %unmark, "a failed delete left its deleting flag");
            }
        }
        Ok(outcome?.with_warnings(&warnings))
    }

    /// A delete of an object already Terminating changes nothing but
    /// lets it go when nothing holds it any more (the gc function's last
    /// step for a container it emptied). Either way the answer is the
    /// object, as Kubernetes answers.
    async fn delete_again(
        &self,
        object_ref: &ObjectRef,
        stored: &Stored,
        old: &Object,
        dry_run: bool,
    ) -> Result<Response, ApiError> {
        if old.metadata.finalizers.is_empty() && !dry_run {
            self.delete_counted(object_ref, stored, old, false).await?;
        }
        Ok(self.respond(200, stored.object.clone()))
    }

    /// `old` made Terminating: its `deletionTimestamp` set, the
    /// propagation's finalizer added, its strategy's terminating status
    /// (a namespace's phase); a container, an owner or an object with the
    /// platform's finalizer or a pre-deletion hook's, which the gc function
    /// must act for, queued for it in the same transaction.
    async fn terminate(
        &self,
        object_ref: &ObjectRef,
        stored: &Stored,
        old: &Object,
        policy: PropagationPolicy,
        dry_run: bool,
    ) -> Result<Response, ApiError> {
        let name = &old.metadata.name;
        let mut new = deletion::terminating(old, policy, &self.call.timestamp());
        new.metadata.resource_version = (stored.version + 1).to_string();
        self.strategy.terminating(&mut new);
        if dry_run {
            new.metadata.resource_version = stored.version.to_string();
            return Ok(self.respond(200, new.to_value()));
        }
        let hooks = hooks::on_update(&self.hooks(), old, &mut new, &[]).await?;
        let doc = new.to_value();
        let mut set = WriteSet::new();
        set.put(
            Role::Object,
            Write::PutObject {
                key: object_ref.key(),
                object: doc.clone(),
                version: stored.version + 1,
                expect: Expect::Version(stored.version),
            },
        );
        let platform_finalizes = new.metadata.finalizers.iter().any(|held| {
            self.strategy.platform_finalizer() == Some(held.as_str())
                || predeletion::hook_of(held).is_some()
        });
        if self.strategy.holds_children()
            || deletion::finalizer_for(policy).is_some()
            || platform_finalizes
        {
            set.put(
                Role::Index,
                Write::PutIndex {
                    key: object_ref.terminating_key(),
                    target: object_ref.key(),
                },
            );
        }
        self.commit(set, hooks)
            .await
            .map_err(|err| self.commit_error(name, err))?;
        Ok(self.respond(200, doc))
    }

    /// The rest of a delete, once a container is flagged: its children
    /// counted (any that must be deleted first keep it: `Waits`), quota's
    /// part admitted, then (unless a dry run) the object, its index items
    /// and what goes with it deleted in one transaction.
    pub(super) async fn delete_counted(
        &self,
        object_ref: &ObjectRef,
        stored: &Stored,
        old: &Object,
        dry_run: bool,
    ) -> Result<Gone, ApiError> {
        let store = &self.server.store;
        let children = match self.strategy.holds_children() {
            true => self.children_of(object_ref).await?,
            false => Children::default(),
        };
        if !children.keeping.is_empty() {
            return Ok(Gone::Waits);
        }
        let hooks = hooks::on_delete(&self.hooks(), old).await?;
        if dry_run {
            return Ok(Gone::Deleted);
        }
        let mut set = self.delete_set(object_ref, stored.version, old).await?;
        set.extend(
            Role::Companion,
            deleted_with(store, object_ref, &children.going).await?,
        );
        set.extend(Role::DeletionNote, self.deletion_note(old));
        match self.commit(set, hooks).await {
            Ok(()) => Ok(Gone::Deleted),
            // More empty namespaces than one transaction holds: the gc
            // function deletes them one by one first.
            Err(CommitError::Store(StoreError::TooLarge(detail))) if !children.going.is_empty() => {
                tracing::info!(%detail, "too much goes with it for one transaction; it waits");
                Ok(Gone::Waits)
            }
            Err(err) => Err(self.commit_error(&old.metadata.name, err)),
        }
    }

    /// A container's children: those that go with it (empty ones of a
    /// kind that goes if empty; records about it), and those that keep it.
    async fn children_of(&self, object_ref: &ObjectRef) -> Result<Children, ApiError> {
        let store = &self.server.store;
        let mut children = Children::default();
        for child in hierarchy_reads::children(store, object_ref, None).await? {
            let goes = match strategy::for_group_kind(&child.group, &child.kind)
                .when_container_deleted()
            {
                ChildFate::GoesWith => true,
                ChildFate::GoesWithIfEmpty => hierarchy_reads::children(store, &child, Some(1))
                    .await?
                    .is_empty(),
                ChildFate::Blocks => false,
            };
            match goes {
                true => children.going.push(child),
                false => children.keeping.push(child),
            }
        }
        Ok(children)
    }

    /// A delete's own items: the object under its version, its label index
    /// items, its parent's and container's child index items, and its
    /// container's item when that tracks it.
    pub(super) async fn delete_set(
        &self,
        object_ref: &ObjectRef,
        version: u64,
        old: &Object,
    ) -> Result<WriteSet, ApiError> {
        let mut set = WriteSet::new();
        set.put(
            Role::Object,
            Write::Delete {
                key: object_ref.key(),
                expect: Expect::Version(version),
            },
        );
        set.extend(
            Role::Index,
            label_pairs(self.kind, old)
                .iter()
                .map(|(k, v)| Write::Delete {
                    key: object_ref.label_index_key(k, v),
                    expect: Expect::Anything,
                }),
        );
        if deletion::is_terminating(old) {
            set.put(
                Role::Index,
                Write::Delete {
                    key: object_ref.terminating_key(),
                    expect: Expect::Anything,
                },
            );
        }
        if let Some(parent) = self.strategy.parent_of(self.kind, old) {
            set.put(
                Role::Index,
                Write::Delete {
                    key: placement::parent_ref(&parent).child_index_key(object_ref),
                    expect: Expect::Anything,
                },
            );
        }
        if let Some(container) = self.container(old) {
            set.extend(
                Role::Container,
                self.container_item(&container, old, false).await?,
            );
            set.put(
                Role::Entry,
                Write::Delete {
                    key: container.object_ref.child_index_key(object_ref),
                    expect: Expect::Anything,
                },
            );
        }
        Ok(set)
    }

    /// Who deletes `old`, for the change feed to name as the actor of its
    /// delete: the removed item can no longer say. None for a system
    /// principal, which no User is, so no actor.
    fn deletion_note(&self, old: &Object) -> Option<Write> {
        let principal = &self.call.request.principal;
        (!principal.subject.starts_with("system:")).then(|| Write::NoteDeletion {
            uid: old.metadata.uid.clone(),
            writer: principal.subject.clone(),
            expires_at: self.call.request.time.timestamp() + DELETION_NOTE_SECONDS,
        })
    }

    /// Takes back the deleting flag of a delete that was refused.
    pub(super) async fn unmark_deleting(
        &self,
        object_ref: &ObjectRef,
        stored: &Stored,
    ) -> Result<(), ApiError> {
        let unmark = Write::MarkDeleting {
            key: object_ref.key(),
            version: stored.version,
            deleting: false,
        };
        self.server
            .store
            .write(vec![unmark])
            .await
            .map_err(|e| self.write_error(&object_ref.name, e))
    }
}

/// The writes that delete `owned` (what goes with its container: empty
/// namespaces, records about it) with `owner`: each object, its label index items and
/// its child index item.
async fn deleted_with(
    store: &store::Store,
    owner: &ObjectRef,
    owned: &[ObjectRef],
) -> Result<Vec<Write>, ApiError> {
    let keys: Vec<_> = owned.iter().map(ObjectRef::key).collect();
    let stored = store.batch_get(&keys).await.map_err(from_store)?;
    let mut writes = Vec::new();
    for item in stored {
        let Some(owned_ref) = ObjectRef::from_key(&item.key) else {
            continue;
        };
        let owned_ref = &owned_ref;
        writes.push(Write::Delete {
            key: owned_ref.key(),
            expect: Expect::Version(item.version),
        });
        writes.extend(label_index::deletes(
            owned_ref,
            &label_index::of_document(&item.object),
        ));
        writes.push(Write::Delete {
            key: owner.child_index_key(owned_ref),
            expect: Expect::Anything,
        });
    }
    Ok(writes)
}
