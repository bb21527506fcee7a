//! Claim and grant creation policies: parse, match, render.

use serde_json::json;

use super::*;

// ---------------------------------------------------------------------------
// Policies
// ---------------------------------------------------------------------------

#[test]
fn grant_policy_renders_the_default_allowance_and_follows_updates() {
    let policy = parse_grant_creation_policy(&grant_policy_doc()).unwrap();
    let registrations = [registration(PROJECTS, "Entity")];
    assert!(policy.check_registrations(&registrations).is_empty());
    assert!(!policy.check_registrations(&[]).is_empty());
    let org = organization("acme", "Standard");
    assert!(policy.applies_to(&org).unwrap());
    let rendered = policy.render_grant(&org).unwrap();
    let doc = &rendered.document;
    assert_eq!(doc["metadata"]["name"], "auto-grant-acme");
    assert_eq!(doc["metadata"]["namespace"], "organization-acme");
    assert_eq!(doc["metadata"]["labels"][AUTO_CREATED_LABEL], "true");
    assert_eq!(
        doc["metadata"]["labels"][POLICY_LABEL],
        "test-organization-grant-policy"
    );
    assert_eq!(
        doc["metadata"]["annotations"]["quota.miloapis.com/description"],
        "Auto-generated grant for acme"
    );
    assert_eq!(doc["metadata"]["ownerReferences"][0]["controller"], true);
    assert_eq!(doc["spec"]["consumerRef"]["name"], "acme");
    assert_eq!(rendered.parent_context, None);
    let grant = parse_grant(doc).unwrap();
    assert_eq!(grant.allowances[0].amount, 5);
    // The organization changes type: the constraint no longer holds, so the
    // grant it made is to go.
    assert!(!policy
        .applies_to(&organization("acme", "Personal"))
        .unwrap());
    // Other kinds never trigger it.
    assert!(!policy
        .applies_to(&project("p", "Organization", "acme"))
        .unwrap());
}

#[test]
fn grant_policy_parent_context_is_resolved_from_object() {
    let mut doc = grant_policy_doc();
    doc["spec"]["target"]["parentContext"] = json!({
        "apiGroup": "resourcemanager.miloapis.com", "kind": "Organization", "nameExpression": "object.metadata.name"
    });
    let policy = parse_grant_creation_policy(&doc).unwrap();
    let rendered = policy
        .render_grant(&organization("acme", "Standard"))
        .unwrap();
    assert_eq!(
        rendered.parent_context,
        Some(ParentContext {
            api_group: "resourcemanager.miloapis.com".into(),
            kind: "Organization".into(),
            name: "acme".into()
        })
    );
    // Milo evaluates it with the trigger as `trigger` too (its suites write
    // `trigger.metadata.name`), in either identifier form.
    for expression in [
        "trigger.metadata.name",
        ".trigger.metadata.name",
        "object.metadata.name == trigger.metadata.name ? trigger.metadata.name : 'x'",
    ] {
        doc["spec"]["target"]["parentContext"]["nameExpression"] = json!(expression);
        let policy = parse_grant_creation_policy(&doc).unwrap();
        let rendered = policy
            .render_grant(&organization("acme", "Standard"))
            .unwrap();
        assert_eq!(
            rendered.parent_context.unwrap().name,
            "acme",
            "{expression}"
        );
    }
    doc["spec"]["target"]["parentContext"]["nameExpression"] = json!("user.name");
    let causes = parse_grant_creation_policy(&doc).unwrap_err();
    assert_eq!(causes[0].field, "spec.target.parentContext.nameExpression");
    assert!(
        causes[0]
            .message
            .contains("undeclared reference to 'user' (available: object, trigger)"),
        "{causes:?}"
    );
}

