//! DELETE: containers are marked, their children counted, then the object,
//! its index items and what goes with it are deleted in one transaction.

use std::collections::BTreeMap;

use super::*;

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
            .is_some_and(|rv| rv != stored.version.to_string())
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
        self.strategy
            .check_delete(&self.strategy_context(), &old)
            .await?;
        let mut admitting = self
            .admitting(Operation::Delete, name, None, Some(&old), false)
            .await?;
        admitting.request.dry_run = dry_run;
        let warnings = Box::pin(self.validate_policies(&mut admitting, None)).await?;
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
        let outcome = self
            .delete_counted(name, &object_ref, &stored, &old, dry_run)
            .await;
        if outcome.is_err() && flagged {
            // Whatever stopped it, the object stays and takes children again.
            if let Err(unmark) = self.unmark_deleting(&object_ref, &stored).await {
                tracing::warn!(error = %unmark, "a failed delete left its deleting flag");
            }
        }
        outcome?;
        Ok(self.respond(200, stored.object).with_warnings(&warnings))
    }

    /// The rest of a delete, once a container is flagged: its children
    /// counted (a container holding any but empty namespaces is refused),
    /// quota's part admitted, then (unless a dry run) the object, its index
    /// items and its empty namespaces deleted in one transaction.
    pub(super) async fn delete_counted(
        &self,
        name: &str,
        object_ref: &ObjectRef,
        stored: &Stored,
        old: &Object,
        dry_run: bool,
    ) -> Result<(), ApiError> {
        let store = &self.server.store;
        let (going_if_empty, owned_records) = match self.strategy.holds_children() {
            true => self.children_going_with(name, object_ref).await?,
            false => (Vec::new(), Vec::new()),
        };
        // After the children's count, whose refusal says more.
        let hooks = hooks::on_delete(&self.hooks(), old).await?;
        if dry_run {
            return Ok(());
        }
        let mut set = self.delete_set(object_ref, stored, old).await?;
        let owned: Vec<ObjectRef> = going_if_empty
            .iter()
            .chain(&owned_records)
            .cloned()
            .collect();
        set.extend(
            Role::Companion,
            deleted_with(store, object_ref, &owned).await?,
        );
        self.commit(set, hooks).await.map_err(|err| match err {
            CommitError::Store(StoreError::TooLarge(detail)) if !going_if_empty.is_empty() => {
                self.conflict(
                    name,
                    format!(
                        "{} \"{name}\" holds {}, too many to delete with it ({detail}); delete some of them first",
                        self.kind.singular,
                        self.counted(&going_if_empty)
                    ),
                )
            }
            err => self.commit_error(name, err),
        })
    }

    /// A container's children, counted: those that go with it (empty
    /// ones of a kind that goes if empty; records about it), or the 409
    /// naming those that keep it.
    async fn children_going_with(
        &self,
        name: &str,
        object_ref: &ObjectRef,
    ) -> Result<(Vec<ObjectRef>, Vec<ObjectRef>), ApiError> {
        let store = &self.server.store;
        let children = hierarchy_reads::children(store, object_ref, None).await?;
        let fate =
            |c: &ObjectRef| strategy::for_group_kind(&c.group, &c.kind).when_container_deleted();
        let (if_empty, others): (Vec<ObjectRef>, Vec<ObjectRef>) = children
            .into_iter()
            .partition(|c| fate(c) == ChildFate::GoesWithIfEmpty);
        let (records, others): (Vec<ObjectRef>, Vec<ObjectRef>) = others
            .into_iter()
            .partition(|c| fate(c) == ChildFate::GoesWith);
        let mut blocking: Vec<String> = others
            .iter()
            .take(20)
            .map(|c| format!("{} \"{}\"", c.kind.to_lowercase(), c.name))
            .collect();
        for child in &if_empty {
            if !hierarchy_reads::children(store, child, Some(1))
                .await?
                .is_empty()
            {
                blocking.push(format!(
                    "{} \"{}\" (not empty)",
                    child.kind.to_lowercase(),
                    child.name
                ));
            }
        }
        if !blocking.is_empty() {
            return Err(self.conflict(
                name,
                format!(
                    "{} \"{name}\" still has children: {}; delete or move them first",
                    self.kind.singular,
                    blocking.join(", ")
                ),
            ));
        }
        Ok((if_empty, records))
    }

    /// A delete's own items: the object under its version, its label index
    /// items, its parent's and container's child index items, and its
    /// container's item when that tracks it.
    async fn delete_set(
        &self,
        object_ref: &ObjectRef,
        stored: &Stored,
        old: &Object,
    ) -> Result<WriteSet, ApiError> {
        let mut set = WriteSet::new();
        set.put(
            Role::Object,
            Write::Delete {
                key: object_ref.key(),
                expect: Expect::Version(stored.version),
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
                Role::Index,
                Write::Delete {
                    key: container.object_ref.child_index_key(object_ref),
                    expect: Expect::Anything,
                },
            );
        }
        Ok(set)
    }

    /// How a message counts objects: `41 namespaces`.
    fn counted(&self, objects: &[ObjectRef]) -> String {
        let mut by_kind: BTreeMap<(&str, &str), usize> = BTreeMap::new();
        for o in objects {
            *by_kind.entry((&o.group, &o.kind)).or_default() += 1;
        }
        let counts: Vec<String> = by_kind
            .into_iter()
            .map(|((group, kind), n)| {
                let plural = self
                    .catalog
                    .preferred(group, kind)
                    .map(|k| k.plural.clone());
                format!("{n} {}", plural.unwrap_or_else(|| kind.to_lowercase()))
            })
            .collect();
        counts.join(", ")
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
