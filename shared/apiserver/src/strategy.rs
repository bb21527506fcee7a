//! What a kind does beyond what the verbs do for every kind: the
//! Kubernetes apiserver's per-kind strategy (`RESTCreateStrategy`,
//! `RESTUpdateStrategy`, `RESTDeleteStrategy`) as one trait whose default
//! methods are the behaviour of a kind registered by a CRD. One strategy per
//! built-in family; [`for_kind`] is the only place that names them.
//!
//! The methods are pure: none reads or writes the store. What needs reads
//! (hierarchy placement, quota, a CRD's whole-catalog checks) is still
//! called from objects/ and moves behind this seam as the registry issue
//! (#19) goes on.

use domain::catalog::Catalog;
use domain::hierarchy;
use domain::kinds::{self, KindInfo};
use domain::object::Object;
use domain::{ApiError, Cause};
use serde_json::Value;
use store::{Context, ObjectRef, Write};

use crate::placement::is_hierarchy;
use crate::write_set::Stamp;
use crate::{context_policies, crds, namespaces, policies};

/// A kind's behaviour beyond its schema. Every method has the generic
/// kind's default; a strategy overrides what its family does.
pub trait Strategy: Sync {
    /// Runs on a body as sent (create, update, patch), once its schema
    /// pruned and defaulted it, before anything validates or admits it:
    /// Kubernetes' conversion of write-only fields. Must not refuse.
    fn prepare_body(&self, _kind: &KindInfo, _doc: &mut Value) {}

    /// The kind's own rules, after metadata and schema validation
    /// (`valid_so_far`: those found nothing). Pure; never reads.
    fn validate(&self, _kind: &KindInfo, _new: &Object, _valid_so_far: bool) -> Vec<Cause> {
        Vec::new()
    }

    /// Why users only read this kind (every write is a 405 saying so);
    /// `None`: users write it.
    fn read_only(&self) -> Option<&'static str> {
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

    /// Refuses a delete outright (an object that may never go), before
    /// anything is read for it.
    fn check_delete(&self, _context: &Context, _name: &str) -> Result<(), ApiError> {
        Ok(())
    }

    /// Whether its objects hold others that keep it from being deleted;
    /// such a delete marks, counts its children, then deletes.
    fn holds_children(&self) -> bool {
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

/// The strategy of a kind: its family's, or the generic one.
pub fn for_kind(kind: &KindInfo) -> &'static dyn Strategy {
    if is_hierarchy(kind) {
        &Hierarchy
    } else if kind.is(&kinds::NAMESPACE) {
        &Namespaces
    } else if kind.is(&kinds::SECRET) {
        &Secrets
    } else if kind.is(&kinds::CUSTOM_RESOURCE_DEFINITION) {
        &Crds
    } else if context_policies::is_policy(kind) {
        &DiscoveryContextPolicies
    } else if policies::is_admission_kind(kind) {
        &AdmissionKinds
    } else if kind.is(&kinds::EXTERNAL_RESOURCE) {
        &ExternalResources
    } else if kind.is(&domain::quota::ALLOWANCE_BUCKET) {
        &AllowanceBuckets
    } else if kind.is(&kinds::RELATIONSHIP_TYPE) {
        &RelationshipTypes
    } else if kind.is(&kinds::PROJECT_SUSPENSION) {
        &ProjectSuspensions
    } else {
        &Generic
    }
}

/// A kind registered by a CRD, and built-in kinds with no behaviour of
/// their own.
struct Generic;
impl Strategy for Generic {}

/// Organizations, folders and projects.
struct Hierarchy;
impl Strategy for Hierarchy {
    fn validate(&self, kind: &KindInfo, new: &Object, _valid_so_far: bool) -> Vec<Cause> {
        hierarchy::validate_spec(&kind.kind, new.spec())
    }

    fn prepare_for_create(&self, obj: &mut Object, now: &str) {
        obj.set_status(hierarchy::ready_status(now, 1));
    }

    fn created_with(&self, kind: &KindInfo, object: &ObjectRef, now: &str) -> Vec<Write> {
        namespaces::created_with(kind, object, now)
    }

    fn holds_children(&self) -> bool {
        true
    }
}

struct Namespaces;
impl Strategy for Namespaces {
    fn prepare_for_create(&self, obj: &mut Object, _now: &str) {
        obj.set_status(namespaces::active_status());
        let name = obj.metadata.name.clone();
        obj.metadata
            .labels
            .insert(namespaces::NAME_LABEL.into(), name);
    }

