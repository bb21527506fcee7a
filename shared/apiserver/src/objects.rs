//! The verbs on objects: get, create, update (PUT), patch, delete, and their
//! `/status` variants. Each decodes, runs the domain's rules, and persists in
//! one conditional write or transaction.

use std::collections::BTreeSet;
use std::sync::Arc;

use domain::admission::{AdmissionRequest, Operation, PolicySet, UserInfo};
use domain::catalog::{Catalog, Miss};
use domain::hierarchy::{self, ParentRef};
use domain::ingest::{platform_relationship_changes, platform_relationships};
use domain::kinds::{self, ContextKind, KindInfo, Scope, ORGANIZATION_LABEL};
use domain::lifecycle;
use domain::metadata_rules::generated_name;
use domain::object::{Object, OwnerReference};
use domain::request_options::DeleteOptions;
use domain::{ApiError, Cause};
use http::Method;
use ingest::relationship_writes;
use serde_json::Value;
use store::{Context, Expect, ObjectRef, StoreError, Stored, Write};

use crate::codec::{self, FieldValidation, PatchKind, Response};
use crate::errors::from_store;
use crate::hierarchy_reads::{self, Link};
use crate::placement::{builtin_ref, is_hierarchy, object_ref, visible};
use crate::present::{at_version, present};
use crate::route::{context_kind, ResourcePath};
use crate::strategy::{self, Strategy};
use crate::{crds, namespaces, policies, quota, ApiServer, Call};

