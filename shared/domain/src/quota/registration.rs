//! ResourceRegistration (platform, cluster-scoped): what a resource type is
//! measured in, who consumes it and which kinds may claim it.

use serde_json::Value;

use super::read::{
    bounded_array, check_api_group, check_length, name_and_generation, optional_string,
    required_string, spec, unsupported,
};
use super::refs::NodeKind;
use crate::crd::fields::{supported_values, Field, Reader};
use crate::Cause;

/// How a registration measures (`spec.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeasurementType {
    /// Counts instances (projects, users).
    Entity,
    /// Measures an amount (millicores, bytes).
    Allocation,
    /// An on/off entitlement: granted, never claimed.
    Feature,
}

impl MeasurementType {
    const NAMES: [&'static str; 3] = ["Entity", "Allocation", "Feature"];

    fn parse(value: &str) -> Option<MeasurementType> {
        match value {
            "Entity" => Some(MeasurementType::Entity),
            "Allocation" => Some(MeasurementType::Allocation),
            "Feature" => Some(MeasurementType::Feature),
            _ => None,
        }
    }
}

/// A kind allowed to claim the resource type (`spec.claimingResources[]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimingResource {
    pub api_group: String,
    pub kind: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ResourceRegistration {
    pub name: String,
    pub generation: i64,
    /// The kind claims are made against (`spec.consumerType`).
    pub consumer_type: NodeKind,
    pub measurement: MeasurementType,
    pub resource_type: String,
    pub description: String,
    pub base_unit: String,
    pub display_unit: String,
    pub unit_conversion_factor: i64,
    pub claiming_resources: Vec<ClaimingResource>,
}

impl ResourceRegistration {
    /// Whether objects of `api_group`/`kind` may claim this resource type.
    pub fn may_be_claimed_by(&self, api_group: &str, kind: &str) -> bool {
        self.claiming_resources
            .iter()
            .any(|c| c.api_group == api_group && c.kind == kind)
    }
}

pub const MAX_CLAIMING_RESOURCES: usize = 20;
pub const MAX_DESCRIPTION: usize = 500;
pub const MAX_UNIT: usize = 50;
pub const MAX_RESOURCE_TYPE: usize = 253;

/// Parses and checks a ResourceRegistration document.
pub fn parse_registration(doc: &Value) -> Result<ResourceRegistration, Vec<Cause>> {
    let mut r = Reader::default();
    let root = Field::root(doc);
    let spec = spec(&mut r, &root);
    let (name, generation) = name_and_generation(doc);

    let consumer_type = read_consumer_type(&mut r, &spec.get("consumerType"));
    let type_field = spec.get("type");
    let measurement = required_string(&mut r, &type_field).and_then(|t| {
        let parsed = MeasurementType::parse(&t);
        if parsed.is_none() {
            r.push(unsupported(
                &type_field.path,
                &t,
                &supported_values(&MeasurementType::NAMES),
            ));
        }
        parsed
    });
    let resource_type = read_resource_type(&mut r, &spec.get("resourceType"));
    let description_field = spec.get("description");
    let description = optional_string(&mut r, &description_field);
    if description_field.is_present() {
        check_length(&mut r, &description_field, &description, 1, MAX_DESCRIPTION);
    }
    let base_unit = read_unit(&mut r, &spec.get("baseUnit"));
    let display_unit = read_unit(&mut r, &spec.get("displayUnit"));
    let factor_field = spec.get("unitConversionFactor");
    let unit_conversion_factor = if factor_field.is_present() {
        r.integer(&factor_field).and_then(|f| {
            if f < 1 {
                r.push(Cause::invalid(
                    &factor_field.path,
                    format!("Invalid value: {f}: must be greater than or equal to 1"),
                ));
                return None;
            }
            Some(f)
        })
    } else {
        r.push(Cause::required(&factor_field.path));
        None
    };
    let claiming_resources = read_claiming_resources(&mut r, &spec.get("claimingResources"));

    if !r.causes.is_empty() {
        return Err(r.causes);
    }
    match (
        consumer_type,
        measurement,
        resource_type,
        base_unit,
        display_unit,
        unit_conversion_factor,
    ) {
        (
            Some(consumer_type),
            Some(measurement),
            Some(resource_type),
            Some(base_unit),
            Some(display_unit),
            Some(unit_conversion_factor),
        ) => Ok(ResourceRegistration {
            name,
            generation,
            consumer_type,
            measurement,
            resource_type,
            description,
            base_unit,
            display_unit,
            unit_conversion_factor,
            claiming_resources,
        }),
        // Every missing part pushed a cause above.
        _ => Err(vec![Cause::invalid("spec", "incomplete registration")]),
    }
}

/// An update may change the description, units and claiming resources,
/// never what the registration counts: resourceType, consumerType and type
/// (grants and claims already refer to them). The CRD says the same in
/// CEL; this is the check for code paths that bypass the schema.
pub fn check_registration_update(
    old: &ResourceRegistration,
    new: &ResourceRegistration,
) -> Vec<Cause> {
    let mut causes = Vec::new();
    let mut immutable = |field: &str, changed: bool| {
        if changed {
            causes.push(Cause::invalid(field, format!("{field} is immutable")));
        }
    };
    immutable("spec.resourceType", old.resource_type != new.resource_type);
    immutable("spec.consumerType", old.consumer_type != new.consumer_type);
    immutable("spec.type", old.measurement != new.measurement);
    causes
}

/// A resource type is registered once: a second registration of it (another
/// name) is refused, as Milo refuses it ("already registered"), since grants
/// and claims name the type and could not tell the two apart. `existing`
/// is every stored registration; the one being updated (same name) is not
/// a rival.
pub fn check_registration_unique(
    registration: &ResourceRegistration,
    existing: &[ResourceRegistration],
) -> Vec<Cause> {
    existing
        .iter()
        .filter(|other| {
            other.name != registration.name && other.resource_type == registration.resource_type
        })
        .map(|other| Cause {
            reason: "FieldValueDuplicate".into(),
            field: "spec.resourceType".into(),
            message: format!(
                "Duplicate value: {:?}: resource type is already registered by ResourceRegistration {:?}",
                registration.resource_type, other.name
            ),
        })
        .take(1)
        .collect()
}

fn read_consumer_type(r: &mut Reader, field: &Field) -> Option<NodeKind> {
    if !field.is_present() {
        r.push(Cause::required(&field.path));
        return None;
    }
    if !r.object(field) {
        return None;
    }
    let group = required_string(r, &field.get("apiGroup"));
    let kind = required_string(r, &field.get("kind"));
    let (group, kind) = (group?, kind?);
    let node = NodeKind::of(&group, &kind);
    if node.is_none() {
        // Consumers must be hierarchy nodes: only those have the buckets
        // claims count against (Milo also allows e.g. users).
        r.push(unsupported(
            &field.path,
            &format!("{group}/{kind}"),
            "quota consumers are resourcemanager.miloapis.com Organization, Folder or Project",
        ));
    }
    node
}

pub(crate) fn read_resource_type(r: &mut Reader, field: &Field) -> Option<String> {
    let value = required_string(r, field)?;
    let before = r.causes.len();
    check_length(r, field, &value, 1, MAX_RESOURCE_TYPE);
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        r.push(Cause::invalid(
            &field.path,
            format!("Invalid value: {value:?}: must not contain whitespace"),
        ));
    }
    (r.causes.len() == before).then_some(value)
}

