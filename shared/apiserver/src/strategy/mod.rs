//! What a kind does beyond what the verbs do for every kind: the
//! Kubernetes apiserver's per-kind strategy (`RESTCreateStrategy`,
//! `RESTUpdateStrategy`, `RESTDeleteStrategy`) as one trait whose default
//! methods are the behaviour of a kind registered by a CRD. One strategy per
//! built-in family, each in a module of its own; [`for_kind`] is the only
//! place that names them, and the verbs (objects/) name no kind.
//!
//! Most methods are pure. The few that read (a hierarchy object's
//! placement, a CRD's delete guard, a binding's status) take a
//! [`StrategyContext`] and return a boxed future, so the trait stays one
//! object per kind.

mod admission_kinds;
mod catalog_kinds;
mod core_kinds;
mod events;
mod hierarchy;
mod iam_kinds;
mod liens;
mod memberships;
mod predeletion_hooks;
mod records;
mod system_kinds;
mod users;

pub use records::refuse_if_context_suspended;

use domain::catalog::Catalog;
use domain::hierarchy::ParentRef;
use domain::kinds::{self, KindInfo};
use domain::object::Object;
use domain::{ApiError, Cause};
use futures_util::future::BoxFuture;
use serde_json::Value;
use store::{Context, ObjectRef, Stored, Write};

use crate::hierarchy_reads::Link;
use crate::placement::{is_hierarchy_kind, Container};
use crate::request::RequestInfo;
use crate::write_set::Stamp;
use crate::ApiServer;

/// What a strategy's reads go through: the server, the catalog the
/// request resolved its kind in, and the request.
pub struct StrategyContext<'a> {
    pub server: &'a ApiServer,
    pub catalog: &'a Catalog,
    pub context: &'a Context,
    pub kind: &'a KindInfo,
    pub request: &'a RequestInfo,
    /// Where a strategy leaves what a person should see (recorder.rs).
    pub notices: &'a crate::recorder::Notices,
}

/// What becomes of an object when the object that contains it is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildFate {
    /// It keeps its container from being deleted.
    Blocks,
    /// It goes with its container (a record about it).
    GoesWith,
    /// It goes with its container when it holds nothing itself (a
    /// namespace); else it blocks.
    GoesWithIfEmpty,
}

/// A future a strategy returns from a method that reads.
pub type Reads<'a, T> = BoxFuture<'a, Result<T, ApiError>>;

/// A kind's behaviour beyond its schema. Every method has the generic
/// kind's default; a strategy overrides what its family does.
pub trait Strategy: Sync {
    /// Runs on a body as sent (create, update, patch), once its schema
    /// pruned and defaulted it, before anything validates or admits it:
    /// Kubernetes' conversion of write-only fields. Must not refuse.
    fn prepare_body(&self, _kind: &KindInfo, _doc: &mut Value) {}

    /// Runs on a create's body as sent, before anything else: the fields
    /// a context lets a client leave out (a folder or project created in
    /// an organization's context sits under it). Must not refuse.
    fn default_on_create(&self, _kind: &KindInfo, _context: &Context, _doc: &mut Value) {}

    /// The kind's own rules, after metadata and schema validation
    /// (`valid_so_far`: those found nothing). Pure; never reads.
    fn validate(&self, _kind: &KindInfo, _new: &Object, _valid_so_far: bool) -> Vec<Cause> {
        Vec::new()
    }

    /// Makes a stored item's document the object every read serves: as
    /// stored, or (a kind whose item keeps numbers beside its document)
    /// with them folded in. In place, so the common case copies nothing.
    fn present_stored(&self, _stored: &mut Stored) {}

