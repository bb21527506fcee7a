use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::*;

fn yaml(text: &str) -> Value {
    serde_yaml::from_str(text).unwrap()
}

fn request(op: Operation, object: Option<Value>, old: Option<Value>) -> AdmissionRequest {
    AdmissionRequest {
        uid: "req-1".into(),
        operation: op,
        group: "resourcemanager.miloapis.com".into(),
        version: "v1alpha1".into(),
        resource: "projects".into(),
        subresource: String::new(),
        kind: "Project".into(),
        namespace: None,
        name: object
            .as_ref()
            .or(old.as_ref())
            .and_then(|o| o.pointer("/metadata/name"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .into(),
        object,
        old_object: old,
        namespace_object: None,
        context_labels: None,
        user_info: UserInfo::default(),
        dry_run: false,
    }
}

fn project(name: &str, labels: Value) -> Value {
    json!({"apiVersion": "resourcemanager.miloapis.com/v1alpha1", "kind": "Project",
           "metadata": {"name": name, "labels": labels}})
}

fn vap(spec: Value) -> ValidatingAdmissionPolicy {
    let doc = json!({"apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy", "metadata": {"name": "p"}, "spec": spec});
    parse_validating_policy(&doc).unwrap()
}

fn vap_err(spec: Value) -> Vec<Cause> {
    let doc = json!({"metadata": {"name": "p"}, "spec": spec});
    parse_validating_policy(&doc).unwrap_err()
}

fn binding(actions: &[&str]) -> ValidatingAdmissionPolicyBinding {
    parse_validating_binding(&json!({"metadata": {"name": "b"},
        "spec": {"policyName": "p", "validationActions": actions}}))
    .unwrap()
}

fn projects_rule() -> Value {
    json!({"resourceRules": [{"apiGroups": ["resourcemanager.miloapis.com"],
        "apiVersions": ["*"], "operations": ["CREATE", "UPDATE"], "resources": ["projects"]}]})
}

fn pair(policy: ValidatingAdmissionPolicy, b: ValidatingAdmissionPolicyBinding) -> ValidatingPair {
    ValidatingPair {
        policy: Arc::new(policy),
        binding: Arc::new(b),
        params: Params::Unused,
    }
}

use crate::Cause;

fn fields(causes: &[Cause]) -> Vec<&str> {
    causes.iter().map(|c| c.field.as_str()).collect()
}

// ---------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------

#[test]
fn bad_cel_and_unknown_variables_are_refused_at_their_paths() {
    let causes = vap_err(json!({
        "matchConstraints": projects_rule(),
        "variables": [{"name": "a", "expression": "object.x"},
                      {"name": "b", "expression": "variables.c"}],
        "validations": [
            {"expression": "object.metadata.name.startsWith("},
            {"expression": "foo == 1"},
            {"expression": "authorizer.path('x') != null"},
            {"expression": "variables.a == variables.nope"},
            {"expression": "true", "message": "two\nlines"},
        ],
    }));
    assert_eq!(
        fields(&causes),
        [
            "spec.variables[1].expression",
            "spec.validations[0].expression",
            "spec.validations[1].expression",
            "spec.validations[2].expression",
            "spec.validations[3].expression",
            "spec.validations[4].message",
        ],
        "{causes:#?}"
    );
    assert!(causes[2].message.contains("undeclared reference to 'foo'"));
    assert!(causes[3]
        .message
        .contains("authorizer variable is not supported"));
}

#[test]
fn policies_need_rules_and_validations_and_known_enums() {
    let causes = vap_err(json!({"failurePolicy": "Sometimes",
        "matchConstraints": {"resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"],
            "resources": ["a/b/c"], "operations": ["PATCH"], "scope": "Everywhere"}],
            "objectSelector": {"matchExpressions": [{"key": "k", "operator": "In"}]}}}));
    assert_eq!(
        fields(&causes),
        [
            "spec.matchConstraints.resourceRules[0].resources[0]",
            "spec.matchConstraints.resourceRules[0].operations[0]",
            "spec.matchConstraints.resourceRules[0].scope",
            "spec.matchConstraints.objectSelector.matchExpressions[0].values",
            "spec.failurePolicy",
            "spec.validations",
        ],
        "{causes:#?}"
    );
    let causes = vap_err(json!({"validations": [{"expression": "true"}]}));
    assert_eq!(fields(&causes), ["spec.matchConstraints"]);
}