fn read_unit(r: &mut Reader, field: &Field) -> Option<String> {
    let value = required_string(r, field)?;
    let before = r.causes.len();
    check_length(r, field, &value, 1, MAX_UNIT);
    if value.trim() != value {
        r.push(Cause::invalid(
            &field.path,
            format!("Invalid value: {value:?}: must not start or end with whitespace"),
        ));
    }
    (r.causes.len() == before).then_some(value)
}

fn read_claiming_resources(r: &mut Reader, field: &Field) -> Vec<ClaimingResource> {
    let mut out: Vec<ClaimingResource> = Vec::new();
    for item in bounded_array(r, field, 1, MAX_CLAIMING_RESOURCES) {
        if !r.object_item(&item) {
            continue;
        }
        let group_field = item.get("apiGroup");
        let api_group = optional_string(r, &group_field);
        check_api_group(r, &group_field, &api_group);
        let kind_field = item.get("kind");
        let Some(kind) = required_string(r, &kind_field) else {
            continue;
        };
        check_length(r, &kind_field, &kind, 1, 63);
        let resource = ClaimingResource { api_group, kind };
        if out.contains(&resource) {
            // Milo's words, which its clients and suites match on.
            let shown = format!("{}/{}", resource.api_group, resource.kind);
            r.push(Cause {
                reason: "FieldValueDuplicate".into(),
                message: format!("Duplicate value: {shown:?}: duplicate claiming resource"),
                field: item.path.clone(),
            });
            continue;
        }
        out.push(resource);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scenario() -> Value {
        // As Milo's quota-core-functionality scenario registers projects.
        json!({
            "apiVersion": "quota.miloapis.com/v1alpha1",
            "kind": "ResourceRegistration",
            "metadata": {"name": "core-test-projects-per-org"},
            "spec": {
                "consumerType": {"apiGroup": "resourcemanager.miloapis.com", "kind": "Organization"},
                "type": "Entity",
                "resourceType": "test.corefunction.miloapis.com/projects",
                "description": "Core functionality test quota for maximum projects per organization",
                "baseUnit": "project",
                "displayUnit": "projects",
                "unitConversionFactor": 1,
                "claimingResources": [{"apiGroup": "resourcemanager.miloapis.com", "kind": "Project"}]
            }
        })
    }

    fn causes_of(mut doc: Value, pointer: &str, value: Value) -> Vec<Cause> {
        match doc.pointer_mut(pointer) {
            Some(slot) => *slot = value,
            None => panic!("no {pointer}"),
        }
        parse_registration(&doc).unwrap_err()
    }

    #[test]
    fn milo_scenario_registration_parses() {
        let reg = parse_registration(&scenario()).unwrap();
        assert_eq!(reg.consumer_type, NodeKind::Organization);
        assert_eq!(reg.measurement, MeasurementType::Entity);
        assert_eq!(reg.resource_type, "test.corefunction.miloapis.com/projects");
        assert!(reg.may_be_claimed_by("resourcemanager.miloapis.com", "Project"));
        assert!(!reg.may_be_claimed_by("resourcemanager.miloapis.com", "Folder"));
    }

    #[test]
    fn unknown_type_enum_is_unsupported_at_its_path() {
        let causes = causes_of(scenario(), "/spec/type", json!("Counter"));
        assert_eq!(causes[0].field, "spec.type");
        assert_eq!(causes[0].reason, "FieldValueNotSupported");
        assert!(causes[0]
            .message
            .contains("\"Entity\", \"Allocation\", \"Feature\""));
    }

    #[test]
    fn bad_units_are_refused() {
        let causes = causes_of(scenario(), "/spec/baseUnit", json!(""));
        assert_eq!(causes[0].field, "spec.baseUnit");
        let causes = causes_of(scenario(), "/spec/displayUnit", json!("x".repeat(51)));
        assert_eq!(causes[0].field, "spec.displayUnit");
        let causes = causes_of(scenario(), "/spec/displayUnit", json!(" cores"));
        assert!(causes[0].message.contains("whitespace"));
        let causes = causes_of(scenario(), "/spec/unitConversionFactor", json!(0));
        assert_eq!(causes[0].field, "spec.unitConversionFactor");
        let causes = causes_of(scenario(), "/spec/unitConversionFactor", json!("1000"));
        assert!(causes[0].message.contains("integer"));
    }

    #[test]
    fn consumers_are_hierarchy_kinds() {
        let causes = causes_of(
            scenario(),
            "/spec/consumerType",
            json!({"apiGroup": "iam.miloapis.com", "kind": "User"}),
        );
        assert_eq!(causes[0].field, "spec.consumerType");
        let causes = causes_of(
            scenario(),
            "/spec/consumerType",
            json!({"kind": "Organization"}),
        );
        assert_eq!(causes[0].field, "spec.consumerType.apiGroup");
    }

    #[test]
    fn claiming_resources_are_bounded_and_distinct() {
        let causes = causes_of(scenario(), "/spec/claimingResources", json!([]));
        assert_eq!(causes[0].field, "spec.claimingResources");
        let many: Vec<Value> = (0..21).map(|i| json!({"kind": format!("K{i}")})).collect();
        let causes = causes_of(scenario(), "/spec/claimingResources", json!(many));
        assert_eq!(causes[0].reason, "FieldValueTooMany");
        let causes = causes_of(
            scenario(),
            "/spec/claimingResources",
            json!([{"kind": "Project"}, {"kind": "Project"}]),
        );
        assert_eq!(causes[0].field, "spec.claimingResources[1]");
        assert!(causes[0].message.contains("duplicate claiming resource"));
        let causes = causes_of(
            scenario(),
            "/spec/claimingResources",
            json!([{"apiGroup": "x"}]),
        );
        assert_eq!(causes[0].field, "spec.claimingResources[0].kind");
    }

    #[test]
    fn what_a_registration_counts_is_immutable() {
        let old = parse_registration(&scenario()).unwrap();
        let mut doc = scenario();
        doc["spec"]["description"] = json!("new words");
        doc["spec"]["claimingResources"] =
            json!([{"apiGroup": "resourcemanager.miloapis.com", "kind": "Folder"}]);
        assert!(check_registration_update(&old, &parse_registration(&doc).unwrap()).is_empty());
        doc["spec"]["type"] = json!("Allocation");
        doc["spec"]["resourceType"] = json!("other");
        let fields: Vec<String> =
            check_registration_update(&old, &parse_registration(&doc).unwrap())
                .into_iter()
                .map(|c| c.field)
                .collect();
        assert_eq!(fields, ["spec.resourceType", "spec.type"]);
    }

    #[test]
    fn a_resource_type_is_registered_once() {
        let first = parse_registration(&scenario()).unwrap();
        let mut doc = scenario();
        doc["metadata"]["name"] = json!("second");
        let second = parse_registration(&doc).unwrap();
        let causes = check_registration_unique(&second, std::slice::from_ref(&first));
        assert_eq!(causes.len(), 1);
        assert_eq!(causes[0].field, "spec.resourceType");
        assert!(causes[0].message.contains("already registered"));
        // Itself (an update) and other types are no rivals.
        assert!(check_registration_unique(&first, std::slice::from_ref(&first)).is_empty());
        doc["spec"]["resourceType"] = json!("test.corefunction.miloapis.com/folders");
        let other = parse_registration(&doc).unwrap();
        assert!(check_registration_unique(&other, &[first]).is_empty());
    }

    #[test]
    fn every_missing_field_is_reported_together() {
        let causes = parse_registration(&json!({"spec": {}})).unwrap_err();
        let fields: Vec<&str> = causes.iter().map(|c| c.field.as_str()).collect();
        for f in [
            "spec.consumerType",
            "spec.type",
            "spec.resourceType",
            "spec.baseUnit",
            "spec.displayUnit",
            "spec.unitConversionFactor",
            "spec.claimingResources",
        ] {
            assert!(fields.contains(&f), "{f} missing from {fields:?}");
        }
        assert_eq!(parse_registration(&json!({})).unwrap_err()[0].field, "spec");
    }
}