    /// Why users only read this kind (every write is a 405 saying so);
    /// `None`: users write it.
    fn read_only(&self) -> Option<&'static str> {
        None
    }

    /// Whether its objects are contained by their context's organization
    /// or project (checked live in their create, keeping it from being
    /// deleted); a kind placed under a parent is contained by the parent.
    fn contained_by_context(&self) -> bool {
        true
    }

    /// Whether admission policies leave its objects alone (policies and
    /// bindings: a bad policy cannot block its own repair).
    fn exempt_from_admission(&self) -> bool {
        false
    }

    /// The parent an object names, for a kind placed under a parent.
    fn parent_of(&self, _kind: &KindInfo, _obj: &Object) -> Option<ParentRef> {
        None
    }

    /// The field that names the parent, as a cause names it.
    fn parent_field(&self, _kind: &KindInfo) -> String {
        "spec.parentRef".into()
    }

    /// Reads and checks where an object sits under the parent it names
    /// (create, or an update that moves it; `current` is the stored
    /// object's ref and parent), sets what records it, and returns the
    /// chain read, parent first, for the write to guard. Empty: the kind
    /// has no parent, or the object names none.
    fn place<'a>(
        &'a self,
        _cx: &'a StrategyContext<'a>,
        _obj: &'a mut Object,
        _current: Option<(&'a ObjectRef, Option<ParentRef>)>,
    ) -> Reads<'a, Vec<Link>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    /// On an update that does not move the object (and after a mutation),
    /// what the server set when it placed it stays as it was.
    fn keep_placement(&self, _old: &Object, _new: &mut Object) {}

    /// The organization an object in the platform context belongs to, as
    /// admission's context labels name it.
    fn organization_of(
        &self,
        _kind: &KindInfo,
        _name: &str,
        _obj: Option<&Value>,
    ) -> Option<String> {
        None
    }

    /// A create's kind-wide checks and what they fill in, once mutating
    /// admission has had its say and before the server's own fields are
    /// set: a CRD's whole-catalog checks and its status, a
    /// DiscoveryContextPolicy's rules. Reads only the catalog given.
    fn admit_create(
        &self,
        _catalog: &Catalog,
        _obj: &mut Object,
        _now: &str,
    ) -> Result<(), ApiError> {
        Ok(())
    }

    /// [`Self::admit_create`] for an update of the main resource (a
    /// `/status` write skips it).
    fn admit_update(
        &self,
        _catalog: &Catalog,
        _old: &Object,
        _new: &mut Object,
        _now: &str,
    ) -> Result<(), ApiError> {
        Ok(())
    }

    /// After [`Self::admit_create`] or [`Self::admit_update`], what needs
    /// reads: an admission kind compiled, a binding's status against the
    /// freshest policies. `previous` is the stored status (null on create).
    fn admit_with_reads<'a>(
        &'a self,
        _cx: &'a StrategyContext<'a>,
        _obj: &'a mut Object,
        _previous: &'a Value,
    ) -> Reads<'a, ()> {
        Box::pin(async { Ok(()) })
    }

    /// What the server sets on a new object once it is admitted and about
    /// to be stored: the status it starts with, system labels. Runs after
    /// mutating admission (a policy cannot forge it).
    fn prepare_for_create(&self, _obj: &mut Object, _now: &str) {}

    /// The writes that go into a create's transaction beside the object,
    /// planned as data: the namespaces a project or organization starts
    /// with. Pure; never reads.
    fn created_with(&self, _kind: &KindInfo, _object: &ObjectRef, _now: &str) -> Vec<Write> {
        Vec::new()
    }

    /// The writes that go into an update's transaction beside the object,
    /// planned as data (a hook whose spec changed, queued for the gc
    /// again). Pure; never reads.
    fn updated_with(&self, _object: &ObjectRef, _old: &Object, _new: &Object) -> Vec<Write> {
        Vec::new()
    }

    /// The object whose status tracks this one (a record about it, which
    /// contains it): written, not only checked, in the same transaction.
    fn tracked_by(&self, _obj: &Object) -> Option<Container> {
        None
    }

    /// The tracking object's new status, with this object (`doc`) added
    /// (`present`) or taken out.
    fn tracking_status(&self, status: &Value, _doc: &Value, _now: &str, _present: bool) -> Value {
        status.clone()
    }

    /// What may refuse a delete outright (an object that may never go, a
    /// type still in use), read before anything is written for it; None
    /// for a kind with no such rule, whose objects a container's cascade
    /// may then delete in bulk.
    fn check_delete<'a>(
        &'a self,
        _cx: &'a StrategyContext<'a>,
        _old: &'a Object,
    ) -> Option<Reads<'a, ()>> {
        None
    }

    /// What a delete that leaves an object Terminating sets besides its
    /// metadata (a namespace's phase). Pure.
    fn terminating(&self, _obj: &mut Object) {}

    /// The finalizer the platform puts on the kind's objects at create and
    /// takes off, by the gc function, once [`Self::finalized_with`]'s
    /// objects are gone (Milo's controllers' finalizers).
    fn platform_finalizer(&self) -> Option<&'static str> {
        None
    }

    /// What the gc deletes before it takes the platform's finalizer off a
    /// Terminating object (a User's memberships). Reads only.
    fn finalized_with<'a>(
        &'a self,
        _cx: &'a StrategyContext<'a>,
        _obj: &'a Object,
    ) -> Reads<'a, Vec<ObjectRef>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    /// Whether its objects hold others that keep it from being deleted;
    /// such a delete marks, counts its children, then deletes, or leaves
    /// it Terminating while the gc function deletes them.
    fn holds_children(&self) -> bool {
        false
    }

    /// What becomes of objects of this kind when their container goes.
    fn when_container_deleted(&self) -> ChildFate {
        ChildFate::Blocks
    }

    /// Whether its labels get index items (a label-selected list reads
    /// them); without, its lists read the partition and filter.
    fn labels_indexed(&self) -> bool {
        true
    }

    /// Whether its objects are kept only for the event retention
    /// (`ApiServer::event_retention`): written with the table's TTL
    /// attribute, gone to every read once it passes.
    fn expires(&self) -> bool {
        false
    }

    /// The stamp a committed write of this kind moves.
    fn stamp(&self) -> Option<Stamp> {
        None
    }

    /// Whether a write answers only once every instance applies it (the
    /// writer's next request may land on any instance).
    fn answers_when_every_instance_applies(&self) -> bool {
        false
    }
}

