//! The verbs on objects: get, create, update (PUT), patch, delete, and their
//! `/status` variants. Each decodes, runs the domain's rules, and persists in
//! one conditional write or transaction.

use std::collections::BTreeSet;

use domain::hierarchy::{self, ParentRef};
use domain::kinds::{self, KindInfo, Scope, ORGANIZATION_LABEL};
use domain::lifecycle;
use domain::metadata_rules::generated_name;
use domain::object::{Object, OwnerReference};
use domain::{ApiError, Cause};
use http::Method;
use serde_json::Value;
use store::{Context, Expect, ObjectRef, StoreError, Stored, Write};

use crate::codec::{self, FieldValidation, PatchKind, Response};
use crate::errors::from_store;
use crate::hierarchy_reads::{self, Link};
use crate::route::{context_kind, ResourcePath};
use crate::{ApiServer, Call};

/// Hierarchy objects live in the platform context whichever context serves
/// them; an organization's context is a filtered view of them.
pub fn object_ref(_context: &Context, kind: &KindInfo, name: &str) -> ObjectRef {
    ObjectRef {
        context: Context::Platform,
        group: kind.group.to_string(),
        kind: kind.kind.to_string(),
        namespace: String::new(),
        name: name.to_string(),
    }
}

pub async fn serve(
    server: &ApiServer,
    context: &Context,
    path: &ResourcePath,
    call: &Call<'_>,
) -> Result<Response, ApiError> {
    let kind = kinds::by_resource(context_kind(context), &path.group, &path.version, &path.plural)
        .filter(|k| path.namespace.is_none() || k.scope == Scope::Namespaced)
        .ok_or_else(|| {
            ApiError::path_not_found(format!(
                "the server could not find the requested resource: {}/{} {} is not served in this context",
                path.group, path.version, path.plural
            ))
        })?;
    let status = match path.subresource.as_deref() {
        None => false,
        Some("status") => true,
        Some(other) => {
            return Err(ApiError::path_not_found(format!(
                "{} has no subresource {other:?}",
                kind.plural
            )))
        }
    };
    tracing::info!(principal = %call.principal, resource = kind.plural, name = path.name.as_deref(), "serving");
    let ops = Ops {
        server,
        context,
        kind,
        call,
    };
    match (call.method, path.name.as_deref()) {
        (&Method::GET, None) if call.query.watch => Err(ApiError::MethodNotAllowed {
            message: "watch is not supported by this server yet; poll with list instead".into(),
        }),
        (&Method::GET, None) if !status => crate::list::list(server, context, kind, call).await,
        (&Method::POST, None) if !status => ops.create().await,
        (&Method::GET, Some(name)) => ops.get(name).await,
        (&Method::PUT, Some(name)) => ops.replace(name, status).await,
        (&Method::PATCH, Some(name)) => ops.patch(name, status).await,
        (&Method::DELETE, Some(name)) if !status => ops.delete(name).await,
        (method, _) => Err(ApiError::MethodNotAllowed {
            message: format!("{method} is not allowed on this path"),
        }),
    }
}

struct Ops<'a> {
    server: &'a ApiServer,
    context: &'a Context,
    kind: &'static KindInfo,
    call: &'a Call<'a>,
}

/// Whether an object is visible from a context.
pub fn visible(context: &Context, doc: &Value) -> bool {
    match context {
        Context::Organization(org) => {
            doc["metadata"]["labels"][ORGANIZATION_LABEL].as_str() == Some(org)
        }
        _ => true,
    }
}

fn decode_error(e: String) -> ApiError {
    ApiError::bad_request(format!("the object could not be decoded: {e}"))
}

