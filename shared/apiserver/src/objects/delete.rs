//! DELETE: containers are marked, their children counted, then the object,
//! its index items and what goes with it are deleted in one transaction.

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
        self.strategy().check_delete(self.context, name)?;
        let is_crd = self.kind.is(&kinds::CUSTOM_RESOURCE_DEFINITION);
        if is_crd {
            crds::check_delete(self.server, self.catalog, &old).await?;
        }
        let mut admitting = self
            .admitting(Operation::Delete, name, None, Some(&old), false)
            .await?;
        admitting.request.dry_run = dry_run;
        let warnings = Box::pin(self.validate_policies(&mut admitting, None)).await?;
        let flagged = self.holds_children() && !dry_run;
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
        let mut owned_namespaces = Vec::new();
        let mut owned_records = Vec::new();
        if self.holds_children() {
            let children = hierarchy_reads::children(store, object_ref, None).await?;
            let (namespaces, others): (Vec<ObjectRef>, Vec<ObjectRef>) = children
                .into_iter()
                .partition(|c| c.group.is_empty() && c.kind == kinds::NAMESPACE.kind);
            // A project's suspensions are records about it, not its content:
            // they go with it (as Milo's garbage collector takes them).
            let (suspensions, others): (Vec<ObjectRef>, Vec<ObjectRef>) =
                others.into_iter().partition(|c| {
                    c.group == kinds::PROJECT_SUSPENSION.group
                        && c.kind == kinds::PROJECT_SUSPENSION.kind
                });
            let mut blocking: Vec<String> = others
                .iter()
                .take(20)
                .map(|c| format!("{} \"{}\"", c.kind.to_lowercase(), c.name))
                .collect();
            for ns in &namespaces {
                if !hierarchy_reads::children(store, ns, Some(1))
                    .await?
                    .is_empty()
                {
                    blocking.push(format!("namespace \"{}\" (not empty)", ns.name));
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
            owned_namespaces = namespaces;
            owned_records = suspensions;
        }
        // After the children's count, whose refusal says more.
        let hooks = hooks::on_delete(&self.hooks(), old).await?;
        if dry_run {
            return Ok(());
        }
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
        if let Some(parent) = self.parent_of(old) {
            let parent_ref = object_ref_of_parent(&parent);
            set.put(
                Role::Index,
                Write::Delete {
                    key: parent_ref.child_index_key(object_ref),
                    expect: Expect::Anything,
                },
            );
        }
        if let Some(project) = self.suspended_project(old) {
            if let Some(stored) = self.suspended_project_item(project).await? {
                let status = domain::suspension::status_without(
                    &stored.object["status"],
                    &domain::suspension::entry(&old.to_value()),
                    &self.call.timestamp(),
                );
                // Live: a put would clear the flag of a project being deleted.
                set.put(
                    Role::Container,
                    Self::project_status_write(&stored, status, Expect::LiveAt(stored.version)),
                );
            }
        }
        set.extend(
            Role::Index,
            self.containment(object_ref, old)
                .into_iter()
                .filter_map(|w| match w {
                    Write::PutIndex { key, .. } => Some(Write::Delete {
                        key,
                        expect: Expect::Anything,
                    }),
                    _ => None,
                }),
        );
        let owned: Vec<ObjectRef> = owned_namespaces
            .iter()
            .chain(&owned_records)
            .cloned()
            .collect();
        set.extend(
            Role::Companion,
            namespaces::deleted_with(store, object_ref, &owned).await?,
        );
        self.commit(set, hooks).await.map_err(|err| match err {
            CommitError::Store(StoreError::TooLarge(detail)) if !owned_namespaces.is_empty() => {
                self.conflict(
                    name,
                    format!(
                        "{} \"{name}\" holds {} namespaces, too many to delete with it ({detail}); delete some of them first",
                        self.kind.singular,
                        owned_namespaces.len()
                    ),
                )
            }
            err => self.commit_error(name, err),
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
