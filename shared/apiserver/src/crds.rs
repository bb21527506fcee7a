//! What registering a type adds to the writes of a CustomResourceDefinition:
//! the whole CRD is checked (domain::crd), its status says whether its names
//! were accepted, updates may not strand stored objects, and a CRD with
//! objects is not deleted. Every CRD write also moves the catalog stamp.

use domain::catalog::Catalog;
use domain::crd::{self, ResourceType};
use domain::object::Object;
use domain::ApiError;
use store::Write;

use crate::catalog_cache;
use crate::errors::from_store;
use crate::ApiServer;

const PLURAL: &str = "customresourcedefinitions";

/// The write that tells every instance the catalog changed.
pub fn stamp() -> Write {
    Write::stamp(catalog_cache::stamp_key())
}

fn refuse_builtin(name: &str) -> Result<(), ApiError> {
    if domain::builtin::is_builtin(name) {
        return Err(ApiError::Forbidden {
            message: format!(
                "customresourcedefinitions \"{name}\" is a built-in type of this platform; it cannot be registered, changed or deleted"
            ),
        });
    }
    Ok(())
}

fn parse(obj: &Object) -> Result<ResourceType, ApiError> {
    crd::parse(&obj.to_value())
        .map_err(|causes| ApiError::invalid(crd::GROUP, PLURAL, &obj.metadata.name, causes))
}

/// The other types this one's names must not clash with.
fn others<'a>(catalog: &'a Catalog, name: &str) -> Vec<&'a ResourceType> {
    catalog
        .types()
        .iter()
        .map(|t| t.as_ref())
        .filter(|t| t.name != name)
        .collect()
}

/// Checks a new CRD and sets its status (names accepted or the clash).
pub fn prepare_create(catalog: &Catalog, obj: &mut Object, now: &str) -> Result<(), ApiError> {
    refuse_builtin(&obj.metadata.name)?;
    let rt = parse(obj)?;
    let conflict = crd::name_conflict(&rt, &others(catalog, &rt.name));
    let stored = crd::stored_versions(None, &rt);
    obj.set_status(crd::status(&rt, conflict.as_ref(), &stored, now));
    Ok(())
}

/// Checks a CRD change against the stored one and recomputes its status.
pub fn prepare_update(
    catalog: &Catalog,
    old: &Object,
    new: &mut Object,
    now: &str,
) -> Result<(), ApiError> {
    refuse_builtin(&new.metadata.name)?;
    let rt = parse(new)?;
    let stored = crd::stored_versions(Some(old.status()), &rt);
    // The old CRD's status records its storage version with the rest.
    let old_stored = crd::recorded_stored_versions(Some(old.status()));
    let causes = crd::check_update(&old.to_value(), &new.to_value(), &old_stored);
    if !causes.is_empty() {
        return Err(ApiError::invalid(
            crd::GROUP,
            PLURAL,
            &new.metadata.name,
            causes,
        ));
    }
    let conflict = crd::name_conflict(&rt, &others(catalog, &rt.name));
    new.set_status(crd::status(&rt, conflict.as_ref(), &stored, now));
    Ok(())
}

/// A type's CRD is not deleted while objects of the type exist (until
/// cascading deletion arrives).
pub async fn check_delete(
    server: &ApiServer,
    catalog: &Catalog,
    old: &Object,
) -> Result<(), ApiError> {
    refuse_builtin(&old.metadata.name)?;
    // A CRD whose names were refused never served objects; the kind's
    // objects, if any, belong to the type that holds the names.
    let Some(rt) = catalog.type_named(&old.metadata.name) else {
        return Ok(());
    };
    let count = server
        .store
        .count_of_type(&rt.group, &rt.kind)
        .await
        .map_err(from_store)?;
    if count > 0 {
        return Err(ApiError::Conflict {
            group: crd::GROUP.into(),
            kind: PLURAL.into(),
            name: old.metadata.name.clone(),
            message: format!(
                "customresourcedefinitions \"{}\" still has {count} object{} of kind {}; delete them first",
                old.metadata.name,
                if count == 1 { "" } else { "s" },
                rt.kind
            ),
        });
    }
    Ok(())
}
