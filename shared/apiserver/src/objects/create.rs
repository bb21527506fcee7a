//! POST: a new object, in one transaction with its index items, its
//! container's check and child index item, its parent's (hierarchy) and
//! what quota and the kind add.

use super::*;

impl Ops<'_> {
    /// The writes that make an object a child of its context's project or
    /// organization, or of its namespace (a suspension: of the project it
    /// names), so that those are not deleted under it and the object is
    /// refused when its container does not exist.
    pub(super) fn containment(&self, object_ref: &ObjectRef, obj: &Object) -> Vec<Write> {
        let container = if let Some(project) = self.suspended_project(obj) {
            Some(builtin_ref(
                &Context::Platform,
                &kinds::PROJECT,
                "",
                project,
            ))
        } else if !self.namespace.is_empty() {
            Some(builtin_ref(
                &object_ref.context,
                &kinds::NAMESPACE,
                "",
                &self.namespace,
            ))
        } else if is_hierarchy(self.kind) {
            None
        } else {
            match self.context {
                Context::Platform => None,
                Context::Organization(org) => Some(builtin_ref(
                    &Context::Platform,
                    &kinds::ORGANIZATION,
                    "",
                    org,
                )),
                Context::Project(project) => Some(builtin_ref(
                    &Context::Platform,
                    &kinds::PROJECT,
                    "",
                    project,
                )),
            }
        };
        container
            .map(|c| {
                vec![
                    Write::Check {
                        key: c.key(),
                        expect: Expect::Live,
                    },
                    child_index(&c, object_ref),
                ]
            })
            .unwrap_or_default()
    }

    pub(super) async fn create(&self) -> Result<Response, ApiError> {
        let sent = codec::decode_object(self.call.header("content-type"), self.call.body)?;
        let mut doc = sent.value;
        if let Context::Organization(org) = self.context {
            if is_hierarchy(self.kind) {
                if let Some(fields) = doc.as_object_mut() {
                    hierarchy::default_parent(&self.kind.kind, fields, org);
                }
            }
        }
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
        let name = obj.metadata.name.clone();
        self.refuse_if_suspended(&name).await?;
        let causes = self.validate(&obj, None);
        if !causes.is_empty() {
            return Err(self.invalid(&name, causes));
        }
        let placement = self.place(&mut obj, None).await?;
        let mut admitting = self
            .admitting(Operation::Create, &name, Some(&obj), None, false)
            .await?;
        if let Some(mutated) = Box::pin(self.mutate(&mut admitting)).await? {
            obj = self.after_mutation_create(&obj, mutated)?;
        }
        self.strategy()
            .admit_create(self.catalog, &mut obj, &self.call.timestamp())?;
        self.prepare_policy(&mut obj, &Value::Null).await?;
        let now = self.call.timestamp();
        lifecycle::initialize(&mut obj, self.kind, uuid::Uuid::new_v4().to_string(), &now);
        obj.api_version = kinds::api_version(&self.kind.group, &self.kind.storage_version);
        self.strategy().prepare_for_create(&mut obj, &now);
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
        let object_ref = self.object_ref(&name);
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
            index_puts(&object_ref, &label_pairs(self.kind, &obj)),
        );
        let mut contained = self.containment(&object_ref, &obj);
        if let Some(project) = self.suspended_project(&obj) {
            // The check on the project becomes the write of its status.
            let stored = self
                .suspended_project_item(project)
                .await?
                .ok_or_else(|| self.missing_container(&obj))?;
            let status = domain::suspension::status_with(
                &stored.object["status"],
                domain::suspension::entry(&doc),
                &now,
            );
            contained[0] =
                Self::project_status_write(&stored, status, Expect::LiveAt(stored.version));
        }
        let mut contained = contained.into_iter();
        set.extend(Role::Container, contained.next());
        set.extend(Role::Index, contained);
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
            self.strategy().created_with(self.kind, &object_ref, &now),
        );
        match self.commit(set, hooks).await {
            Ok(()) => Ok(self.respond(201, doc).with_warnings(&warnings)),
            Err(err) => Err(self.create_error(&name, &obj, err)),
        }
    }

    /// What a refused create means, by the item that refused it.
    fn create_error(&self, name: &str, obj: &Object, err: CommitError) -> ApiError {
        let Some(refused) = err.refused() else {
            return err.into_api();
        };
        match (refused.role, refused.failure) {
            (Role::Object, Failure::Exists) => ApiError::AlreadyExists {
                group: self.kind.group.clone(),
                kind: self.kind.plural.clone(),
                name: name.to_string(),
            },
            (Role::Container, Failure::Missing) => self.missing_container(obj),
            (Role::Container, Failure::Changed) => self.conflict(
                name,
                format!(
                    "{} is being deleted; nothing new can be created in it",
                    self.container_name(obj)
                ),
            ),
            (Role::Parent, Failure::Missing) => self.conflict(
                name,
                "the parent was deleted meanwhile; create under another parent",
            ),
            (Role::Parent, Failure::Changed) => self.conflict(
                name,
                "the parent is being deleted; create under another parent",
            ),
            _ => err.into_api(),
        }
    }

    /// The project a ProjectSuspension names; `None` for every other kind.
    pub(super) fn suspended_project<'o>(&self, obj: &'o Object) -> Option<&'o str> {
        self.kind
            .is(&kinds::PROJECT_SUSPENSION)
            .then(|| domain::suspension::suspended_project(obj.spec()))
            .flatten()
    }

    /// The project a suspension names, as stored (`None` if there is none).
    pub(super) async fn suspended_project_item(
        &self,
        project: &str,
    ) -> Result<Option<Stored>, ApiError> {
        let key = builtin_ref(&Context::Platform, &kinds::PROJECT, "", project).key();
        self.server.store.get(&key).await.map_err(from_store)
    }

    /// The project's item rewritten with `status` (a suspension's write
    /// changes its project's status in the same transaction).
    pub(super) fn project_status_write(project: &Stored, status: Value, expect: Expect) -> Write {
        let mut object = project.object.clone();
        object["status"] = status;
        object["metadata"]["resourceVersion"] = Value::String((project.version + 1).to_string());
        Write::PutObject {
            key: project.key.clone(),
            object,
            version: project.version + 1,
            expect,
        }
    }

    /// Refuses a create or update in the control plane of a suspended
    /// project (Milo's ProjectSuspensionEnforcement). Read, not guarded in
    /// the write's transaction: Milo's plugin too reads a cached state.
    pub(super) async fn refuse_if_suspended(&self, name: &str) -> Result<(), ApiError> {
        let Context::Project(project) = self.context else {
            return Ok(());
        };
        let Some(stored) = self.suspended_project_item(project).await? else {
            return Ok(());
        };
        if domain::suspension::is_suspended(&stored.object) {
            return Err(ApiError::ProjectSuspended {
                group: self.kind.group.clone(),
                kind: self.kind.plural.clone(),
                name: name.to_string(),
                project: project.to_string(),
            });
        }
        Ok(())
    }

    pub(super) fn container_name(&self, obj: &Object) -> String {
        if let Some(project) = self.suspended_project(obj) {
            return format!("project \"{project}\"");
        }
        if !self.namespace.is_empty() {
            return format!("namespace \"{}\"", self.namespace);
        }
        match self.context {
            Context::Organization(org) => format!("organization \"{org}\""),
            Context::Project(project) => format!("project \"{project}\""),
            Context::Platform => "the platform".into(),
        }
    }

    pub(super) fn missing_container(&self, obj: &Object) -> ApiError {
        if let Some(project) = self.suspended_project(obj) {
            return ApiError::not_found(kinds::PROJECT.group, kinds::PROJECT.plural, project);
        }
        if !self.namespace.is_empty() {
            return ApiError::not_found("", "namespaces", &self.namespace);
        }
        match self.context {
            Context::Organization(org) => {
                ApiError::not_found(kinds::ORGANIZATION.group, kinds::ORGANIZATION.plural, org)
            }
            Context::Project(project) => {
                ApiError::not_found(kinds::PROJECT.group, kinds::PROJECT.plural, project)
            }
            Context::Platform => ApiError::internal("the platform context has no container"),
        }
    }
}