#[test]
fn templates_may_write_cels_leading_dot_form() {
    // Milo's own policies write `{{.trigger.metadata.name}}`.
    let mut doc = grant_policy_doc();
    let template = &mut doc["spec"]["target"]["resourceGrantTemplate"];
    template["metadata"]["name"] = json!("premium-grant-{{.trigger.metadata.name}}-standard");
    template["metadata"]["namespace"] = json!("organization-{{ .trigger.metadata.name }}");
    template["metadata"]["annotations"]["quota.miloapis.com/description"] =
        json!("Auto-generated grant for {{.trigger.metadata.name}}");
    template["spec"]["consumerRef"]["name"] = json!("{{.trigger.metadata.name}}");
    doc["spec"]["trigger"]["constraints"] =
        json!([{"expression": ".trigger.spec.type == 'Standard'"}]);
    let policy = parse_grant_creation_policy(&doc).unwrap();
    let org = organization("acme", "Standard");
    assert!(policy.applies_to(&org).unwrap());
    assert!(!policy
        .applies_to(&organization("acme", "Personal"))
        .unwrap());
    let rendered = policy.render_grant(&org).unwrap().document;
    assert_eq!(rendered["metadata"]["name"], "premium-grant-acme-standard");
    assert_eq!(rendered["metadata"]["namespace"], "organization-acme");
    assert_eq!(
        rendered["metadata"]["annotations"]["quota.miloapis.com/description"],
        "Auto-generated grant for acme"
    );
    assert_eq!(rendered["spec"]["consumerRef"]["name"], "acme");

    // A claim policy's templates likewise, over all three of its variables.
    let mut doc = claim_policy_doc();
    doc["spec"]["target"]["resourceClaimTemplate"]["metadata"]["annotations"] = json!({"by": "{{.user.name}} in {{.requestInfo.namespace}} for {{.trigger.metadata.name}}"});
    assert!(parse_claim_creation_policy(&doc).is_ok());

    // The dot names the declared variable, so an undeclared one stays refused.
    let mut doc = grant_policy_doc();
    doc["spec"]["target"]["resourceGrantTemplate"]["metadata"]["name"] = json!("{{.user.name}}");
    let causes = parse_grant_creation_policy(&doc).unwrap_err();
    assert_eq!(
        causes[0].field,
        "spec.target.resourceGrantTemplate.metadata.name"
    );
    assert!(
        causes[0].message.contains("undeclared reference to 'user'"),
        "{causes:?}"
    );
}

#[test]
fn claim_policies_see_user_and_request_info() {
    let mut doc = claim_policy_doc();
    doc["spec"]["trigger"]["constraints"] = json!([
        {"expression": "user.groups.exists(g, g == 'admins') && requestInfo.verb == 'create'"}
    ]);
    doc["spec"]["target"]["resourceClaimTemplate"]["metadata"]["annotations"] =
        json!({"requested-by": "{{user.name}}"});
    let policy = parse_claim_creation_policy(&doc).unwrap();
    let trigger = project("p", "Organization", "acme");
    let user = json!({"name": "alice", "groups": ["admins"]});
    let request = json!({"verb": "create"});
    let inputs = PolicyInputs {
        trigger: &trigger,
        user: &user,
        request_info: &request,
    };
    assert!(policy.applies_to(&inputs).unwrap());
    let claim = policy.claim_for(&inputs).unwrap().unwrap();
    assert_eq!(claim["metadata"]["annotations"]["requested-by"], "alice");
    assert_eq!(
        claim["metadata"]["annotations"][CREATED_BY_ANNOTATION],
        CLAIM_CREATED_BY
    );
    let outsider = json!({"name": "bob", "groups": []});
    let inputs = PolicyInputs {
        trigger: &trigger,
        user: &outsider,
        request_info: &request,
    };
    assert!(!policy.applies_to(&inputs).unwrap());
    // Grant policies have no user.
    let mut grant = grant_policy_doc();
    grant["spec"]["trigger"]["constraints"] = json!([{"expression": "user.name == 'x'"}]);
    let causes = parse_grant_creation_policy(&grant).unwrap_err();
    assert_eq!(causes[0].field, "spec.trigger.constraints[0].expression");
    assert!(causes[0].message.contains("undeclared reference to 'user'"));
}