impl Ops<'_> {
    fn not_found(&self, name: &str) -> ApiError {
        ApiError::not_found(self.kind.group, self.kind.plural, name)
    }

    fn conflict(&self, name: &str, message: impl Into<String>) -> ApiError {
        ApiError::Conflict {
            group: self.kind.group.into(),
            kind: self.kind.plural.into(),
            name: name.into(),
            message: message.into(),
        }
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
        ApiError::invalid(self.kind.group, self.kind.plural, name, causes)
    }

    async fn load(&self, name: &str) -> Result<(ObjectRef, Stored, Object), ApiError> {
        let object_ref = object_ref(self.context, self.kind, name);
        let stored = self
            .server
            .store
            .get(&object_ref.key())
            .await
            .map_err(from_store)?;
        let stored = stored
            .filter(|s| visible(self.context, &s.object))
            .ok_or_else(|| self.not_found(name))?;
        let object = Object::from_value(stored.object.clone())
            .map_err(|e| ApiError::internal(format!("stored object is corrupt: {e}")))?;
        Ok((object_ref, stored, object))
    }

    async fn get(&self, name: &str) -> Result<Response, ApiError> {
        let (_, stored, _) = self.load(name).await?;
        if codec::wants_table(self.call.header("accept")) {
            let table = domain::table::table(
                self.kind,
                &[stored.object],
                self.call.now,
                serde_json::json!({}),
            );
            return Ok(Response::json(200, &table));
        }
        Ok(Response::json(200, &stored.object))
    }

    /// Checks apiVersion and kind against the path, and unknown fields
    /// against the request's field validation. Returns warnings.
    fn check_body(&self, doc: &mut Value) -> Result<Vec<String>, ApiError> {
        let Some(map) = doc.as_object_mut() else {
            return Err(ApiError::bad_request(
                "the body must be a JSON or YAML object",
            ));
        };
        let expected = self.kind.api_version();
        for (field, want) in [("apiVersion", expected.as_str()), ("kind", self.kind.kind)] {
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
        let unknown = hierarchy::unknown_fields(self.kind, doc);
        match self.call.query.field_validation {
            FieldValidation::Strict if !unknown.is_empty() => Err(ApiError::bad_request(format!(
                "strict decoding error: {}",
                unknown
                    .iter()
                    .map(|f| format!("unknown field \"{f}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
            FieldValidation::Ignore => Ok(Vec::new()),
            _ => Ok(unknown
                .into_iter()
                .map(|f| format!("unknown field \"{f}\""))
                .collect()),
        }
    }

    async fn create(&self) -> Result<Response, ApiError> {
        let mut doc = codec::decode_object(self.call.header("content-type"), self.call.body)?;
        let warnings = self.check_body(&mut doc)?;
        let mut obj = Object::from_value(doc).map_err(decode_error)?;
        hierarchy::prune_unknown(self.kind, &mut obj.fields);
        obj.set_status(Value::Null);
        if let Context::Organization(org) = self.context {
            hierarchy::default_parent(self.kind, &mut obj.fields, org);
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
        let mut causes = lifecycle::validate_metadata(self.kind, &obj);
        causes.extend(hierarchy::validate_spec(self.kind, obj.spec(), None));
        if !causes.is_empty() {
            return Err(self.invalid(&name, causes));
        }
        let placement = self.place(&mut obj, None).await?;
        let now = self.call.timestamp();
        lifecycle::initialize(&mut obj, self.kind, uuid::Uuid::new_v4().to_string(), &now);
        if hierarchy::is_hierarchy_kind(self.kind) {
            obj.set_status(hierarchy::ready_status(&now, 1));
        }
        let doc = obj.to_value();
        if self.call.query.dry_run {
            return Ok(Response::json(201, &doc).with_warnings(&warnings));
        }
        let object_ref = object_ref(self.context, self.kind, &name);
        let mut writes = vec![Write::PutObject {
            key: object_ref.key(),
            object: doc.clone(),
            version: 1,
            expect: Expect::Absent,
        }];
        writes.extend(index_puts(&object_ref, &label_pairs(&obj)));
        if let Some(parent) = placement.first() {
            writes.push(Write::Check {
                key: parent.object_ref.key(),
                expect: Expect::Live,
            });
            writes.push(child_index(&parent.object_ref, &object_ref));
        }
        match self.server.store.write(writes).await {
            Ok(()) => Ok(Response::json(201, &doc).with_warnings(&warnings)),
            Err(StoreError::AlreadyExists { index: 0 }) => Err(ApiError::AlreadyExists {
                group: self.kind.group.into(),
                kind: self.kind.plural.into(),
                name,
            }),
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

    /// Resolves and checks where a folder or project sits, and sets its
    /// organization label and owner reference to match. `current` is the
    /// stored object's own ref and parent on update.
    async fn place(
        &self,
        obj: &mut Object,
        current: Option<(&ObjectRef, Option<ParentRef>)>,
    ) -> Result<Vec<Link>, ApiError> {
        let Some(parent) = hierarchy::parent_of(self.kind, obj.spec()) else {
            return Ok(Vec::new());
        };
        let field = format!(
            "spec.{}",
            hierarchy::parent_field(self.kind).unwrap_or("parentRef")
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
                    hierarchy::check_same_organization(self.kind, &current_org(obj), &chain)
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
        hierarchy::check_placement(self.kind, &name, &chain, height)
            .map_err(|c| self.invalid(&name, vec![c]))?;
        obj.metadata.labels.insert(ORGANIZATION_LABEL.into(), org);
        if let Some(first) = links.first() {
            set_parent_owner(obj, first);
        }
        Ok(links)
    }

    async fn replace(&self, name: &str, status: bool) -> Result<Response, ApiError> {
        let doc = codec::decode_object(self.call.header("content-type"), self.call.body)?;
        let loaded = self.load(name).await?;
        self.update(loaded, doc, status).await
    }

    async fn patch(&self, name: &str, status: bool) -> Result<Response, ApiError> {
        let (kind, patch) = codec::decode_patch(self.call.header("content-type"), self.call.body)?;
        let loaded = self.load(name).await?;
        let current = &loaded.1.object;
        let mut doc = match kind {
            PatchKind::Merge => domain::patch::merge_patch(current, &patch),
            PatchKind::Json => {
                domain::patch::json_patch(current, &patch).map_err(|e| ApiError::Invalid {
                    group: self.kind.group.into(),
                    kind: self.kind.plural.into(),
                    name: name.into(),
                    causes: vec![Cause::invalid("", e.to_string())],
                })?
            }
        };
        // A patch that does not mention resourceVersion applies to the version
        // just read; one that does is a precondition.
        if patch.pointer("/metadata/resourceVersion").is_none() {
            if let Some(meta) = doc.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.insert(
                    "resourceVersion".into(),
                    Value::String(loaded.1.version.to_string()),
                );
            }
        }
        self.update(loaded, doc, status).await
    }

    async fn update(
        &self,
        (object_ref, stored, old): (ObjectRef, Stored, Object),
        mut doc: Value,
        status: bool,
    ) -> Result<Response, ApiError> {
        let name = old.metadata.name.clone();
        let warnings = self.check_body(&mut doc)?;
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
        hierarchy::prune_unknown(self.kind, &mut new.fields);
        if !status {
            lifecycle::keep_status_of(&old, &mut new);
        }
        let next_version = stored.version + 1;
        let mut causes = lifecycle::carry_over(&old, &mut new, next_version);
        causes.extend(lifecycle::validate_metadata(self.kind, &new));
        causes.extend(hierarchy::validate_spec(
            self.kind,
            new.spec(),
            Some(old.spec()),
        ));
        if !causes.is_empty() {
            return Err(self.invalid(&name, causes));
        }
        let old_parent = hierarchy::parent_of(self.kind, old.spec());
        let new_parent = hierarchy::parent_of(self.kind, new.spec());
        let moved = old_parent != new_parent;
        let placement = if moved {
            self.place(&mut new, Some((&object_ref, old_parent.clone())))
                .await?
        } else {
            keep_hierarchy_metadata(&old, &mut new);
            Vec::new()
        };
        if unchanged(&old, &new) {
            return Ok(Response::json(200, &stored.object).with_warnings(&warnings));
        }
        let doc = new.to_value();
        if self.call.query.dry_run {
            return Ok(Response::json(200, &doc).with_warnings(&warnings));
        }
        let mut writes = vec![Write::PutObject {
            key: object_ref.key(),
            object: doc.clone(),
            version: next_version,
            expect: Expect::Version(stored.version),
        }];
        writes.extend(index_changes(
            &object_ref,
            &label_pairs(&old),
            &label_pairs(&new),
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
            // a cycle or slip the object out of its organization.
            writes.extend(placement.iter().map(|l| Write::Check {
                key: l.object_ref.key(),
                expect: Expect::Version(l.stored.version),
            }));
        }
        match self.server.store.write(writes).await {
            Ok(()) => Ok(Response::json(200, &doc).with_warnings(&warnings)),
            Err(e) if is_own_item(&e) => Err(self.write_error(&name, e)),
            Err(StoreError::NotFound { .. } | StoreError::Conflict { .. }) => Err(self.conflict(
                &name,
                "the new parent or one of its ancestors changed meanwhile; retry",
            )),
            Err(e) => Err(from_store(e)),
        }
    }

    async fn delete(&self, name: &str) -> Result<Response, ApiError> {
        let options = DeleteOptions::decode(self.call.body)?;
        let dry_run = self.call.query.dry_run || options.dry_run;
        let (object_ref, stored, old) = self.load(name).await?;
        if options
            .resource_version
            .as_deref()
            .is_some_and(|rv| rv != stored.version.to_string())
        {
            return Err(self.stale(name));
        }
        if options
            .uid
            .as_deref()
            .is_some_and(|uid| uid != old.metadata.uid)
        {
            return Err(self.conflict(
                name,
                format!(
                    "Precondition failed: UID in precondition: {}, UID in object meta: {}",
                    options.uid.unwrap_or_default(),
                    old.metadata.uid
                ),
            ));
        }
        let store = &self.server.store;
        let holds_children = matches!(self.kind.kind, "Organization" | "Folder");
        if holds_children && !dry_run {
            // Flag first, then count: a child created after the flag fails its
            // parent check, one created before is counted.
            let mark = Write::MarkDeleting {
                key: object_ref.key(),
                version: stored.version,
                deleting: true,
            };
            store
                .write(vec![mark])
                .await
                .map_err(|e| self.write_error(name, e))?;
        }
        if holds_children {
            let children = hierarchy_reads::children(store, &object_ref, Some(20)).await?;
            if !children.is_empty() {
                if !dry_run {
                    let unmark = Write::MarkDeleting {
                        key: object_ref.key(),
                        version: stored.version,
                        deleting: false,
                    };
                    store
                        .write(vec![unmark])
                        .await
                        .map_err(|e| self.write_error(name, e))?;
                }
                let listed: Vec<String> = children
                    .iter()
                    .map(|c| format!("{} \"{}\"", c.kind.to_lowercase(), c.name))
                    .collect();
                return Err(self.conflict(
                    name,
                    format!(
                        "{} \"{name}\" still has children: {}; delete or move them first",
                        self.kind.singular,
                        listed.join(", ")
                    ),
                ));
            }
        }
        if dry_run {
            return Ok(Response::json(200, &stored.object));
        }
        let mut writes = vec![Write::Delete {
            key: object_ref.key(),
            expect: Expect::Version(stored.version),
        }];
        writes.extend(label_pairs(&old).iter().map(|(k, v)| Write::Delete {
            key: object_ref.label_index_key(k, v),
            expect: Expect::Anything,
        }));
        if let Some(parent) = hierarchy::parent_of(self.kind, old.spec()) {
            let parent_ref = object_ref_of_parent(&parent);
            writes.push(Write::Delete {
                key: parent_ref.child_index_key(&object_ref),
                expect: Expect::Anything,
            });
        }
        store
            .write(writes)
            .await
            .map_err(|e| self.write_error(name, e))?;
        Ok(Response::json(200, &stored.object))
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

/// The body of a DELETE (`DeleteOptions`), all of it optional.
struct DeleteOptions {
    dry_run: bool,
    resource_version: Option<String>,
    uid: Option<String>,
}

impl DeleteOptions {
    fn decode(body: &[u8]) -> Result<Self, ApiError> {
        let doc: Value = if body.iter().all(u8::is_ascii_whitespace) {
            Value::Null
        } else {
            serde_json::from_slice(body).map_err(|e| {
                ApiError::bad_request(format!("the DeleteOptions body is not valid JSON: {e}"))
            })?
        };
        match doc.get("propagationPolicy").and_then(Value::as_str) {
            None | Some("Orphan" | "Background" | "Foreground") => {}
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "propagationPolicy must be Orphan, Background or Foreground, not {other:?}"
                )))
            }
        }
        let dry_run = doc["dryRun"]
            .as_array()
            .is_some_and(|a| a.iter().any(|v| v == "All"));
        let precondition = |f: &str| doc["preconditions"][f].as_str().map(str::to_string);
        Ok(Self {
            dry_run,
            resource_version: precondition("resourceVersion"),
            uid: precondition("uid"),
        })
    }
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
    object_ref(&Context::Platform, parent.kind.kind(), &parent.name)
}

/// True when an update would store the same object (only the version moved).
fn unchanged(old: &Object, new: &Object) -> bool {
    let mut probe = new.clone();
    probe.metadata.resource_version = old.metadata.resource_version.clone();
    probe == *old
}

fn label_pairs(obj: &Object) -> BTreeSet<(String, String)> {
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
