//! The verbs on objects: get, create, update (PUT), patch, delete, and their
//! `/status` variants, each in a module of its own. Each decodes, runs the
//! domain's rules and the kind's strategy, and persists in one conditional
//! write or transaction. This module resolves the kind, dispatches, and
//! holds what every verb shares.

use std::collections::BTreeSet;
use std::sync::Arc;

use domain::admission::{AdmissionRequest, Operation, PolicySet, UserInfo};
use domain::catalog::{Catalog, Miss};
use domain::hierarchy::ParentRef;
use domain::kinds::{self, ContextKind, KindInfo, Scope, ORGANIZATION_LABEL};
use domain::lifecycle;
use domain::metadata_rules::generated_name;
use domain::object::Object;
use domain::request_options::DeleteOptions;
use domain::{ApiError, Cause};
use http::Method;
use serde_json::Value;
use store::{Context, Expect, ObjectRef, StoreError, Stored, Write};

use crate::authorization::Access;
use crate::codec::{self, FieldValidation, PatchBody, PatchKind, Response};
use crate::errors::from_store;
use crate::hierarchy_reads::{self, Link};
use crate::hooks::{self, HookContext};
use crate::placement::{self, object_ref, visible, Container};
use crate::present::{at_version, present};
use crate::route::{context_kind, ResourcePath};
use crate::strategy::{self, ChildFate, Strategy, StrategyContext};
use crate::write_set::{CommitError, Failure, Role, WriteSet};
use crate::{label_index, ApiServer, Call};

mod admit;
mod apply;
mod create;
mod delete;
mod delete_collection;
mod get;
mod indexes;
mod update;

pub(crate) use delete_collection::COLLECTION_PAGE;

use indexes::*;

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
    access: &Access,
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
    let deprecation: Vec<String> = kind.deprecation_warning.iter().cloned().collect();
    let strategy = strategy::for_kind(&kind);
    let ops = Ops {
        server,
        catalog: &catalog,
        context,
        kind: &kind,
        strategy,
        namespace: path.namespace.clone().unwrap_or_default(),
        call,
    };
    if let Some(why) = strategy.read_only().filter(|_| call.request.verb.writes()) {
        return Err(ApiError::MethodNotAllowed {
            message: format!("{} are read-only: {why}", kind.plural),
        });
    }
    let response = match (call.method, path.name.as_deref()) {
        (&Method::GET, None) if call.query.watch => {
            let namespace = path.namespace.as_deref();
            crate::watch::serve(server, (context, &kind, namespace), call, access).await
        }
        (&Method::GET, None) if !status => {
            let namespace = path.namespace.as_deref();
            crate::list::list(server, context, &kind, namespace, call, access).await
        }
        // The writes are boxed: their futures are large (admission adds
        // two phases), and unboxed they overflow a 2 MB stack in debug
        // builds.
        (&Method::POST, None) if !status => Box::pin(ops.create()).await,
        (&Method::GET, Some(name)) => ops.get(name).await,
        (&Method::PUT, Some(name)) => Box::pin(ops.replace(name, status)).await,
        (&Method::PATCH, Some(name)) => Box::pin(ops.patch(name, status)).await,
        (&Method::DELETE, Some(name)) if !status => Box::pin(ops.delete(name)).await,
        // As Kubernetes's namespaces: a container goes by its own delete.
        (&Method::DELETE, None) if strategy.holds_children() => Err(ApiError::MethodNotAllowed {
            message: format!(
                "{} cannot be deleted as a collection: delete each by name",
                kind.plural
            ),
        }),
        (&Method::DELETE, None) if !status => Box::pin(ops.delete_collection(access)).await,
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
    /// The kind's strategy, looked up once per request.
    strategy: &'static dyn Strategy,
    /// The path's namespace; empty for cluster-scoped kinds.
    namespace: String,
    call: &'a Call<'a>,
}

fn decode_error(e: String) -> ApiError {
    ApiError::bad_request(format!("the object could not be decoded: {e}"))
}

impl Ops<'_> {
    /// What the hooks of this request read (see `hooks`).
    fn hooks(&self) -> HookContext<'_> {
        HookContext {
            store: &self.server.store,
            catalog: self.catalog,
            kind: self.kind,
            context: self.context,
            request: &self.call.request,
            quota: &self.server.quota,
            pre_deletion: &self.server.pre_deletion,
        }
    }

    /// What the strategy's reads go through.
    fn strategy_context(&self) -> StrategyContext<'_> {
        StrategyContext {
            server: self.server,
            catalog: self.catalog,
            context: self.context,
            kind: self.kind,
            request: &self.call.request,
            notices: &self.call.notices,
        }
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
        let mut stored = stored
            .filter(|s| visible(self.context, self.kind, &s.object))
            .ok_or_else(|| self.not_found(name))?;
        self.strategy.present_stored(&mut stored);
        let object = Object::from_value(stored.object.clone())
            .map_err(|e| ApiError::internal(format!("stored object is corrupt: {e}")))?;
        Ok((object_ref, stored, object))
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
        self.strategy.prepare_body(self.kind, doc);
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
        if let Some(old) = old {
            causes.extend(domain::deletion::update_causes(old, new));
        }
        let namespaced = self.kind.scope == Scope::Namespaced;
        causes.extend(domain::deletion::owner_reference_causes(
            new,
            namespaced,
            |group, kind| self.catalog.preferred(group, kind).map(|k| k.scope),
        ));
        let valid_so_far = causes.is_empty();
        causes.extend(self.strategy.validate(self.kind, new, valid_so_far));
        causes
    }

    /// Commits a request's write set with the hooks' plan, every object
    /// item in it written by the request's principal. A write of a kind
    /// whose strategy names a stamp also moves it (`write_set::Stamp`).
    async fn commit(&self, mut set: WriteSet, hooks: hooks::Plan) -> Result<(), CommitError> {
        if let Some(stamp) = self.strategy.stamp() {
            set.stamp(stamp, self.strategy.answers_when_every_instance_applies());
        }
        if self.strategy.expires() {
            set.expire_object(self.server.event_expiry(self.call.request.time));
        }
        set.written_by(&self.call.request.principal.subject);
        hooks.commit(self.server, set).await
    }

    /// The error of a single write of the object's own item.
    fn write_error(&self, name: &str, err: StoreError) -> ApiError {
        match err {
            StoreError::NotFound { .. } => self.not_found(name),
            StoreError::Conflict { .. } | StoreError::TransactionConflict => self.stale(name),
            other => from_store(other),
        }
    }

    /// The error of a write set: the object gone or changed since it was
    /// read; anything else as the store says it.
    fn commit_error(&self, name: &str, err: CommitError) -> ApiError {
        match (err.refused().map(|r| (r.role, r.failure)), &err) {
            (Some((Role::Object, Failure::Missing)), _) => self.not_found(name),
            (Some((_, Failure::Changed)), _)
            | (None, CommitError::Store(StoreError::TransactionConflict)) => self.stale(name),
            _ => err.into_api(),
        }
    }
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
