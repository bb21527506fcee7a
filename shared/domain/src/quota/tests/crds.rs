//! The built-in quota CRDs: they parse, and fit Milo's documents.

use serde_json::json;

use super::*;
use crate::kinds::{ContextKind, Scope};

#[test]
fn every_quota_crd_parses_with_milos_scope_contexts_and_status() {
    let expect = [
        (
            "resourceregistrations",
            "ResourceRegistration",
            Scope::Cluster,
        ),
        ("resourcegrants", "ResourceGrant", Scope::Namespaced),
        ("allowancebuckets", "AllowanceBucket", Scope::Namespaced),
        ("resourceclaims", "ResourceClaim", Scope::Namespaced),
        (
            "claimcreationpolicies",
            "ClaimCreationPolicy",
            Scope::Cluster,
        ),
        (
            "grantcreationpolicies",
            "GrantCreationPolicy",
            Scope::Cluster,
        ),
    ];
    for (file, kind, scope) in expect {
        let rt = quota_type(file);
        assert_eq!(rt.group, QUOTA_GROUP);
        assert_eq!(rt.kind, kind);
        assert_eq!(rt.plural, file);
        assert_eq!(rt.scope, scope, "{file}");
        let contexts = if scope == Scope::Cluster {
            vec![ContextKind::Platform]
        } else {
            // Also the platform: Milo keeps an organization's grants,
            // claims and buckets in its `organization-{org}` namespace,
            // which lives in the platform context here.
            vec![
                ContextKind::Platform,
                ContextKind::Organization,
                ContextKind::Project,
            ]
        };
        assert_eq!(rt.contexts, contexts, "{file}");
        let version = rt.storage_version().unwrap();
        assert_eq!(version.name, "v1alpha1");
        assert!(version.status_subresource, "{file}");
    }
    let kinds = [
        RESOURCE_REGISTRATION,
        RESOURCE_GRANT,
        ALLOWANCE_BUCKET,
        RESOURCE_CLAIM,
        CLAIM_CREATION_POLICY,
        GRANT_CREATION_POLICY,
    ];
    for id in kinds {
        assert_eq!(quota_type(id.plural).kind, id.kind);
    }
}

#[test]
fn allowance_buckets_print_limit_allocated_available() {
    let rt = quota_type("allowancebuckets");
    let version = rt.storage_version().unwrap();
    let columns: Vec<&str> = version.columns.iter().map(|c| c.name.as_str()).collect();
    for name in ["Limit", "Allocated", "Available", "Claims"] {
        assert!(columns.contains(&name), "{columns:?}");
    }
    assert!(version
        .selectable_fields
        .contains(&"spec.resourceType".to_string()));
}

#[test]
fn milo_scenario_documents_fit_our_schemas() {
    assert_schema_accepts("resourceregistrations", &registration_doc());
    assert_schema_accepts("claimcreationpolicies", &claim_policy_doc());
    assert_schema_accepts("resourcegrants", &grant_doc("g", "Organization", "o", 2));
    assert_schema_accepts("grantcreationpolicies", &grant_policy_doc());
    // What the system writes fits too.
    let key = BucketKey::new(Node::organization("o"), PROJECTS);
    let mut bucket = key.document("o");
    let level = BucketLevel {
        limit: 2,
        allocated: 1,
        claim_count: 1,
        grant_count: 1,
    };
    let refs = update_contributing_refs(&[], "g", 1, Some(2));
    bucket["status"] = bucket_status(&level, &refs, NOW);
    assert_schema_accepts("allowancebuckets", &bucket);
    let policy = parse_claim_creation_policy(&claim_policy_doc()).unwrap();
    let trigger = project("p1", "Organization", "o");
    let mut claim = policy
        .claim_for(&PolicyInputs::trigger_only(&trigger))
        .unwrap()
        .unwrap();
    let allocation = ClaimAllocation {
        resource_type: PROJECTS.into(),
        amount: 1,
        allocating_bucket: key.name(),
    };
    claim["status"] = claim_granted_status(&[allocation], 1, NOW);
    assert_schema_accepts("resourceclaims", &claim);
    let mut reg = registration_doc();
    reg["status"] = registration_status(1, NOW);
    assert_schema_accepts("resourceregistrations", &reg);
}

#[test]
fn the_schemas_refuse_what_milos_refuse() {
    let rt = quota_type("resourceregistrations");
    let schema = &rt.storage_version().unwrap().schema;
    let mut changed = registration_doc();
    changed["spec"]["resourceType"] = json!("other");
    let causes = schema.validate(&changed, Some(&registration_doc()));
    assert!(
        causes
            .iter()
            .any(|c| c.message.contains("resourceType is immutable")),
        "{causes:?}"
    );
    let mut bad = registration_doc();
    bad["spec"]["type"] = json!("Counter");
    assert!(!schema.validate(&bad, None).is_empty());

    let rt = quota_type("claimcreationpolicies");
    let schema = &rt.storage_version().unwrap().schema;
    let mut with_ref = claim_policy_doc();
    with_ref["spec"]["target"]["resourceClaimTemplate"]["spec"]["resourceRef"] =
        json!({"kind": "Project", "name": "x"});
    let causes = schema.validate(&with_ref, None);
    assert!(
        causes
            .iter()
            .any(|c| c.message.contains("cannot be set in the template")),
        "{causes:?}"
    );
    assert!(parse_claim_creation_policy(&with_ref).is_err());
}