#[test]
fn disabled_policies_and_other_kinds_do_not_apply() {
    let mut doc = claim_policy_doc();
    doc["spec"]["disabled"] = json!(true);
    let policy = parse_claim_creation_policy(&doc).unwrap();
    let trigger = project("p", "Organization", "acme");
    assert!(!policy
        .applies_to(&PolicyInputs::trigger_only(&trigger))
        .unwrap());
    let policy = parse_claim_creation_policy(&claim_policy_doc()).unwrap();
    let folder = json!({"apiVersion": "resourcemanager.miloapis.com/v1alpha1", "kind": "Folder", "metadata": {"name": "f"}});
    assert!(!policy
        .applies_to(&PolicyInputs::trigger_only(&folder))
        .unwrap());
    // Another version of the same kind matches.
    let mut v2 = trigger.clone();
    v2["apiVersion"] = json!("resourcemanager.miloapis.com/v1beta1");
    assert!(policy.applies_to(&PolicyInputs::trigger_only(&v2)).unwrap());
    // The constraint filters on the label.
    let mut unlabelled = trigger;
    unlabelled["metadata"]["labels"] = json!({});
    assert!(!policy
        .applies_to(&PolicyInputs::trigger_only(&unlabelled))
        .unwrap());
}

#[test]
fn policies_that_do_not_compile_are_refused_at_write() {
    let field_of = |pointer: &str, value: Value| -> Vec<String> {
        let mut doc = claim_policy_doc();
        *doc.pointer_mut(pointer).unwrap() = value;
        parse_claim_creation_policy(&doc)
            .unwrap_err()
            .into_iter()
            .map(|c| c.field)
            .collect()
    };
    let t = "/spec/target/resourceClaimTemplate";
    assert_eq!(
        field_of(
            "/spec/trigger/constraints/0/expression",
            json!("trigger.metadata.name ==")
        ),
        ["spec.trigger.constraints[0].expression"]
    );
    assert_eq!(
        field_of(
            &format!("{t}/spec/consumerRef/name"),
            json!("{{trigger.spec.ownerRef.name")
        ),
        ["spec.target.resourceClaimTemplate.spec.consumerRef.name"]
    );
    assert_eq!(
        field_of(
            &format!("{t}/metadata/namespace"),
            json!("org-{{ nope.x }}")
        ),
        ["spec.target.resourceClaimTemplate.metadata.namespace"]
    );
    assert_eq!(
        field_of(&format!("{t}/spec/requests/0/amount"), json!(0)),
        ["spec.target.resourceClaimTemplate.spec.requests[0].amount"]
    );
    assert_eq!(
        field_of(&format!("{t}/spec/requests/0/amount"), json!(-1)),
        ["spec.target.resourceClaimTemplate.spec.requests[0].amount"]
    );
    assert_eq!(
        field_of(&format!("{t}/spec/requests"), json!([])),
        ["spec.target.resourceClaimTemplate.spec.requests"]
    );
    assert_eq!(
        field_of(
            &format!("{t}/spec"),
            json!({
                "consumerRef": org_ref("acme"),
                "requests": [{"resourceType": PROJECTS, "amount": 1}],
                "resourceRef": {"kind": "Project", "name": "x"}
            })
        ),
        ["spec.target.resourceClaimTemplate.spec.resourceRef"]
    );
    assert_eq!(
        field_of("/spec/trigger/resource/kind", json!("project")),
        ["spec.trigger.resource.kind"]
    );
    assert_eq!(
        field_of(
            "/spec/trigger/resource/apiVersion",
            json!("resourcemanager.miloapis.com/")
        ),
        ["spec.trigger.resource.apiVersion"]
    );
    let constraints: Vec<Value> = (0..11).map(|_| json!({"expression": "true"})).collect();
    assert_eq!(
        field_of("/spec/trigger/constraints", json!(constraints)),
        ["spec.trigger.constraints"]
    );
    let causes = parse_claim_creation_policy(&json!({"spec": {}})).unwrap_err();
    let fields: Vec<&str> = causes.iter().map(|c| c.field.as_str()).collect();
    assert_eq!(fields, ["spec.trigger", "spec.target"]);
}