/// Whether an object goes, in a container's cascade, with nothing done
/// for it by its kind: no rule may refuse its delete, it is writable, no
/// status tracks it, it holds no children, no parent indexes it, and its
/// delete moves no stamp (objects/bulk_delete.rs).
pub(crate) fn deletes_alone(
    strategy: &dyn Strategy,
    cx: &StrategyContext<'_>,
    obj: &Object,
) -> bool {
    strategy.check_delete(cx, obj).is_none()
        && strategy.read_only().is_none()
        && strategy.tracked_by(obj).is_none()
        && !strategy.holds_children()
        && strategy.parent_of(cx.kind, obj).is_none()
        && strategy.stamp().is_none()
}

/// The strategy of a kind: its family's, or the generic one.
pub fn for_kind(kind: &KindInfo) -> &'static dyn Strategy {
    for_group_kind(&kind.group, &kind.kind)
}

/// [`for_kind`] by group and kind (an object known by its ref).
pub fn for_group_kind(group: &str, kind: &str) -> &'static dyn Strategy {
    let is = |id: &kinds::KindId| id.group == group && id.kind == kind;
    if is_hierarchy_kind(group, kind) {
        &hierarchy::Hierarchy
    } else if is(&kinds::NAMESPACE) {
        &core_kinds::Namespaces
    } else if is(&kinds::SECRET) {
        &core_kinds::Secrets
    } else if kinds::EVENT_KINDS.iter().any(is) {
        &events::Events
    } else if is(&kinds::CUSTOM_RESOURCE_DEFINITION) {
        &catalog_kinds::Crds
    } else if is(&kinds::DISCOVERY_CONTEXT_POLICY) {
        &catalog_kinds::DiscoveryContextPolicies
    } else if kinds::ADMISSION_KINDS.iter().any(is) {
        &admission_kinds::AdmissionKinds
    } else if is(&kinds::EXTERNAL_RESOURCE) {
        &system_kinds::ExternalResources
    } else if is(&domain::quota::ALLOWANCE_BUCKET) {
        &system_kinds::AllowanceBuckets
    } else if is(&domain::quota::RESOURCE_CLAIM) {
        &system_kinds::ResourceClaims
    } else if is(&kinds::RELATIONSHIP_TYPE) {
        &system_kinds::RelationshipTypes
    } else if crate::authorization::iam_cache::policy_kind(group, kind).is_some() {
        &iam_kinds::IamKinds
    } else if is(&kinds::USER) {
        &users::Users
    } else if is(&kinds::ORGANIZATION_MEMBERSHIP) {
        &memberships::Memberships
    } else if is(&kinds::PROJECT_SUSPENSION) {
        &records::ProjectSuspensions
    } else if is(&kinds::LIEN) {
        &liens::Liens
    } else if is(&kinds::PRE_DELETION_HOOK) {
        &predeletion_hooks::PreDeletionHooks
    } else {
        &Generic
    }
}