/// The kind a path names in a context. A miss re-checks the catalog first,
/// so a type registered on another instance a moment ago is found.
async fn resolve(
    server: &ApiServer,
    catalog: Arc<Catalog>,
    context: ContextKind,
    path: &ResourcePath,
) -> Result<(Arc<Catalog>, Arc<KindInfo>), ApiError> {
    let lookup = |c: &Catalog| c.resolve(context, &path.group, &path.version, &path.plural);
    let (catalog, found) = match lookup(&catalog) {
        Ok(kind) => (catalog, Ok(kind)),
        Err(_) => {
            let fresh = server.catalog.reload_if_changed(&server.store).await?;
            let found = lookup(&fresh);
            (fresh, found)
        }
    };
    let resource = if path.group.is_empty() {
        path.plural.clone()
    } else {
        format!("{}.{}", path.plural, path.group)
    };
    match found {
        Ok(kind) => Ok((catalog, kind)),
        Err(Miss::Unknown) => Err(ApiError::path_not_found(format!(
            "the server could not find the requested resource: no type {resource} is registered"
        ))),
        Err(Miss::NotInContext(contexts)) => Err(ApiError::path_not_found(format!(
            "{resource} is not served in the {} context; it is served in: {}",
            context.name(),
            contexts
                .iter()
                .map(|c| c.name())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
        Err(Miss::Version(served)) => Err(ApiError::path_not_found(format!(
            "version {} of {resource} is not served; served versions: {}",
            path.version,
            if served.is_empty() {
                "none".to_string()
            } else {
                served.join(", ")
            }
        ))),
    }
}

pub async fn serve(
    server: &ApiServer,
    catalog: Arc<Catalog>,
    context: &Context,
    path: &ResourcePath,
    call: &Call<'_>,
) -> Result<Response, ApiError> {
    let (catalog, kind) = resolve(server, catalog, context_kind(context), path).await?;
    let namespaced = kind.scope == Scope::Namespaced;
    if path.namespace.is_some() && !namespaced {
        return Err(ApiError::path_not_found(format!(
            "{} is cluster-scoped; it has no namespaces",
            kind.plural
        )));
    }
    if namespaced
        && path.namespace.is_none()
        && (path.name.is_some() || call.method == Method::POST)
    {
        return Err(ApiError::path_not_found(format!(
            "{} is namespaced: address it under /namespaces/{{namespace}}/",
            kind.plural
        )));
    }
    let status = match path.subresource.as_deref() {
        None => false,
        Some("status") if kind.status_subresource => true,
        Some(other) => {
            return Err(ApiError::path_not_found(format!(
                "{} has no subresource {other:?}",
                kind.plural
            )))
        }
    };
    tracing::info!(principal = %call.principal, resource = %kind.plural, name = path.name.as_deref(), "serving");
    let deprecation: Vec<String> = kind.deprecation_warning.iter().cloned().collect();
    let ops = Ops {
        server,
        catalog: &catalog,
        context,
        kind: &kind,
        namespace: path.namespace.clone().unwrap_or_default(),
        call,
    };
    let writes = matches!(
        *call.method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    if let Some(why) = strategy::for_kind(&kind).read_only().filter(|_| writes) {
        return Err(ApiError::MethodNotAllowed {
            message: format!("{} are read-only: {why}", kind.plural),
        });
    }
    let response = match (call.method, path.name.as_deref()) {
        (&Method::GET, None) if call.query.watch => Err(ApiError::MethodNotAllowed {
            message: "watch is not supported by this server yet; poll with list instead".into(),
        }),
        (&Method::GET, None) if !status => {
            crate::list::list(server, context, &kind, path.namespace.as_deref(), call).await
        }
        // The writes are boxed: their futures are large (admission adds
        // two phases), and unboxed they overflow a 2 MB stack in debug
        // builds.
        (&Method::POST, None) if !status => Box::pin(ops.create()).await,
        (&Method::GET, Some(name)) => ops.get(name).await,
        (&Method::PUT, Some(name)) => Box::pin(ops.replace(name, status)).await,
        (&Method::PATCH, Some(name)) => Box::pin(ops.patch(name, status)).await,
        (&Method::DELETE, Some(name)) if !status => Box::pin(ops.delete(name)).await,
        (method, _) => Err(ApiError::MethodNotAllowed {
            message: format!("{method} is not allowed on this path"),
        }),
    }?;
    Ok(response.with_warnings(&deprecation))
}

struct Ops<'a> {
    server: &'a ApiServer,
    catalog: &'a Catalog,
    context: &'a Context,
    kind: &'a KindInfo,
    /// The path's namespace; empty for cluster-scoped kinds.
    namespace: String,
    call: &'a Call<'a>,
}

fn decode_error(e: String) -> ApiError {
    ApiError::bad_request(format!("the object could not be decoded: {e}"))
}

impl Ops<'_> {
    /// Quota's part of this request (see `quota`).
    fn quota(&self) -> quota::Subject<'_> {
        quota::Subject {
            store: &self.server.store,
            catalog: self.catalog,
            kind: self.kind,
            context: self.context,
            call: self.call,
            cache: &self.server.quota,
        }
    }

    fn strategy(&self) -> &'static dyn Strategy {
        strategy::for_kind(self.kind)
    }

    fn object_ref(&self, name: &str) -> ObjectRef {
        object_ref(self.context, self.kind, &self.namespace, name)
    }

    fn not_found(&self, name: &str) -> ApiError {
        ApiError::not_found(&self.kind.group, &self.kind.plural, name)
    }

    fn conflict(&self, name: &str, message: impl Into<String>) -> ApiError {
        ApiError::conflict(&self.kind.group, &self.kind.plural, name, message)
    }

    fn stale(&self, name: &str) -> ApiError {
        self.conflict(
            name,
            format!(
                "Operation cannot be fulfilled on {}.{} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                self.kind.plural, self.kind.group
            ),
        )
    }

    fn invalid(&self, name: &str, causes: Vec<Cause>) -> ApiError {
        ApiError::invalid(&self.kind.group, &self.kind.plural, name, causes)
    }

    fn respond(&self, status: u16, doc: Value) -> Response {
        Response::json(status, &at_version(doc, self.kind))
    }

    async fn load(&self, name: &str) -> Result<(ObjectRef, Stored, Object), ApiError> {
        let object_ref = self.object_ref(name);
        let stored = self
            .server
            .store
            .get(&object_ref.key())
            .await
            .map_err(from_store)?;
        let stored = stored
            .filter(|s| visible(self.context, self.kind, &s.object))
            .ok_or_else(|| self.not_found(name))?;
        let object = Object::from_value(stored.object.clone())
            .map_err(|e| ApiError::internal(format!("stored object is corrupt: {e}")))?;
        Ok((object_ref, stored, object))
    }

    async fn get(&self, name: &str) -> Result<Response, ApiError> {
        let (_, stored, _) = self.load(name).await?;
        let doc = at_version(stored.object, self.kind);
        let doc = present(self.server, self.kind, doc, self.call).await?;
        if codec::wants_table(self.call.header("accept")) {
            let table =
                domain::table::table(self.kind, &[doc], self.call.now, serde_json::json!({}));
            return Ok(Response::json(200, &table));
        }
        Ok(Response::json(200, &doc))
    }

    /// Checks apiVersion, kind and namespace against the path, then prunes
    /// unknown fields (refused under `fieldValidation=Strict`, else warned
    /// about, as are the `duplicates` the body named twice) and applies the
    /// schema's defaults. Returns the warnings.
    fn admit_body(&self, doc: &mut Value, duplicates: &[String]) -> Result<Vec<String>, ApiError> {
        let Some(map) = doc.as_object_mut() else {
            return Err(ApiError::bad_request(
                "the body must be a JSON or YAML object",
            ));
        };
        let expected = self.kind.api_version();
        for (field, want) in [
            ("apiVersion", expected.as_str()),
            ("kind", self.kind.kind.as_str()),
        ] {
            match map.get(field) {
                None | Some(Value::Null) => {
                    map.insert(field.into(), Value::String(want.into()));
                }
                Some(Value::String(got)) if got == want => {}
                Some(got) => {
                    return Err(ApiError::bad_request(format!(
                        "the body's {field} {got} does not match this path, which serves {want:?}"
                    )))
                }
            }
        }
        if let Some(meta) = map.get_mut("metadata").and_then(Value::as_object_mut) {
            // `null` is how clients say "not set" (kubectl sends it, e.g.
            // `creationTimestamp: null`).
            meta.retain(|_, v| !v.is_null());
            match meta.get("namespace").and_then(Value::as_str) {
                None | Some("") => {}
                Some(ns) if ns == self.namespace => {}
                Some(ns) if self.kind.scope == Scope::Cluster => {
                    return Err(ApiError::bad_request(format!(
                        "{} is cluster-scoped; metadata.namespace must be empty, not {ns:?}",
                        self.kind.plural
                    )))
                }
                Some(ns) => {
                    return Err(ApiError::bad_request(format!(
                        "the namespace of the object ({ns}) does not match the namespace on the URL ({})",
                        self.namespace
                    )))
                }
            }
            if !self.namespace.is_empty() {
                meta.insert("namespace".into(), Value::String(self.namespace.clone()));
            }
        }
        let mut unknown = unknown_metadata_fields(doc);
        unknown.extend(self.kind.schema.prune(doc));
        self.kind.schema.apply_defaults(doc);
        self.strategy().prepare_body(self.kind, doc);
        let listed = || {
            unknown
                .iter()
                .map(|f| format!("unknown field \"{f}\""))
                .chain(
                    duplicates
                        .iter()
                        .map(|f| format!("duplicate field \"{f}\"")),
                )
                .collect::<Vec<_>>()
        };
        match self.call.query.field_validation {
            FieldValidation::Strict if !(unknown.is_empty() && duplicates.is_empty()) => Err(
                ApiError::bad_request(format!("strict decoding error: {}", listed().join(", "))),
            ),
            FieldValidation::Ignore => Ok(Vec::new()),
            _ => Ok(listed()),
        }
    }

    /// Every rule of the kind: metadata, its schema (CEL rules included,
    /// ratcheting against `old`), and its strategy's.
    fn validate(&self, new: &Object, old: Option<&Object>) -> Vec<Cause> {
        let mut causes = lifecycle::validate_metadata(self.kind, new);
        let old_doc = old.map(Object::to_value);
        causes.extend(self.kind.schema.validate(&new.to_value(), old_doc.as_ref()));
        let valid_so_far = causes.is_empty();
        causes.extend(self.strategy().validate(self.kind, new, valid_so_far));
        causes
    }

    /// The writes that make an object a child of its context's project or
    /// organization, or of its namespace (a suspension: of the project it
    /// names), so that those are not deleted under it and the object is
    /// refused when its container does not exist.
    fn containment(&self, object_ref: &ObjectRef, obj: &Object) -> Vec<Write> {
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

    async fn create(&self) -> Result<Response, ApiError> {
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
        let pending = self.quota().admit_create(&mut obj, &placement).await?;
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
        let mut writes = vec![Write::PutObject {
            key: object_ref.key(),
            object: doc.clone(),
            version: 1,
            expect: Expect::Absent,
        }];
        writes.extend(index_puts(&object_ref, &label_pairs(self.kind, &obj)));
        let container_check = writes.len();
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
        let has_container = !contained.is_empty();
        writes.extend(contained);
        if let Some(parent) = placement.first() {
            writes.push(Write::Check {
                key: parent.object_ref.key(),
                expect: Expect::Live,
            });
            writes.push(child_index(&parent.object_ref, &object_ref));
        }
        writes.extend(namespaces::created_with(self.kind, &object_ref, &now));
        writes.extend(relationship_writes(
            &platform_relationships(&self.kind.kind, &obj),
            &[],
        ));
        let result = if pending.is_empty() {
            self.persist(writes).await?
        } else {
            pending.persist(&self.server.store, writes).await?
        };
        match result {
            Ok(()) => Ok(self.respond(201, doc).with_warnings(&warnings)),
            Err(StoreError::AlreadyExists { index: 0 }) => Err(ApiError::AlreadyExists {
                group: self.kind.group.clone(),
                kind: self.kind.plural.clone(),
                name,
            }),
            Err(StoreError::NotFound { index }) if has_container && index == container_check => {
                Err(self.missing_container(&obj))
            }
            Err(StoreError::Conflict { index }) if has_container && index == container_check => {
                Err(self.conflict(
                    &name,
                    format!(
                        "{} is being deleted; nothing new can be created in it",
                        self.container_name(&obj)
                    ),
                ))
            }
            Err(StoreError::NotFound { .. }) => Err(self.conflict(
                &name,
                "the parent was deleted meanwhile; create under another parent",
            )),
            Err(StoreError::Conflict { .. }) => Err(self.conflict(
                &name,
                "the parent is being deleted; create under another parent",
            )),
            Err(e) => Err(from_store(e)),
        }
    }

    /// The project a ProjectSuspension names; `None` for every other kind.
    fn suspended_project<'o>(&self, obj: &'o Object) -> Option<&'o str> {
        self.kind
            .is(&kinds::PROJECT_SUSPENSION)
            .then(|| domain::suspension::suspended_project(obj.spec()))
            .flatten()
    }

    /// The project a suspension names, as stored (`None` if there is none).
    async fn suspended_project_item(&self, project: &str) -> Result<Option<Stored>, ApiError> {
        let key = builtin_ref(&Context::Platform, &kinds::PROJECT, "", project).key();
        self.server.store.get(&key).await.map_err(from_store)
    }

    /// The project's item rewritten with `status` (a suspension's write
    /// changes its project's status in the same transaction).
    fn project_status_write(project: &Stored, status: Value, expect: Expect) -> Write {
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
    async fn refuse_if_suspended(&self, name: &str) -> Result<(), ApiError> {
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

    fn container_name(&self, obj: &Object) -> String {
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

    fn missing_container(&self, obj: &Object) -> ApiError {
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

    /// Resolves and checks where a folder or project sits, and sets its
    /// organization label and owner reference to match. `current` is the
    /// stored object's own ref and parent on update.
    async fn place(
        &self,
        obj: &mut Object,
        current: Option<(&ObjectRef, Option<ParentRef>)>,
    ) -> Result<Vec<Link>, ApiError> {
        if !is_hierarchy(self.kind) {
            return Ok(Vec::new());
        }
        let Some(parent) = hierarchy::parent_of(&self.kind.kind, obj.spec()) else {
            return Ok(Vec::new());
        };
        let field = format!(
            "spec.{}",
            hierarchy::parent_field(&self.kind.kind).unwrap_or("parentRef")
        );
        let links = hierarchy_reads::chain(&self.server.store, &parent, &field).await?;
        let chain = hierarchy_reads::ancestors(&links);
        let name = obj.metadata.name.clone();
        let org = hierarchy::organization_of(&chain)
            .ok_or_else(|| {
                self.invalid(
                    &name,
                    vec![Cause::invalid(
                        &field,
                        "the parent does not lead to an organization",
                    )],
                )
            })?
            .to_string();
        if let Context::Organization(context_org) = self.context {
            if *context_org != org {
                let message = format!("the parent is not in organization \"{context_org}\"");
                return Err(self.invalid(&name, vec![Cause::invalid(&field, message)]));
            }
        }
        let height = match current {
            Some((own_ref, old_parent)) => {
                if let Err(cause) =
                    hierarchy::check_same_organization(&self.kind.kind, &current_org(obj), &chain)
                {
                    return Err(self.invalid(&name, vec![cause]));
                }
                if old_parent.as_ref() == Some(&parent) || self.kind.kind != kinds::FOLDER.kind {
                    0
                } else {
                    hierarchy_reads::subtree_height(&self.server.store, own_ref).await?
                }
            }
            None => 0,
        };
        hierarchy::check_placement(&self.kind.kind, &name, &chain, height)
            .map_err(|c| self.invalid(&name, vec![c]))?;
        obj.metadata.labels.insert(ORGANIZATION_LABEL.into(), org);
        if let Some(first) = links.first() {
            set_parent_owner(obj, first);
        }
        Ok(links)
    }

    async fn replace(&self, name: &str, status: bool) -> Result<Response, ApiError> {
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

    async fn patch(&self, name: &str, status: bool) -> Result<Response, ApiError> {
        let (kind, patch) = codec::decode_patch(self.call.header("content-type"), self.call.body)?;
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
    async fn retry_after(
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

    async fn update(
        &self,
        (object_ref, stored, old): (ObjectRef, Stored, Object),
        mut doc: Value,
        status: bool,
        duplicates: &[String],
    ) -> Result<Response, ApiError> {
        let name = old.metadata.name.clone();
        // Milo lets an object being deleted be updated while suspended (its
        // finalizers removed); objects here have no graceful deletion yet
        // (the deletion issue adds it, and that exemption with it).
        self.refuse_if_suspended(&name).await?;
        let warnings = self.admit_body(&mut doc, duplicates)?;
        let sent = Object::from_value(doc).map_err(decode_error)?;
        if !sent.metadata.name.is_empty() && sent.metadata.name != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                sent.metadata.name
            )));
        }
        match sent.metadata.resource_version.as_str() {
            "" => {}
            rv if rv.parse::<u64>().ok() == Some(stored.version) => {}
            _ => return Err(self.stale(&name)),
        }
        let mut new = if status {
            lifecycle::status_only(&old, &sent)
        } else {
            sent
        };
        if !status && self.kind.status_subresource {
            lifecycle::keep_status_of(&old, &mut new);
        }
        let next_version = stored.version + 1;
        let mut causes = lifecycle::carry_over(&old, &mut new, next_version);
        causes.extend(self.validate(&new, Some(&old)));
        if !causes.is_empty() {
            return Err(self.invalid(&name, causes));
        }
        new.api_version = kinds::api_version(&self.kind.group, &self.kind.storage_version);
        let old_parent = self.parent_of(&old);
        let new_parent = self.parent_of(&new);
        let moved = old_parent != new_parent;
        let placement = if moved {
            self.place(&mut new, Some((&object_ref, old_parent.clone())))
                .await?
        } else {
            if is_hierarchy(self.kind) {
                keep_hierarchy_metadata(&old, &mut new);
            }
            Vec::new()
        };
        let mut admitting = self
            .admitting(Operation::Update, &name, Some(&new), Some(&old), status)
            .await?;
        if let Some(mutated) = Box::pin(self.mutate(&mut admitting)).await? {
            new = self.after_mutation_update(&old, &new, mutated, status, next_version)?;
        }
        if !status {
            self.strategy()
                .admit_update(self.catalog, &old, &mut new, &self.call.timestamp())?;
            self.prepare_policy(&mut new, old.status()).await?;
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
        let pending = match status {
            true => {
                self.quota().admit_status_update(&old, &new)?;
                quota::Pending::default()
            }
            false => {
                self.quota()
                    .admit_update(&old, &mut new, &placement)
                    .await?
            }
        };
        let doc = new.to_value();
        if self.call.query.dry_run {
            // What would be stored, at the version stored: Kubernetes gives a
            // dry run no new resourceVersion (`kubectl diff` would show one).
            let mut shown = new;
            shown.metadata.resource_version = stored.version.to_string();
            return Ok(self.respond(200, shown.to_value()).with_warnings(&warnings));
        }
        let mut writes = vec![Write::PutObject {
            key: object_ref.key(),
            object: doc.clone(),
            version: next_version,
            expect: Expect::Version(stored.version),
        }];
        writes.extend(index_changes(
            &object_ref,
            &label_pairs(self.kind, &old),
            &label_pairs(self.kind, &new),
        ));
        if let Some(new_parent) = placement.first() {
            if let Some(old_parent) = &old_parent {
                let old_ref = object_ref_of_parent(old_parent);
                writes.push(Write::Delete {
                    key: old_ref.child_index_key(&object_ref),
                    expect: Expect::Anything,
                });
            }
            writes.push(child_index(&new_parent.object_ref, &object_ref));
            // Guard the whole chain as read, so a concurrent move cannot close
            // a cycle or slip the object out of its organization, and live, so
            // it cannot land under a parent whose children are being counted
            // for its delete.
            writes.extend(placement.iter().map(|l| Write::Check {
                key: l.object_ref.key(),
                expect: Expect::LiveAt(l.stored.version),
            }));
        }
        let (added, removed) = platform_relationship_changes(&self.kind.kind, &old, &new);
        writes.extend(relationship_writes(&added, &removed));
        let result = if pending.is_empty() {
            self.persist(writes).await?
        } else {
            pending.persist(&self.server.store, writes).await?
        };
        match result {
            Ok(()) => Ok(self.respond(200, doc).with_warnings(&warnings)),
            Err(e) if is_own_item(&e) => Err(self.write_error(&name, e)),
            Err(StoreError::NotFound { .. } | StoreError::Conflict { .. }) => Err(self.conflict(
                &name,
                "the new parent or one of its ancestors changed or is being deleted meanwhile; retry",
            )),
            Err(e) => Err(from_store(e)),
        }
    }

    /// Applies the writes of one request. A write of a kind whose strategy
    /// names a stamp also moves it (`strategy::Stamp`), and this instance
    /// reloads at once, so the next request here sees the change.
    async fn persist(&self, mut writes: Vec<Write>) -> Result<Result<(), StoreError>, ApiError> {
        let strategy = self.strategy();
        let stamp = strategy.stamp();
        if let Some(stamp) = stamp {
            writes.push(stamp.write());
        }
        let result = self.server.store.write(writes).await;
        if let Some(stamp) = stamp {
            let wait = result.is_ok() && strategy.answers_when_every_instance_applies();
            stamp.after_commit(self.server, wait).await?;
        }
        Ok(result)
    }

    fn parent_of(&self, obj: &Object) -> Option<ParentRef> {
        is_hierarchy(self.kind)
            .then(|| hierarchy::parent_of(&self.kind.kind, obj.spec()))
            .flatten()
    }

    /// Whether objects of this kind hold others that keep it from being
    /// deleted: hierarchy children, a namespace's objects, a project's or
    /// organization's own objects.
    fn holds_children(&self) -> bool {
        self.strategy().holds_children()
    }

    async fn delete(&self, name: &str) -> Result<Response, ApiError> {
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
    async fn delete_counted(
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
        let pending = self.quota().admit_delete(old).await?;
        if dry_run {
            return Ok(());
        }
        let mut writes = vec![Write::Delete {
            key: object_ref.key(),
            expect: Expect::Version(stored.version),
        }];
        writes.extend(
            label_pairs(self.kind, old)
                .iter()
                .map(|(k, v)| Write::Delete {
                    key: object_ref.label_index_key(k, v),
                    expect: Expect::Anything,
                }),
        );
        if let Some(parent) = self.parent_of(old) {
            let parent_ref = object_ref_of_parent(&parent);
            writes.push(Write::Delete {
                key: parent_ref.child_index_key(object_ref),
                expect: Expect::Anything,
            });
        }
        if let Some(project) = self.suspended_project(old) {
            if let Some(stored) = self.suspended_project_item(project).await? {
                let status = domain::suspension::status_without(
                    &stored.object["status"],
                    &domain::suspension::entry(&old.to_value()),
                    &self.call.timestamp(),
                );
                // Live: a put would clear the flag of a project being deleted.
                writes.push(Self::project_status_write(
                    &stored,
                    status,
                    Expect::LiveAt(stored.version),
                ));
            }
        }
        writes.extend(
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
        writes.extend(namespaces::deleted_with(store, object_ref, &owned).await?);
        writes.extend(relationship_writes(
            &[],
            &platform_relationships(&self.kind.kind, old),
        ));
        let result = if pending.is_empty() {
            self.persist(writes).await?
        } else {
            pending.persist(store, writes).await?
        };
        result.map_err(|err| match err {
            StoreError::TooLarge(detail) if !owned_namespaces.is_empty() => self.conflict(
                name,
                format!(
                    "{} \"{name}\" holds {} namespaces, too many to delete with it ({detail}); delete some of them first",
                    self.kind.singular,
                    owned_namespaces.len()
                ),
            ),
            err => self.write_error(name, err),
        })
    }

    /// Takes back the deleting flag of a delete that was refused.
    async fn unmark_deleting(
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

    /// The error of a write whose first item is the object itself.
    fn write_error(&self, name: &str, err: StoreError) -> ApiError {
        match err {
            StoreError::NotFound { index: 0 } => self.not_found(name),
            StoreError::Conflict { .. } | StoreError::TransactionConflict => self.stale(name),
            other => from_store(other),
        }
    }
}

/// Attempts of a write that names no resourceVersion (see `Ops::retry_after`).
const UNCONDITIONAL_WRITE_ATTEMPTS: usize = 64;

/// Whether a body names a resourceVersion, which makes it a precondition.
fn names_version(doc: &Value) -> bool {
    doc.pointer("/metadata/resourceVersion")
        .is_some_and(|v| !v.is_null() && v != "")
}

/// Whether a write failed on the object's own item (always write 0) or in a
/// way that concerns it as a whole.
fn is_own_item(err: &StoreError) -> bool {
    matches!(
        err,
        StoreError::NotFound { index: 0 }
            | StoreError::Conflict { index: 0 }
            | StoreError::TransactionConflict
    )
}

fn current_org(obj: &Object) -> String {
    obj.metadata
        .labels
        .get(ORGANIZATION_LABEL)
        .cloned()
        .unwrap_or_default()
}

/// Outside a move, the organization label and parent owner reference stay as
/// the server set them.
fn keep_hierarchy_metadata(old: &Object, new: &mut Object) {
    match old.metadata.labels.get(ORGANIZATION_LABEL) {
        Some(org) => {
            new.metadata
                .labels
                .insert(ORGANIZATION_LABEL.into(), org.clone());
        }
        None => {
            new.metadata.labels.remove(ORGANIZATION_LABEL);
        }
    }
    let is_parent = |o: &OwnerReference| is_hierarchy_owner(o);
    new.metadata.owner_references.retain(|o| !is_parent(o));
    new.metadata.owner_references.extend(
        old.metadata
            .owner_references
            .iter()
            .filter(|o| is_parent(o))
            .cloned(),
    );
}

fn is_hierarchy_owner(owner: &OwnerReference) -> bool {
    owner.api_version == kinds::ORGANIZATION.api_version()
        && matches!(owner.kind.as_str(), "Organization" | "Folder")
}

fn set_parent_owner(obj: &mut Object, parent: &Link) {
    obj.metadata
        .owner_references
        .retain(|o| !is_hierarchy_owner(o));
    let kind = parent.ancestor.kind.kind();
    obj.metadata.owner_references.push(OwnerReference {
        api_version: kind.api_version(),
        kind: kind.kind.into(),
        name: parent.ancestor.name.clone(),
        uid: parent.stored.object["metadata"]["uid"]
            .as_str()
            .unwrap_or_default()
            .into(),
        controller: None,
        block_owner_deletion: Some(true),
    });
}

fn object_ref_of_parent(parent: &ParentRef) -> ObjectRef {
    builtin_ref(&Context::Platform, &parent.kind.kind(), "", &parent.name)
}

/// `metadata` fields a client may not send (the rest of the object is the
/// schema's to prune).
fn unknown_metadata_fields(doc: &Value) -> Vec<String> {
    doc["metadata"]
        .as_object()
        .map(|meta| {
            meta.keys()
                .filter(|k| !domain::object::METADATA_FIELDS.contains(&k.as_str()))
                .map(|k| format!("metadata.{k}"))
                .collect()
        })
        .unwrap_or_default()
}

/// True when an update would store the same object (only the version moved).
fn unchanged(old: &Object, new: &Object) -> bool {
    let mut probe = new.clone();
    probe.metadata.resource_version = old.metadata.resource_version.clone();
    probe == *old
}

/// The labels that get index items (none for a kind whose labels are not
/// indexed: `list::labels_indexed`).
fn label_pairs(kind: &KindInfo, obj: &Object) -> BTreeSet<(String, String)> {
    if !crate::list::labels_indexed(kind) {
        return BTreeSet::new();
    }
    obj.metadata
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn index_puts<'a>(
    object_ref: &'a ObjectRef,
    labels: &'a BTreeSet<(String, String)>,
) -> impl Iterator<Item = Write> + 'a {
    labels.iter().map(move |(k, v)| Write::PutIndex {
        key: object_ref.label_index_key(k, v),
        target: object_ref.key(),
    })
}

/// Index writes for a label change: put the new pairs, delete the gone ones.
fn index_changes(
    object_ref: &ObjectRef,
    old: &BTreeSet<(String, String)>,
    new: &BTreeSet<(String, String)>,
) -> Vec<Write> {
    let added: BTreeSet<_> = new.difference(old).cloned().collect();
    let mut writes: Vec<Write> = index_puts(object_ref, &added).collect();
    writes.extend(old.difference(new).map(|(k, v)| Write::Delete {
        key: object_ref.label_index_key(k, v),
        expect: Expect::Anything,
    }));
    writes
}

fn child_index(parent: &ObjectRef, child: &ObjectRef) -> Write {
    Write::PutIndex {
        key: parent.child_index_key(child),
        target: child.key(),
    }
}

/// One write on its way through admission: the request the policies see,
/// the policy set it is judged by (one snapshot for both phases), and
/// whether its context (namespace object, context labels) was read yet.
struct Admitting {
    request: AdmissionRequest,
    set: Arc<PolicySet>,
    context_read: bool,
}

impl Ops<'_> {
    /// The admission request of a write. Policies and bindings themselves
    /// are exempt (an empty set), so a bad policy cannot block its repair.
    async fn admitting(
        &self,
        operation: Operation,
        name: &str,
        object: Option<&Object>,
        old: Option<&Object>,
        status: bool,
    ) -> Result<Admitting, ApiError> {
        let set = if policies::is_admission_kind(self.kind) {
            Arc::new(PolicySet::default())
        } else {
            self.server
                .admission
                .policies
                .current(&self.server.store)
                .await?
        };
        let principal = &self.call.principal;
        let doc = |o: &Object| at_version(o.to_value(), self.kind);
        let request = AdmissionRequest {
            uid: self.call.request_id.to_string(),
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
    async fn read_context(&self, admitting: &mut Admitting) -> Result<(), ApiError> {
        if admitting.context_read {
            return Ok(());
        }
        let request = &mut admitting.request;
        let mut labels = std::collections::BTreeMap::new();
        let object_org = || {
            [&request.object, &request.old_object]
                .into_iter()
                .flatten()
                .find_map(|o| o["metadata"]["labels"][ORGANIZATION_LABEL].as_str())
                .map(str::to_string)
        };
        match self.context {
            Context::Platform if self.kind.is(&kinds::ORGANIZATION) => {
                labels.insert(ORGANIZATION_LABEL.to_string(), request.name.clone());
            }
            Context::Platform if is_hierarchy(self.kind) => {
                if let Some(org) = object_org() {
                    labels.insert(ORGANIZATION_LABEL.to_string(), org);
                }
            }
            Context::Platform => {}
            Context::Organization(org) => {
                labels.insert(ORGANIZATION_LABEL.to_string(), org.clone());
            }
            Context::Project(project) => {
                labels.insert(kinds::PROJECT_LABEL.to_string(), project.clone());
                let key = builtin_ref(&Context::Platform, &kinds::PROJECT, "", project).key();
                let stored = self.server.store.get(&key).await.map_err(from_store)?;
                if let Some(org) = stored
                    .as_ref()
                    .and_then(|s| s.object["metadata"]["labels"][ORGANIZATION_LABEL].as_str())
                {
                    labels.insert(ORGANIZATION_LABEL.to_string(), org.to_string());
                }
            }
        }
        request.context_labels = (!labels.is_empty()).then_some(labels);
        if let Some(namespace) = &request.namespace {
            let context = self.object_ref("").context;
            let key = builtin_ref(&context, &kinds::NAMESPACE, "", namespace).key();
            let stored = self.server.store.get(&key).await.map_err(from_store)?;
            request.namespace_object = stored.map(|s| at_version_of_namespace(s.object));
        }
        admitting.context_read = true;
        Ok(())
    }

    /// The mutating policies; the mutated object, or `None` when none
    /// changed it.
    async fn mutate(&self, admitting: &mut Admitting) -> Result<Option<Object>, ApiError> {
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

    /// The validating policies on the final object (`None` on DELETE); the
    /// warnings to send, or the denial.
    async fn validate_policies(
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
        match decision.denial {
            Some(denial) => Err(denial.into()),
            None => Ok(decision.warnings),
        }
    }

    /// A mutated new object made whole again, as the create path made the
    /// object it mutated: its name, the server's hierarchy metadata, no
    /// status where status is a subresource; then checked like a sent one.
    /// A mutation may not move a folder or project.
    fn after_mutation_create(
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
    fn after_mutation_update(
        &self,
        old: &Object,
        placed: &Object,
        mutated: Object,
        status: bool,
        next_version: u64,
    ) -> Result<Object, ApiError> {
        let mut mutated = if status {
            lifecycle::status_only(old, &mutated)
        } else {
            mutated
        };
        if !status && self.kind.status_subresource {
            lifecycle::keep_status_of(old, &mut mutated);
        }
        let causes = lifecycle::carry_over(old, &mut mutated, next_version);
        if !causes.is_empty() {
            return Err(self.invalid(&old.metadata.name, causes));
        }
        self.check_mutated(placed, mutated, Some(old))
    }

    fn check_mutated(
        &self,
        placed: &Object,
        mut mutated: Object,
        old: Option<&Object>,
    ) -> Result<Object, ApiError> {
        let name = placed.metadata.name.clone();
        let mut causes = self.validate(&mutated, old);
        if self.parent_of(&mutated) != self.parent_of(placed) {
            let field = format!(
                "spec.{}",
                hierarchy::parent_field(&self.kind.kind).unwrap_or("parentRef")
            );
            causes.push(Cause::forbidden(
                field,
                "a MutatingAdmissionPolicy may not change where an object sits in the hierarchy",
            ));
        }
        if !causes.is_empty() {
            return Err(self.invalid(&name, causes));
        }
        if is_hierarchy(self.kind) {
            keep_hierarchy_metadata(placed, &mut mutated);
        }
        mutated.api_version = placed.api_version.clone();
        mutated.kind = placed.kind.clone();
        Ok(mutated)
    }

    /// For the admission kinds: the object parsed and compiled (422 when it
    /// does not), and a binding's status. `previous` is the stored status.
    async fn prepare_policy(&self, obj: &mut Object, previous: &Value) -> Result<(), ApiError> {
        if !policies::is_admission_kind(self.kind) {
            return Ok(());
        }
        policies::check(self.kind, obj)?;
        if policies::is_binding_kind(self.kind) {
            // The freshest view: a policy written a moment ago on another
            // instance counts.
            let set = self
                .server
                .admission
                .policies
                .reload_if_changed(&self.server.store)
                .await?;
            let mut doc = obj.to_value();
            doc["status"] = previous.clone();
            let doc = policies::with_binding_status(self.kind, doc, &set, &self.call.timestamp());
            obj.set_status(doc["status"].clone());
        }
        Ok(())
    }
}

/// Namespaces are stored and served as `v1`.
fn at_version_of_namespace(mut doc: Value) -> Value {
    if let Some(map) = doc.as_object_mut() {
        map.insert("apiVersion".into(), Value::String("v1".into()));
    }
    doc
}