#[test]
fn bindings_are_checked() {
    let err = parse_validating_binding(&json!({"metadata": {"name": "b"},
        "spec": {"validationActions": ["Deny", "Warn", "Deny"],
                 "paramRef": {"name": "x", "selector": {}}}}))
    .unwrap_err();
    assert_eq!(
        fields(&err),
        [
            "spec.policyName",
            "spec.paramRef.selector",
            "spec.validationActions[2]",
            "spec.validationActions",
        ],
        "{err:#?}"
    );
}

#[test]
fn mutating_policies_parse_both_patch_types() {
    let doc = json!({"metadata": {"name": "m"}, "spec": {
        "matchConstraints": projects_rule(),
        "reinvocationPolicy": "IfNeeded",
        "mutations": [
            {"patchType": "ApplyConfiguration", "applyConfiguration": {"expression":
                "Object{metadata: Object.metadata{labels: {'a': 'b'}}}"}},
            {"patchType": "JSONPatch", "jsonPatch": {"expression":
                "[JSONPatch{op: 'add', path: '/spec', value: {}}]"}}]}});
    let policy = parse_mutating_policy(&doc).unwrap();
    assert_eq!(policy.mutations.len(), 2);
    assert_eq!(policy.reinvocation_policy, ReinvocationPolicy::IfNeeded);
    // Struct literals only in mutations; the right body for the patch type.
    let causes = vap_err(json!({"matchConstraints": projects_rule(),
        "validations": [{"expression": "Object{} == Object{}"}]}));
    assert_eq!(fields(&causes), ["spec.validations[0].expression"]);
    let bad = json!({"metadata": {"name": "m"}, "spec": {"matchConstraints": projects_rule(),
        "mutations": [{"patchType": "JSONPatch", "applyConfiguration": {"expression": "Object{}"}}]}});
    let causes = parse_mutating_policy(&bad).unwrap_err();
    assert_eq!(
        fields(&causes),
        [
            "spec.mutations[0].applyConfiguration",
            "spec.mutations[0].jsonPatch"
        ]
    );
}

// ---------------------------------------------------------------------------
// Matching
// ---------------------------------------------------------------------------

#[test]
fn rules_match_operations_resources_subresources_and_exclusions() {
    let policy = vap(json!({
        "matchConstraints": {"matchPolicy": "Exact", "resourceRules": [
            {"apiGroups": ["*"], "apiVersions": ["v1alpha1"], "operations": ["*"],
             "resources": ["projects", "*/status"]}],
            "excludeResourceRules": [{"apiGroups": ["*"], "apiVersions": ["*"],
             "operations": ["DELETE"], "resources": ["*"]}]},
        "validations": [{"expression": "true"}]}));
    let mut req = request(Operation::Create, Some(project("a", json!({}))), None);
    assert_eq!(policy.common.matches(None, &req), Ok(true));
    req.version = "v1".into();
    assert_eq!(policy.common.matches(None, &req), Ok(false));
    req.version = "v1alpha1".into();
    req.resource = "folders".into();
    assert_eq!(policy.common.matches(None, &req), Ok(false));
    req.subresource = "status".into();
    assert_eq!(policy.common.matches(None, &req), Ok(true));
    req.resource = "projects".into();
    req.subresource = String::new();
    req.operation = Operation::Delete;
    assert_eq!(policy.common.matches(None, &req), Ok(false));
}