#[test]
fn a_template_that_renders_an_invalid_claim_is_a_clear_error() {
    let policy = parse_claim_creation_policy(&claim_policy_doc()).unwrap();
    // The owner's name makes an invalid namespace and consumer name.
    let trigger = project("p", "Organization", "Not_Valid");
    let err = policy
        .claim_for(&PolicyInputs::trigger_only(&trigger))
        .unwrap_err();
    let PolicyError::InvalidDocument { causes, kind, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*kind, "ResourceClaim");
    assert_eq!(causes[0].field, "metadata.namespace");
    assert!(
        err.to_string().contains("core-test-project-quota-policy"),
        "{err}"
    );
    assert_eq!(err.to_api_error().code_and_reason(), (400, "BadRequest"));

    // A field the trigger lacks is an evaluation error at the template field.
    let trigger = json!({"apiVersion": "resourcemanager.miloapis.com/v1alpha1", "kind": "Project",
        "metadata": {"name": "p", "labels": {"test.miloapis.com/scenario": "core-functionality"}}, "spec": {}});
    let err = policy
        .claim_for(&PolicyInputs::trigger_only(&trigger))
        .unwrap_err();
    let PolicyError::Evaluation { field, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(
        field,
        "spec.target.resourceClaimTemplate.metadata.namespace"
    );

    // A cluster-scoped trigger and no namespace in the template.
    let mut doc = claim_policy_doc();
    doc["spec"]["target"]["resourceClaimTemplate"]["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("namespace");
    let policy = parse_claim_creation_policy(&doc).unwrap();
    let err = policy
        .claim_for(&PolicyInputs::trigger_only(&project(
            "p",
            "Organization",
            "acme",
        )))
        .unwrap_err();
    let PolicyError::InvalidDocument { causes, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(causes[0].field, "metadata.namespace");
    assert_eq!(causes[0].reason, "FieldValueRequired");
}

#[test]
fn a_constraint_that_fails_to_evaluate_is_an_error_not_a_skip() {
    let mut doc = claim_policy_doc();
    doc["spec"]["trigger"]["constraints"] =
        json!([{"expression": "trigger.spec.tier == 'gold'", "message": "gold projects only"}]);
    let policy = parse_claim_creation_policy(&doc).unwrap();
    let trigger = project("p", "Organization", "acme");
    let err = policy
        .applies_to(&PolicyInputs::trigger_only(&trigger))
        .unwrap_err();
    let PolicyError::Evaluation { field, message, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(field, "spec.trigger.constraints[0].expression");
    assert!(message.contains("gold projects only"));
    doc["spec"]["trigger"]["constraints"] = json!([{"expression": "trigger.metadata.name"}]);
    let policy = parse_claim_creation_policy(&doc).unwrap();
    let err = policy
        .applies_to(&PolicyInputs::trigger_only(&trigger))
        .unwrap_err();
    assert!(err.to_string().contains("boolean"), "{err}");
}

#[test]
fn claim_policy_registrations_are_checked_against_the_trigger_kind() {
    let policy = parse_claim_creation_policy(&claim_policy_doc()).unwrap();
    let mut doc = registration_doc();
    doc["spec"]["claimingResources"] =
        json!([{"apiGroup": "resourcemanager.miloapis.com", "kind": "Folder"}]);
    let folder_only = parse_registration(&doc).unwrap();
    let causes = policy.check_registrations(&[folder_only]);
    assert_eq!(
        causes[0].field,
        "spec.target.resourceClaimTemplate.spec.requests[0].resourceType"
    );
    assert!(causes[0].message.contains("claimingResources"));
    assert_eq!(policy.requests, [(PROJECTS.to_string(), 1)]);
}

#[test]
fn the_policies_naming_a_type_are_what_its_registration_is_kept_for() {
    let claims = [parse_claim_creation_policy(&claim_policy_doc()).unwrap()];
    let grants = [parse_grant_creation_policy(&grant_policy_doc()).unwrap()];
    assert_eq!(
        policies_naming(PROJECTS, &claims, &grants),
        [
            format!("ClaimCreationPolicy {:?}", claims[0].name),
            format!("GrantCreationPolicy {:?}", grants[0].name)
        ]
    );
    assert!(policies_naming("other.miloapis.com/things", &claims, &grants).is_empty());
}