    fn check_delete(&self, context: &Context, name: &str) -> Result<(), ApiError> {
        let platform_namespace =
            matches!(context, Context::Platform) && namespaces::PLATFORM_NAMESPACES.contains(&name);
        if name == "default" || platform_namespace {
            return Err(ApiError::Forbidden {
                message: format!(
                    "namespaces \"{name}\" is forbidden: this namespace may not be deleted"
                ),
            });
        }
        Ok(())
    }

    fn holds_children(&self) -> bool {
        true
    }
}

struct Secrets;
impl Strategy for Secrets {
    fn prepare_body(&self, kind: &KindInfo, doc: &mut Value) {
        domain::core_kinds::fold_write_only_fields(kind, doc);
    }
}

struct Crds;
impl Strategy for Crds {
    fn admit_create(&self, catalog: &Catalog, obj: &mut Object, now: &str) -> Result<(), ApiError> {
        crds::prepare_create(catalog, obj, now)
    }

    fn admit_update(
        &self,
        catalog: &Catalog,
        old: &Object,
        new: &mut Object,
        now: &str,
    ) -> Result<(), ApiError> {
        crds::prepare_update(catalog, old, new, now)
    }

    fn stamp(&self) -> Option<Stamp> {
        Some(Stamp::Catalog)
    }
}

struct DiscoveryContextPolicies;
impl Strategy for DiscoveryContextPolicies {
    fn admit_create(&self, _: &Catalog, obj: &mut Object, _: &str) -> Result<(), ApiError> {
        context_policies::check(obj)
    }

    fn admit_update(
        &self,
        _: &Catalog,
        _: &Object,
        new: &mut Object,
        _: &str,
    ) -> Result<(), ApiError> {
        context_policies::check(new)
    }

    fn stamp(&self) -> Option<Stamp> {
        Some(Stamp::Catalog)
    }

    fn answers_when_every_instance_applies(&self) -> bool {
        true
    }
}

/// The four admission kinds: policies and their bindings.
struct AdmissionKinds;
impl Strategy for AdmissionKinds {
    fn stamp(&self) -> Option<Stamp> {
        Some(Stamp::Admission)
    }
}

/// Other services' resources, as their lifecycle events report them.
struct ExternalResources;
impl Strategy for ExternalResources {
    fn read_only(&self) -> Option<&'static str> {
        Some("they are maintained by the events function from the lifecycle events other services publish")
    }
}

struct AllowanceBuckets;
impl Strategy for AllowanceBuckets {
    fn read_only(&self) -> Option<&'static str> {
        Some("the system keeps them from ResourceGrants and ResourceClaims")
    }
}

struct RelationshipTypes;
impl Strategy for RelationshipTypes {
    fn validate(&self, _kind: &KindInfo, new: &Object, valid_so_far: bool) -> Vec<Cause> {
        // Its rules read a spec the schema has passed.
        if !valid_so_far {
            return Vec::new();
        }
        domain::ingest::RelationshipType::admit(&new.metadata.name, new.spec())
    }
}

struct ProjectSuspensions;
impl Strategy for ProjectSuspensions {
    fn prepare_for_create(&self, obj: &mut Object, _now: &str) {
        obj.set_status(domain::suspension::created_status());
    }
}

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
        for id in [
            kinds::SECRET,
            kinds::RELATIONSHIP_TYPE,
            kinds::PROJECT_SUSPENSION,
        ] {
            assert_eq!(answers(&id), (false, None, false), "{}", id.kind);
        }
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
        let platform = Context::Platform;
        let project = Context::Project("web".into());
        assert!(Namespaces.check_delete(&platform, "milo-system").is_err());
        assert!(Namespaces.check_delete(&project, "default").is_err());
        assert!(Namespaces.check_delete(&project, "milo-system").is_ok());
        assert!(Namespaces.check_delete(&platform, "team-a").is_ok());
        assert!(Generic.check_delete(&platform, "default").is_ok());
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
        Namespaces.prepare_for_create(&mut namespace, "2026-01-01T00:00:00Z");
        assert_eq!(namespace.status()["phase"], "Active");
        assert_eq!(namespace.metadata.labels[namespaces::NAME_LABEL], "team-a");
        let mut widget = Object::default();
        Generic.prepare_for_create(&mut widget, "2026-01-01T00:00:00Z");
        assert!(widget.status().is_null());
    }
}