#[test]
fn selectors_use_labels_of_object_old_object_and_namespace() {
    let policy = vap(json!({
        "matchConstraints": {"resourceRules": [{"apiGroups": ["*"], "apiVersions": ["*"],
            "operations": ["*"], "resources": ["*"]}],
            "objectSelector": {"matchLabels": {"team": "a"}},
            "namespaceSelector": {"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["prod"]}]}},
        "validations": [{"expression": "true"}]}));
    let old = project("x", json!({"team": "a"}));
    let mut req = request(Operation::Delete, None, Some(old));
    assert_eq!(policy.common.matches(None, &req), Ok(true));
    req.namespace = Some("ns".into());
    assert!(policy.common.matches(None, &req).is_err());
    req.namespace_object = Some(json!({"metadata": {"name": "ns", "labels": {"env": "prod"}}}));
    assert_eq!(policy.common.matches(None, &req), Ok(false));
    req.namespace_object = Some(json!({"metadata": {"name": "ns"}}));
    assert_eq!(policy.common.matches(None, &req), Ok(true));
    req.old_object = Some(project("x", json!({"team": "b"})));
    assert_eq!(policy.common.matches(None, &req), Ok(false));
}

#[test]
fn a_namespace_selector_sees_the_context_of_cluster_scoped_objects() {
    let policy = vap(json!({
        "matchConstraints": {"resourceRules": [{"apiGroups": ["*"], "apiVersions": ["*"],
            "operations": ["*"], "resources": ["*"]}],
            "namespaceSelector": {"matchLabels": {"resourcemanager.miloapis.com/organization-name": "acme"}}},
        "validations": [{"expression": "true"}]}));
    let org = |name: &str| {
        Some(
            [(
                "resourcemanager.miloapis.com/organization-name".to_string(),
                name.to_string(),
            )]
            .into(),
        )
    };
    let mut req = request(Operation::Create, Some(project("p", json!({}))), None);
    // The platform's own cluster-scoped objects: not constrained.
    assert_eq!(policy.common.matches(None, &req), Ok(true));
    req.context_labels = org("globex");
    assert_eq!(policy.common.matches(None, &req), Ok(false));
    req.context_labels = org("acme");
    assert_eq!(policy.common.matches(None, &req), Ok(true));
    // A namespace's labels get the context's, which win over its own.
    req.namespace = Some("ns".into());
    req.namespace_object = Some(json!({"metadata": {"name": "ns",
        "labels": {"resourcemanager.miloapis.com/organization-name": "globex"}}}));
    assert_eq!(policy.common.matches(None, &req), Ok(true));
    req.context_labels = None;
    assert_eq!(policy.common.matches(None, &req), Ok(false));
}

#[test]
fn the_policy_set_pairs_bindings_with_their_policies_in_name_order() {
    let policy = |name: &str, resources: &str| {
        let doc = json!({"apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicy", "metadata": {"name": name}, "spec": {
            "matchConstraints": {"resourceRules": [{"apiGroups": ["*"], "apiVersions": ["*"],
                "operations": ["CREATE"], "resources": [resources]}]},
            "validations": [{"expression": "true"}]}});
        parse_validating_policy(&doc).unwrap()
    };
    let bind = |name: &str, policy: &str| {
        parse_validating_binding(&json!({"metadata": {"name": name},
            "spec": {"policyName": policy, "validationActions": ["Deny"]}}))
        .unwrap()
    };
    let set = PolicySet::build(
        vec![
            policy("b", "projects"),
            policy("a", "projects"),
            policy("c", "folders"),
        ],
        vec![
            bind("2", "b"),
            bind("1", "a"),
            bind("0", "b"),
            bind("x", "missing"),
            bind("y", "c"),
        ],
        Vec::new(),
        Vec::new(),
    );
    assert!(!set.is_empty());
    assert!(set.has_validating_policy("a") && !set.has_validating_policy("missing"));
    let req = request(Operation::Create, Some(project("p", json!({}))), None);
    let names: Vec<(String, String)> = set
        .validating_candidates(&req)
        .iter()
        .map(|(p, b)| (p.common.name.clone(), b.name.clone()))
        .collect();
    assert_eq!(
        names,
        [("a", "1"), ("b", "0"), ("b", "2")].map(|(p, b)| (p.to_string(), b.to_string()))
    );
    assert!(set.mutating_candidates(&req).is_empty());
}

#[test]
fn a_binding_status_says_whether_its_policy_exists_and_keeps_its_transition_time() {
    let missing = binding_status("ValidatingAdmissionPolicy", "p", false, &Value::Null, "t1");
    assert_eq!(missing["conditions"][0]["type"], BINDING_READY);
    assert_eq!(missing["conditions"][0]["status"], "False");
    assert_eq!(missing["conditions"][0]["reason"], "PolicyNotFound");
    let still = binding_status("ValidatingAdmissionPolicy", "p", false, &missing, "t2");
    assert_eq!(still["conditions"][0]["lastTransitionTime"], "t1");
    let found = binding_status("ValidatingAdmissionPolicy", "p", true, &still, "t3");
    assert_eq!(found["conditions"][0]["status"], "True");
    assert_eq!(found["conditions"][0]["lastTransitionTime"], "t3");
}

#[test]
fn a_denial_is_a_status_with_the_policy_reason() {
    let denial = Denial {
        message: "no".into(),
        reason: Reason::Forbidden,
    };
    let status = crate::ApiError::from(denial).status();
    assert_eq!(
        (status["code"].as_u64(), status["reason"].as_str()),
        (Some(403), Some("Forbidden"))
    );
    assert_eq!(status["message"], "no");
}

// ---------------------------------------------------------------------------
// Validating
// ---------------------------------------------------------------------------

#[test]
fn variables_are_lazy_ordered_and_messages_formatted() {
    let policy = vap(json!({
        "matchConstraints": projects_rule(),
        "variables": [
            {"name": "broken", "expression": "object.nope.deeper"},
            {"name": "name", "expression": "object.metadata.name"},
            {"name": "prefixed", "expression": "variables.name.startsWith('ok-')"}],
        "validations": [{"expression": "variables.prefixed", "reason": "Forbidden",
            "messageExpression": "'name ' + variables.name + ' lacks ok-'"}],
        "auditAnnotations": [{"key": "seen", "valueExpression": "variables.name"}]}));
    let pairs = [pair(policy, binding(&["Deny"]))];
    let budget = Budget::default();
    let good = validate(
        &pairs,
        &request(Operation::Create, Some(project("ok-1", json!({}))), None),
        &budget,
    );
    assert!(good.allowed(), "{good:?}");
    assert_eq!(
        good.audit_annotations.get("p/seen").map(String::as_str),
        Some("ok-1")
    );
    let bad = validate(
        &pairs,
        &request(Operation::Create, Some(project("x", json!({}))), None),
        &budget,
    );
    let denial = bad.denial.unwrap();
    assert_eq!(
        denial.message,
        "ValidatingAdmissionPolicy 'p' with binding 'b' denied request: name x lacks ok-"
    );
    assert_eq!(denial.code(), 403);
}

#[test]
fn warn_and_audit_actions_and_failure_policy() {
    let spec = |fp: &str| {
        json!({"failurePolicy": fp, "matchConstraints": projects_rule(),
        "validations": [{"expression": "object.metadata.name == 'a'"},
                        {"expression": "object.spec.missing == 1"}]})
    };
    let req = request(Operation::Create, Some(project("b", json!({}))), None);
    let budget = Budget::default();
    let d = validate(
        &[pair(vap(spec("Fail")), binding(&["Warn", "Audit"]))],
        &req,
        &budget,
    );
    assert!(d.allowed());
    assert_eq!(d.warnings.len(), 2, "{d:?}");
    assert_eq!(
        d.warnings[0],
        "Validation failed for ValidatingAdmissionPolicy 'p' with binding 'b': failed expression: object.metadata.name == 'a'"
    );
    assert!(d.warnings[1].contains("resulted in error"));
    let audit: Value =
        serde_json::from_str(&d.audit_annotations[VALIDATION_FAILURE_ANNOTATION]).unwrap();
    assert_eq!(audit[0]["expressionIndex"], 0);
    // Ignore drops the error, not the failed validation.
    let d = validate(
        &[pair(vap(spec("Ignore")), binding(&["Warn"]))],
        &req,
        &budget,
    );
    assert_eq!(d.warnings.len(), 1);
}

// ---------------------------------------------------------------------------
// Budget
// ---------------------------------------------------------------------------

#[test]
fn pathological_expressions_are_refused_or_cut_short() {
    // Three nested loops building a huge list: refused when written.
    let causes = vap_err(
        json!({"matchConstraints": projects_rule(), "validations": [{"expression":
        "[1,2,3,4,5,6,7,8,9,10].map(x, [1,2,3,4,5,6,7,8,9,10].map(y, [1,2,3,4,5,6,7,8,9,10].map(z, [x, y, z]))).size() > 0"}]}),
    );
    assert!(
        causes[0].message.contains("may not nest more than 2 deep"),
        "{causes:?}"
    );
    let causes = vap_err(json!({"matchConstraints": projects_rule(),
        "validations": [{"expression": "lists.range(100000000).size() > 0"}]}));
    assert!(causes[0].message.contains("lists.range"), "{causes:?}");

    // Within the static limits but slow (10^8 steps): cut at the deadline.
    let slow = |fp: &str| {
        vap(
            json!({"failurePolicy": fp, "matchConstraints": projects_rule(),
        "validations": [{"expression":
            "lists.range(10000).all(x, lists.range(10000).all(y, x + y >= 0))"}]}),
        )
    };
    let budget = Budget::new(Duration::from_millis(50), 4);
    let req = request(Operation::Create, Some(project("a", json!({}))), None);
    // The message names the budget: the deadline, not the end of the
    // 10^8 steps, returned the call.
    let d = validate(&[pair(slow("Fail"), binding(&["Deny"]))], &req, &budget);
    let message = d.denial.unwrap().message;
    assert!(message.contains("exceeded its time budget"), "{message}");
    let d = validate(&[pair(slow("Ignore"), binding(&["Deny"]))], &req, &budget);
    assert!(d.allowed());
}

fn named_pair(name: &str, spec: Value, actions: &[&str]) -> ValidatingPair {
    let doc = json!({"metadata": {"name": name}, "spec": spec});
    ValidatingPair {
        policy: Arc::new(parse_validating_policy(&doc).unwrap()),
        binding: Arc::new(
            parse_validating_binding(&json!({"metadata": {"name": format!("{name}-b")},
                "spec": {"policyName": name, "validationActions": actions}}))
            .unwrap(),
        ),
        params: Params::Unused,
    }
}

#[test]
fn a_phase_is_one_hand_off_to_the_budget_whatever_the_number_of_policies() {
    let budget = Budget::default();
    let pairs: Vec<ValidatingPair> = (0..20)
        .map(|i| {
            named_pair(
                &format!("p{i:02}"),
                json!({"matchConstraints": projects_rule(),
                    "matchConditions": [{"name": "c", "expression": "!object.metadata.name.startsWith('system-')"}],
                    "validations": [{"expression": "object.metadata.name.matches('^[a-z0-9-]+$')"},
                                    {"expression": "object.metadata.name.size() <= 55"}]}),
                &["Deny", "Audit"],
            )
        })
        .collect();
    let good = request(Operation::Create, Some(project("ok", json!({}))), None);
    assert!(validate(&pairs, &good, &budget).allowed());
    assert_eq!(budget.handoffs(), 1);
    // A denial ends the phase at the first denying pair, as before.
    let bad = request(Operation::Create, Some(project("Bad", json!({}))), None);
    let d = validate(&pairs, &bad, &budget);
    assert!(d.denial.unwrap().message.contains("'p00'"));
    let audited: Value =
        serde_json::from_str(&d.audit_annotations[VALIDATION_FAILURE_ANNOTATION]).unwrap();
    assert_eq!(audited.as_array().map(Vec::len), Some(1), "{audited}");
    assert_eq!(budget.handoffs(), 2);
    // Nothing matching: no hand-off at all.
    let system = request(
        Operation::Create,
        Some(project("system-x", json!({}))),
        None,
    );
    assert!(validate(&pairs, &system, &budget).allowed());
    let delete = request(Operation::Delete, None, Some(project("ok", json!({}))));
    assert!(validate(&pairs, &delete, &budget).allowed());
    assert_eq!(
        budget.handoffs(),
        3,
        "the match conditions ran on the worker"
    );
    assert!(validate(&[], &good, &budget).allowed());
    assert_eq!(budget.handoffs(), 3);
}

#[test]
fn an_overrun_is_decided_by_its_failure_policy_and_the_other_pairs_still_run() {
    // a and c fail a validation (Warn); b is pathological.
    let warn = |name: &str| {
        named_pair(
            name,
            json!({"matchConstraints": projects_rule(),
                "validations": [{"expression": "false", "message": format!("{name} says no")}]}),
            &["Warn"],
        )
    };
    let slow = |fp: &str| {
        named_pair(
            "b",
            json!({"failurePolicy": fp, "matchConstraints": projects_rule(),
                "validations": [{"expression":
                    "lists.range(10000).all(x, lists.range(10000).all(y, x + y >= 0))"}]}),
            &["Deny"],
        )
    };
    let req = request(Operation::Create, Some(project("a", json!({}))), None);
    // A deadline far below what 10^8 CEL steps take in any build.
    let budget = Budget::new(Duration::from_millis(50), 4);
    let d = validate(&[warn("c"), slow("Ignore"), warn("a")], &req, &budget);
    assert!(d.allowed(), "{d:?}");
    assert_eq!(d.warnings.len(), 2, "{:?}", d.warnings);
    assert!(d.warnings[0].contains("a says no") && d.warnings[1].contains("c says no"));
    // The pairs after the overrun resumed on another worker.
    assert_eq!(budget.handoffs(), 2);
    let d = validate(&[warn("c"), slow("Fail"), warn("a")], &req, &budget);
    let denial = d.denial.unwrap().message;
    assert!(
        denial.contains("'b'") && denial.contains("exceeded its time budget"),
        "{denial}"
    );
    // Denied at b: c is not evaluated.
    assert_eq!(d.warnings.len(), 1, "{:?}", d.warnings);
    assert_eq!(budget.handoffs(), 3);
}

// ---------------------------------------------------------------------------
// Mutating
// ---------------------------------------------------------------------------

fn map_policy(name: &str, reinvoke: &str, mutations: Value) -> Arc<MutatingAdmissionPolicy> {
    Arc::new(
        parse_mutating_policy(&json!({"metadata": {"name": name}, "spec": {
            "matchConstraints": projects_rule(), "reinvocationPolicy": reinvoke,
            "mutations": mutations}}))
        .unwrap(),
    )
}

fn map_binding(policy: &str) -> Arc<MutatingAdmissionPolicyBinding> {
    Arc::new(
        parse_mutating_binding(&json!({"metadata": {"name": format!("{policy}-b")},
            "spec": {"policyName": policy}}))
        .unwrap(),
    )
}

#[test]
fn mutations_apply_in_name_order_with_reinvocation() {
    // b copies label x into y (IfNeeded); a (runs first) ... sets x only
    // once z exists, which c adds last: b must run again.
    let a = map_policy(
        "a",
        "Never",
        json!([{"patchType": "ApplyConfiguration",
        "applyConfiguration": {"expression":
            "has(object.metadata.labels.z) ? Object{metadata: Object.metadata{labels: {'x': 'from-a'}}} : Object{}"}}]),
    );
    let b = map_policy(
        "b",
        "IfNeeded",
        json!([{"patchType": "JSONPatch", "jsonPatch": {"expression":
        "has(object.metadata.labels.x) ? [JSONPatch{op: 'add', path: '/metadata/labels/y', value: object.metadata.labels.x}] : []"}}]),
    );
    let c = map_policy(
        "c",
        "Never",
        json!([{"patchType": "ApplyConfiguration",
        "applyConfiguration": {"expression": "Object{metadata: Object.metadata{labels: {'z': '1', 'x': 'from-c'}}}"}}]),
    );
    let pairs: Vec<MutatingPair> = [c, a, b]
        .into_iter()
        .map(|p| MutatingPair {
            binding: map_binding(&p.common.name),
            policy: p,
            params: Params::Unused,
        })
        .collect();
    let req = request(Operation::Create, Some(project("p1", json!({}))), None);
    let budget = Budget::default();
    let out = mutate(&pairs, &req, &budget).unwrap();
    let labels = &out.object.unwrap()["metadata"]["labels"];
    assert_eq!(labels, &json!({"z": "1", "x": "from-c", "y": "from-c"}));
    let order: Vec<&str> = out.applied.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(order, ["c", "b"]);
    // Both passes, every pair, in one job on one worker.
    assert_eq!(budget.handoffs(), 1);
}

#[test]
fn a_failing_mutation_denies_or_is_ignored() {
    let bad = map_policy(
        "bad",
        "Never",
        json!([{"patchType": "JSONPatch", "jsonPatch":
        {"expression": "[JSONPatch{op: 'remove', path: '/spec/nothing'}]"}}]),
    );
    let pairs = [MutatingPair {
        binding: map_binding("bad"),
        policy: bad,
        params: Params::Unused,
    }];
    let req = request(Operation::Create, Some(project("p1", json!({}))), None);
    let denial = mutate(&pairs, &req, &Budget::default()).unwrap_err();
    assert!(denial.message.starts_with("MutatingAdmissionPolicy 'bad' with binding 'bad-b' denied request: mutation 0: JSON patch failed"), "{}", denial.message);
}

#[test]
fn a_mutation_that_runs_over_is_decided_by_its_failure_policy_and_the_rest_apply() {
    let label = |name: &str| {
        map_policy(
            name,
            "Never",
            json!([{"patchType": "ApplyConfiguration", "applyConfiguration": {"expression":
                format!("Object{{metadata: Object.metadata{{labels: {{'{name}': '1'}}}}}}")}}]),
        )
    };
    let slow = |fp: &str| {
        Arc::new(
            parse_mutating_policy(&json!({"metadata": {"name": "b"}, "spec": {
                "failurePolicy": fp, "matchConstraints": projects_rule(),
                "mutations": [{"patchType": "ApplyConfiguration", "applyConfiguration": {"expression":
                    "lists.range(10000).all(x, lists.range(10000).all(y, x + y >= 0)) ? Object{} : Object{}"}}]}}))
            .unwrap(),
        )
    };
    let pairs = |fp: &str| -> Vec<MutatingPair> {
        [label("a"), slow(fp), label("c")]
            .into_iter()
            .map(|p| MutatingPair {
                binding: map_binding(&p.common.name),
                policy: p,
                params: Params::Unused,
            })
            .collect()
    };
    let req = request(Operation::Create, Some(project("p1", json!({}))), None);
    // A deadline far below what 10^8 CEL steps take in any build.
    let budget = Budget::new(Duration::from_millis(50), 4);
    let out = mutate(&pairs("Ignore"), &req, &budget).unwrap();
    assert_eq!(
        out.object.unwrap()["metadata"]["labels"],
        json!({"a": "1", "c": "1"})
    );
    // The steps after the overrun resumed on another worker.
    assert_eq!(budget.handoffs(), 2);
    let denial = mutate(&pairs("Fail"), &req, &budget).unwrap_err();
    assert!(
        denial.message.contains("'b'") && denial.message.contains("exceeded its time budget"),
        "{}",
        denial.message
    );
}

// ---------------------------------------------------------------------------
// The issue's examples
// ---------------------------------------------------------------------------

#[test]
fn example_auto_tagging_from_params() {
    let policy = parse_mutating_policy(&yaml(r#"
metadata: {name: cost-centre-labels}
spec:
  paramKind: {apiVersion: v1, kind: ConfigMap}
  matchConstraints:
    resourceRules:
    - {apiGroups: [resourcemanager.miloapis.com], apiVersions: ["*"], operations: [CREATE], resources: [projects]}
  mutations:
  - patchType: ApplyConfiguration
    applyConfiguration:
      expression: >
        Object{metadata: Object.metadata{labels: params.data}}
"#)).unwrap();
    let binding = parse_mutating_binding(&yaml(
        r#"
metadata: {name: cost-centre-labels-acme}
spec:
  policyName: cost-centre-labels
  paramRef: {name: acme-cost-centre, namespace: organization-acme, parameterNotFoundAction: Deny}
"#,
    ))
    .unwrap();
    let params = json!({"data": {"cost-centre": "cc-42"}});
    let pairs = [MutatingPair {
        policy: Arc::new(policy),
        binding: Arc::new(binding),
        params: Params::Found(vec![params]),
    }];
    let req = request(
        Operation::Create,
        Some(project("p1", json!({"own": "x"}))),
        None,
    );
    let out = mutate(&pairs, &req, &Budget::default()).unwrap();
    assert_eq!(
        out.object.unwrap()["metadata"]["labels"],
        json!({"own": "x", "cost-centre": "cc-42"})
    );
    // Missing params with Deny: refused.
    let mut missing = pairs[0].clone();
    missing.params = Params::NotFound;
    assert!(mutate(&[missing], &req, &Budget::default()).is_err());
}

#[test]
fn example_naming_convention() {
    let policy = parse_validating_policy(&yaml(r#"
metadata: {name: project-names}
spec:
  matchConstraints:
    resourceRules:
    - {apiGroups: [resourcemanager.miloapis.com], apiVersions: ["*"], operations: [CREATE], resources: [projects]}
  validations:
  - expression: object.metadata.name.matches('^[a-z]+-(dev|prod)$')
    message: project names must be <team>-dev or <team>-prod
"#)).unwrap();
    let pairs = [pair(policy, binding(&["Deny"]))];
    let budget = Budget::default();
    let check = |name: &str| {
        validate(
            &pairs,
            &request(Operation::Create, Some(project(name, json!({}))), None),
            &budget,
        )
        .allowed()
    };
    assert!(check("billing-prod"));
    assert!(!check("billing"));
}

#[test]
fn example_personal_organizations_have_no_enterprise_projects() {
    let policy = parse_validating_policy(&yaml(r#"
metadata: {name: personal-not-enterprise}
spec:
  paramKind: {apiVersion: resourcemanager.miloapis.com/v1alpha1, kind: Organization}
  matchConstraints:
    resourceRules:
    - {apiGroups: [resourcemanager.miloapis.com], apiVersions: ["*"], operations: [CREATE, UPDATE], resources: [projects]}
  variables:
  - name: tier
    expression: "has(object.metadata.labels) && 'tier' in object.metadata.labels ? object.metadata.labels['tier'] : ''"
  validations:
  - expression: "!(params.spec.type == 'Personal' && variables.tier == 'enterprise')"
    message: a project in a Personal organization cannot carry tier=enterprise
    reason: Forbidden
"#)).unwrap();
    let b = parse_validating_binding(&yaml(
        r#"
metadata: {name: personal-not-enterprise}
spec:
  policyName: personal-not-enterprise
  paramRef: {selector: {}, parameterNotFoundAction: Allow}
  validationActions: [Deny]
"#,
    ))
    .unwrap();
    let budget = Budget::default();
    let run = |org_type: &str, tier: &str| {
        let pairs = [ValidatingPair {
            policy: Arc::new(policy.clone()),
            binding: Arc::new(b.clone()),
            params: Params::Found(vec![json!({"spec": {"type": org_type}})]),
        }];
        validate(
            &pairs,
            &request(
                Operation::Create,
                Some(project("p", json!({"tier": tier}))),
                None,
            ),
            &budget,
        )
    };
    assert!(run("Standard", "enterprise").allowed());
    assert!(run("Personal", "basic").allowed());
    let d = run("Personal", "enterprise");
    assert_eq!(d.denial.unwrap().code(), 403);
}

#[test]
fn example_protected_objects_cannot_be_deleted() {
    let policy = parse_validating_policy(&yaml(
        r#"
metadata: {name: protect}
spec:
  matchConstraints:
    resourceRules:
    - {apiGroups: ["*"], apiVersions: ["*"], operations: [DELETE], resources: ["*"]}
    objectSelector: {matchLabels: {protected: "true"}}
  validations:
  - expression: "false"
    messageExpression: "'object ' + oldObject.metadata.name + ' is protected'"
"#,
    ))
    .unwrap();
    let pairs = [pair(policy, binding(&["Deny"]))];
    let budget = Budget::default();
    let delete = |labels: Value| {
        validate(
            &pairs,
            &request(Operation::Delete, None, Some(project("p", labels))),
            &budget,
        )
    };
    assert!(delete(json!({})).allowed());
    assert!(delete(json!({"protected": "false"})).allowed());
    assert_eq!(
        delete(json!({"protected": "true"})).denial.unwrap().message,
        "ValidatingAdmissionPolicy 'protect' with binding 'b' denied request: object p is protected"
    );
}

// ---------------------------------------------------------------------------
// Milo conformance
// ---------------------------------------------------------------------------

const MILO: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/milo/scenarios/admission-validating-admission-policy"
);

fn milo_file(name: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(format!("{MILO}/{name}")).unwrap();
    serde_yaml::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .filter(|v: &Value| !v.is_null())
        .collect()
}

#[test]
fn milo_scenario_policy_denies_bad_names_and_allows_good_ones() {
    let docs = milo_file("resources/policy.yaml");
    let policy = parse_validating_policy(&docs[0]).unwrap();
    let b = parse_validating_binding(&docs[1]).unwrap();
    let pairs = [pair(policy, b)];
    let budget = Budget::default();
    for (file, allowed) in [
        ("project-bad-a.yaml", false),
        ("project-bad-b.yaml", false),
        ("project-good-a.yaml", true),
        ("project-good-b.yaml", true),
    ] {
        let object = milo_file(&format!("resources/{file}")).remove(0);
        let d = validate(
            &pairs,
            &request(Operation::Create, Some(object), None),
            &budget,
        );
        assert_eq!(d.allowed(), allowed, "{file}: {d:?}");
        if let Some(denial) = d.denial {
            assert_eq!(denial.message, "ValidatingAdmissionPolicy 'project-name-requires-ok-prefix' with binding 'project-name-requires-ok-prefix' denied request: Project name must start with 'vap-ok-'.");
            assert_eq!(denial.code(), 422);
        }
    }
    // Organizations are not projects; projects without the scenario label
    // are outside the binding.
    let org = milo_file("resources/org-a.yaml").remove(0);
    let mut req = request(Operation::Create, Some(org), None);
    req.resource = "organizations".into();
    assert!(validate(&pairs, &req, &budget).allowed());
    let unlabelled = project("bad-name", json!({}));
    assert!(validate(
        &pairs,
        &request(Operation::Create, Some(unlabelled), None),
        &budget
    )
    .allowed());
}

// ---------------------------------------------------------------------------
// examples/admission: every policy and binding shipped parses and compiles
// (their behaviour is tested through the API in shared/apiserver/tests)
// ---------------------------------------------------------------------------

#[test]
fn the_shipped_examples_parse_and_compile() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/admission");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let doc: Value = serde::Deserialize::deserialize(doc).unwrap();
            let parsed = match doc["kind"].as_str().unwrap_or_default() {
                "ValidatingAdmissionPolicy" => parse_validating_policy(&doc).map(drop),
                "ValidatingAdmissionPolicyBinding" => parse_validating_binding(&doc).map(drop),
                "MutatingAdmissionPolicy" => parse_mutating_policy(&doc).map(drop),
                "MutatingAdmissionPolicyBinding" => parse_mutating_binding(&doc).map(drop),
                _ => continue,
            };
            assert_eq!(
                parsed,
                Ok(()),
                "{}: {}",
                path.display(),
                doc["metadata"]["name"]
            );
            seen += 1;
        }
    }
    assert_eq!(seen, 8, "four policies and their bindings");
}