/// A kind registered by a CRD, and built-in kinds with no behaviour of
/// their own.
struct Generic;
impl Strategy for Generic {}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each built-in kind with its family's answers to the questions the
    /// verbs ask: (holds children, stamp, waits for every instance).
    #[test]
    fn each_builtin_kind_gets_its_familys_strategy() {
        let catalog = Catalog::builtin().unwrap();
        let answers = |id: &kinds::KindId| {
            let kind = catalog.kind(id).unwrap();
            let s = for_kind(&kind);
            (
                s.holds_children(),
                s.stamp(),
                s.answers_when_every_instance_applies(),
            )
        };
        for id in [
            kinds::ORGANIZATION,
            kinds::FOLDER,
            kinds::PROJECT,
            kinds::NAMESPACE,
        ] {
            assert_eq!(answers(&id), (true, None, false), "{}", id.kind);
        }
        assert_eq!(
            answers(&kinds::CUSTOM_RESOURCE_DEFINITION),
            (false, Some(Stamp::Catalog), false)
        );
        assert_eq!(
            answers(&domain::kinds::DISCOVERY_CONTEXT_POLICY),
            (false, Some(Stamp::Catalog), true)
        );
        for id in kinds::ADMISSION_KINDS {
            assert_eq!(
                answers(&id),
                (false, Some(Stamp::Admission), false),
                "{}",
                id.kind
            );
        }
        // What decides who may do what answers once every instance
        // decides with it (#20).
        for id in [
            kinds::IAM_ROLE,
            kinds::POLICY_BINDING,
            kinds::GROUP_MEMBERSHIP,
            kinds::RBAC_ROLE,
            kinds::RBAC_CLUSTER_ROLE,
            kinds::RBAC_ROLE_BINDING,
            kinds::RBAC_CLUSTER_ROLE_BINDING,
            kinds::ORGANIZATION_MEMBERSHIP,
        ] {
            assert_eq!(answers(&id), (false, Some(Stamp::Iam), true), "{}", id.kind);
        }
        // A create on any instance after a hook's write is held by it.
        assert_eq!(
            answers(&kinds::PRE_DELETION_HOOK),
            (false, Some(Stamp::PreDeletion), true)
        );
        for id in [
            kinds::SECRET,
            kinds::RELATIONSHIP_TYPE,
            kinds::PROJECT_SUSPENSION,
            kinds::USER,
            kinds::GROUP,
        ] {
            assert_eq!(answers(&id), (false, None, false), "{}", id.kind);
        }
    }

    #[test]
    fn what_goes_with_a_container_and_what_keeps_it() {
        let catalog = Catalog::builtin().unwrap();
        let fate = |id: &kinds::KindId| for_group_kind(id.group, id.kind).when_container_deleted();
        assert_eq!(fate(&kinds::NAMESPACE), ChildFate::GoesWithIfEmpty);
        assert_eq!(fate(&kinds::PROJECT_SUSPENSION), ChildFate::GoesWith);
        for id in [kinds::PROJECT, kinds::FOLDER, kinds::SECRET] {
            assert_eq!(fate(&id), ChildFate::Blocks, "{}", id.kind);
        }
        let suspension = Object::from_value(serde_json::json!({
            "metadata": {"name": "s"},
            "spec": {"projectRef": {"name": "web"}, "reason": "billing"}
        }))
        .unwrap();
        let tracker = records::ProjectSuspensions.tracked_by(&suspension).unwrap();
        assert_eq!(tracker.describe(), "project \"web\"");
        assert_eq!(Generic.tracked_by(&suspension), None);
        let hierarchy = for_kind(&catalog.kind(&kinds::FOLDER).unwrap());
        assert!(!hierarchy.contained_by_context());
        assert!(Generic.contained_by_context());
        let claims = for_kind(&catalog.kind(&domain::quota::RESOURCE_CLAIM).unwrap());
        assert!(!claims.labels_indexed() && Generic.labels_indexed());
    }

    #[test]
    fn users_only_read_what_the_system_keeps() {
        let catalog = Catalog::builtin().unwrap();
        let read_only = |id: &kinds::KindId| for_kind(&catalog.kind(id).unwrap()).read_only();
        assert!(read_only(&kinds::EXTERNAL_RESOURCE).is_some());
        assert!(read_only(&domain::quota::ALLOWANCE_BUCKET).is_some());
        for id in [kinds::PROJECT, kinds::SECRET, domain::quota::RESOURCE_CLAIM] {
            assert_eq!(read_only(&id), None, "{}", id.kind);
        }
    }

    #[test]
    fn only_the_contexts_own_namespaces_refuse_their_delete() {
        let refuse = core_kinds::refuse_delete;
        let platform = Context::Platform;
        let project = Context::Project("web".into());
        assert!(refuse(&platform, "milo-system").is_err());
        assert!(refuse(&project, "default").is_err());
        assert!(refuse(&project, "milo-system").is_ok());
        assert!(refuse(&platform, "team-a").is_ok());
    }

    #[test]
    fn a_project_is_created_with_its_namespace_and_a_folder_or_widget_alone() {
        let catalog = Catalog::builtin().unwrap();
        let created = |id: &kinds::KindId| {
            let kind = catalog.kind(id).unwrap();
            let object = crate::placement::object_ref(&Context::Platform, &kind, "", "p");
            for_kind(&kind).created_with(&kind, &object, "2026-01-01T00:00:00Z")
        };
        assert!(!created(&kinds::PROJECT).is_empty());
        assert!(!created(&kinds::ORGANIZATION).is_empty());
        assert!(created(&kinds::FOLDER).is_empty());
        assert!(created(&kinds::SECRET).is_empty());
    }

    #[test]
    fn the_server_sets_a_new_objects_starting_status() {
        let mut namespace = Object::default();
        namespace.metadata.name = "team-a".into();
        core_kinds::Namespaces.prepare_for_create(&mut namespace, "2026-01-01T00:00:00Z");
        assert_eq!(namespace.status()["phase"], "Active");
        assert_eq!(
            namespace.metadata.labels[crate::namespaces::NAME_LABEL],
            "team-a"
        );
        let mut widget = Object::default();
        Generic.prepare_for_create(&mut widget, "2026-01-01T00:00:00Z");
        assert!(widget.status().is_null());
    }
}
