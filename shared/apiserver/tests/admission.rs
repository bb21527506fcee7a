//! Admission policies (issue 4) through the whole pipeline: the four kinds
//! stored and checked when written, mutating then validating policies on
//! every write of every kind and context, params, narrowing by context,
//! dry run, the evaluation budget, and freshness across instances.

mod common;
use common::*;
use serde_json::{json, Value};

const ADM: &str = "/apis/admissionregistration.k8s.io/v1";
const CRDS: &str = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";

fn vaps() -> String {
    format!("{ADM}/validatingadmissionpolicies")
}
fn vapbs() -> String {
    format!("{ADM}/validatingadmissionpolicybindings")
}
fn maps() -> String {
    format!("{ADM}/mutatingadmissionpolicies")
}
fn mapbs() -> String {
    format!("{ADM}/mutatingadmissionpolicybindings")
}

fn policy(name: &str, rules: Value, spec: Value) -> Value {
    let mut spec = spec;
    spec["matchConstraints"] = json!({"resourceRules": rules});
    json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
           "metadata": {"name": name}, "spec": spec})
}

fn binding(name: &str, policy: &str, spec: Value) -> Value {
    let mut spec = spec;
    spec["policyName"] = json!(policy);
    if spec.get("validationActions").is_none() {
        spec["validationActions"] = json!(["Deny"]);
    }
    json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
           "metadata": {"name": name}, "spec": spec})
}

fn mutating(name: &str, rules: Value, spec: Value) -> Value {
    let mut spec = spec;
    spec["matchConstraints"] = json!({"resourceRules": rules});
    json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingAdmissionPolicy",
           "metadata": {"name": name}, "spec": spec})
}

fn mutating_binding(name: &str, policy: &str, spec: Value) -> Value {
    let mut spec = spec;
    spec["policyName"] = json!(policy);
    json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingAdmissionPolicyBinding",
           "metadata": {"name": name}, "spec": spec})
}

fn project_rules(operations: &[&str]) -> Value {
    json!([{"apiGroups": ["resourcemanager.miloapis.com"], "apiVersions": ["*"],
            "operations": operations, "resources": ["projects"]}])
}

async fn created(api: &Api, uri: &str, body: Value) -> Value {
    let r = api.post(uri, body).await;
    assert_eq!(r.status, 201, "POST {uri}: {}", r.body);
    r.body
}

/// A validating policy and its Deny binding, both named `name`.
async fn deny_policy(api: &Api, name: &str, rules: Value, spec: Value, binding_spec: Value) {
    created(api, &vaps(), policy(name, rules, spec)).await;
    created(api, &vapbs(), binding(name, name, binding_spec)).await;
}

fn message(r: &Reply) -> String {
    r.body["message"].as_str().unwrap_or_default().to_string()
}

fn warnings(r: &Reply) -> Vec<String> {
    r.headers
        .get_all("warning")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

fn ready(binding: &Value) -> (String, String) {
    let c = binding["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
        .cloned()
        .unwrap_or(Value::Null);
    (
        c["status"].as_str().unwrap_or_default().to_string(),
        c["reason"].as_str().unwrap_or_default().to_string(),
    )
}

/// A namespaced Widget served in projects, and a cluster-scoped Config
/// served in the platform (params).
fn widget_crd() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "names": {"kind": "Widget", "plural": "widgets", "singular": "widget"},
            "scope": "Namespaced",
            "versions": [{"name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {"color": {"type": "string", "enum": ["red", "green", "blue"]}}},
                    "status": {"type": "object", "properties": {"phase": {"type": "string"}}}}}}}]
        }
    })
}

fn config_crd() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "configs.example.com",
                     "annotations": {"discovery.miloapis.com/parent-contexts": "Platform"}},
        "spec": {
            "group": "example.com",
            "names": {"kind": "Config", "plural": "configs", "singular": "config"},
            "scope": "Cluster",
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "data": {"type": "object", "additionalProperties": {"type": "string"}}}}}}]
        }
    })
}

fn widgets(project: &str) -> String {
    format!("{G}/projects/{project}/control-plane/apis/example.com/v1/namespaces/default/widgets")
}

fn widget(name: &str, color: &str) -> Value {
    json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": name}, "spec": {"color": color}})
}

// ---------------------------------------------------------------------------
// The kinds, checked when written
// ---------------------------------------------------------------------------

#[tokio::test]
async fn policies_that_do_not_compile_are_refused_and_nothing_is_written() {
    let api = api().await;
    let bad = policy(
        "bad",
        project_rules(&["CREATE"]),
        json!({"validations": [
            {"expression": "object.metadata.name.startsWith("},
            {"expression": "nope == 1"},
        ]}),
    );
    let r = api.post(&vaps(), bad).await;
    assert_eq!(
        (r.status, r.body["reason"].as_str()),
        (422, Some("Invalid")),
        "{}",
        r.body
    );
    assert_eq!(
        causes(&r.body),
        [
            "spec.validations[0].expression",
            "spec.validations[1].expression"
        ]
    );
    assert_eq!(api.get(&format!("{}/bad", vaps())).await.status, 404);

    let r = api
        .post(
            &maps(),
            mutating(
                "bad",
                project_rules(&["CREATE"]),
                json!({"mutations": [{"patchType": "JSONPatch", "jsonPatch": {"expression": "[JSONPatch{op: 'add'"}}]}),
            ),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(causes(&r.body), ["spec.mutations[0].jsonPatch.expression"]);
    assert_eq!(api.get(&format!("{}/bad", maps())).await.status, 404);

    // A binding without validationActions, a mutating binding without a policy name.
    let mut b = binding("b", "p", json!({}));
    b["spec"]["validationActions"] = json!([]);
    let r = api.post(&vapbs(), b).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(causes(&r.body), ["spec.validationActions"]);
    let r = api
        .post(&mapbs(), mutating_binding("b", "", json!({})))
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(causes(&r.body), ["spec.policyName"]);

    // An update that breaks a stored policy is refused too; the old one stays.
    let good = created(
        &api,
        &vaps(),
        policy(
            "good",
            project_rules(&["CREATE"]),
            json!({"validations": [{"expression": "true"}]}),
        ),
    )
    .await;
    let mut broken = good.clone();
    broken["spec"]["validations"][0]["expression"] = json!("object.(");
    let r = api
        .call("PUT", &format!("{}/good", vaps()), Some(broken))
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    let stored = api.get(&format!("{}/good", vaps())).await.body;
    assert_eq!(stored["spec"]["validations"][0]["expression"], "true");
}

#[tokio::test]
async fn the_kinds_are_platform_level_and_mutating_ones_are_served_at_v1beta1_too() {
    let api = api().await;
    api.org("acme").await;
    let r = api
        .get(&format!(
            "{G}/organizations/acme/control-plane/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies"
        ))
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
    let mut p = mutating(
        "beta",
        project_rules(&["CREATE"]),
        json!({"mutations": [{"patchType": "ApplyConfiguration", "applyConfiguration": {"expression": "Object{metadata: Object.metadata{labels: {'x': 'y'}}}"}}]}),
    );
    p["apiVersion"] = json!("admissionregistration.k8s.io/v1beta1");
    let r = api
        .post(
            "/apis/admissionregistration.k8s.io/v1beta1/mutatingadmissionpolicies",
            p,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["apiVersion"], "admissionregistration.k8s.io/v1beta1");
    let r = api.get(&format!("{}/beta", maps())).await;
    assert_eq!(r.body["apiVersion"], "admissionregistration.k8s.io/v1");
}

#[tokio::test]
async fn a_binding_to_a_missing_policy_is_accepted_with_a_condition_that_follows_the_policy() {
    let api = api().await;
    let b = created(&api, &vapbs(), binding("b", "later", json!({}))).await;
    assert_eq!(ready(&b), ("False".into(), "PolicyNotFound".into()));
    assert!(b["status"]["conditions"][0]["message"]
        .as_str()
        .unwrap()
        .contains("ValidatingAdmissionPolicy \"later\" does not exist"));
    // It has no effect meanwhile.
    api.org("acme").await;
    assert_eq!(api.project("p1", "Organization", "acme").await.status, 201);

    // The policy arrives: the binding, read, says it is in force...
    created(
        &api,
        &vaps(),
        policy(
            "later",
            project_rules(&["CREATE"]),
            json!({"validations": [{"expression": "false", "message": "no projects"}]}),
        ),
    )
    .await;
    let got = api.get(&format!("{}/b", vapbs())).await.body;
    assert_eq!(ready(&got), ("True".into(), "PolicyFound".into()));
    let listed = api.get(&vapbs()).await.body;
    assert_eq!(
        ready(&listed["items"][0]),
        ("True".into(), "PolicyFound".into())
    );
    // ... and is.
    let r = api.project("p2", "Organization", "acme").await;
    assert_eq!(r.status, 422, "{}", r.body);

    // The policy goes: the binding says so again, and has no effect.
    let r = api.call("DELETE", &format!("{}/later", vaps()), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let got = api.get(&format!("{}/b", vapbs())).await.body;
    assert_eq!(ready(&got), ("False".into(), "PolicyNotFound".into()));
    assert_eq!(api.project("p3", "Organization", "acme").await.status, 201);

    // Mutating bindings likewise.
    let b = created(&api, &mapbs(), mutating_binding("m", "none", json!({}))).await;
    assert_eq!(ready(&b), ("False".into(), "PolicyNotFound".into()));
}

// ---------------------------------------------------------------------------
// Validating policies on the request path
// ---------------------------------------------------------------------------

/// The Milo scenario's policy, applied as kubectl would.
#[tokio::test]
async fn the_milo_scenario_policy_denies_bad_project_names_in_every_organization() {
    let api = api().await;
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/milo/scenarios/admission-validating-admission-policy/resources"
    );
    let text = std::fs::read_to_string(format!("{dir}/policy.yaml")).unwrap();
    for doc in serde_yaml::Deserializer::from_str(&text) {
        let doc: Value = serde::Deserialize::deserialize(doc).unwrap();
        if doc.is_null() {
            continue;
        }
        let plural = if doc["kind"] == "ValidatingAdmissionPolicy" {
            vaps()
        } else {
            vapbs()
        };
        created(&api, &plural, doc).await;
    }
    api.org("org-a").await;
    api.org("org-b").await;
    for org in ["org-a", "org-b"] {
        let in_org = format!(
            "{G}/organizations/{org}/control-plane{}",
            "/apis/resourcemanager.miloapis.com/v1alpha1/projects"
        );
        let label = json!({"test.miloapis.com/scenario": "validating-admission-policy"});
        let mut bad = project(&format!("bad-vap-{org}"), "Organization", org);
        bad["metadata"]["labels"] = label.clone();
        let r = api.post(&in_org, bad).await;
        assert_eq!(
            (r.status, r.body["reason"].as_str()),
            (422, Some("Invalid")),
            "{}",
            r.body
        );
        assert_eq!(
            message(&r),
            "ValidatingAdmissionPolicy 'project-name-requires-ok-prefix' with binding 'project-name-requires-ok-prefix' denied request: Project name must start with 'vap-ok-'."
        );
        assert_eq!(
            api.get(&format!("{G}/projects/bad-vap-{org}")).await.status,
            404
        );
        let mut good = project(&format!("vap-ok-good-{org}"), "Organization", org);
        good["metadata"]["labels"] = label;
        let r = api.post(&in_org, good).await;
        assert_eq!(r.status, 201, "{}", r.body);
        // Without the scenario's label the binding does not select it.
        assert_eq!(
            api.project(&format!("plain-{org}"), "Organization", org)
                .await
                .status,
            201
        );
    }
}

#[tokio::test]
async fn reasons_warnings_audit_and_message_expressions() {
    let api = api().await;
    api.org("acme").await;
    deny_policy(
        &api,
        "forbidden",
        project_rules(&["CREATE"]),
        json!({"validations": [{"expression": "!object.metadata.name.startsWith('x-')",
            "messageExpression": "'no x- projects, ' + request.userInfo.username", "reason": "Forbidden"}]}),
        json!({}),
    )
    .await;
    let r = api.project("x-1", "Organization", "acme").await;
    assert_eq!(
        (r.status, r.body["reason"].as_str()),
        (403, Some("Forbidden")),
        "{}",
        r.body
    );
    assert!(
        message(&r).ends_with("denied request: no x- projects, tester"),
        "{}",
        r.body
    );

    created(
        &api,
        &vaps(),
        policy(
            "short",
            project_rules(&["CREATE"]),
            json!({"validations": [{"expression": "object.metadata.name.size() <= 4", "message": "name is long"}],
                   "auditAnnotations": [{"key": "name", "valueExpression": "object.metadata.name"}]}),
        ),
    )
    .await;
    created(
        &api,
        &vapbs(),
        binding(
            "short-warn",
            "short",
            json!({"validationActions": ["Warn", "Audit"]}),
        ),
    )
    .await;
    let r = api.project("longname", "Organization", "acme").await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(
        warnings(&r).iter().any(|w| w
            == "299 - \"Validation failed for ValidatingAdmissionPolicy 'short' with binding 'short-warn': name is long\""),
        "{:?}",
        warnings(&r)
    );
    let r = api.project("ok", "Organization", "acme").await;
    assert_eq!(r.status, 201);
    assert!(warnings(&r).is_empty());
}

#[tokio::test]
async fn deletes_and_updates_are_validated_with_old_object() {
    let api = api().await;
    api.org("acme").await;
    deny_policy(
        &api,
        "protected",
        project_rules(&["DELETE"]),
        json!({"validations": [{"expression": "oldObject.metadata.?labels[?'protected'].orValue('') != 'true'",
            "message": "protected", "reason": "Forbidden"}]}),
        json!({}),
    )
    .await;
    deny_policy(
        &api,
        "tier-stays",
        project_rules(&["UPDATE"]),
        json!({"validations": [{"expression":
            "object.metadata.?labels[?'tier'].orValue('') == oldObject.metadata.?labels[?'tier'].orValue('')",
            "message": "tier is fixed"}]}),
        json!({}),
    )
    .await;
    let mut p = project("keep", "Organization", "acme");
    p["metadata"]["labels"] = json!({"protected": "true", "tier": "gold"});
    created(&api, &format!("{G}/projects"), p).await;
    let uri = format!("{G}/projects/keep");
    // DELETE, dry run or not: denied, nothing deleted.
    for query in ["?dryRun=All", ""] {
        let r = api.call("DELETE", &format!("{uri}{query}"), None).await;
        assert_eq!(r.status, 403, "{}", r.body);
        assert!(message(&r).contains("denied request: protected"));
    }
    assert_eq!(api.get(&uri).await.status, 200);
    // UPDATE by merge patch: the rule sees oldObject.
    let r = api
        .call(
            "PATCH",
            &uri,
            Some(json!({"metadata": {"labels": {"tier": "bronze"}}})),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(
        api.get(&uri).await.body["metadata"]["labels"]["tier"],
        "gold"
    );
    let r = api
        .call(
            "PATCH",
            &uri,
            Some(json!({"metadata": {"labels": {"protected": null}}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = api.call("DELETE", &uri, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn registered_kinds_in_projects_and_the_status_subresource() {
    let api = api().await;
    api.org("acme").await;
    assert_eq!(api.project("p1", "Organization", "acme").await.status, 201);
    created(&api, CRDS, widget_crd()).await;
    let rules = json!([{"apiGroups": ["example.com"], "apiVersions": ["v1"],
        "operations": ["CREATE", "UPDATE"], "resources": ["widgets", "widgets/status"]}]);
    deny_policy(
        &api,
        "no-blue",
        rules,
        json!({"validations": [
            {"expression": "request.subResource == 'status' || object.spec.color != 'blue'", "message": "no blue widgets"},
            {"expression": "request.subResource != 'status' || object.status.phase != 'Broken'", "message": "not broken"},
            {"expression": "namespaceObject.metadata.name == 'default'"}]}),
        json!({}),
    )
    .await;
    let r = api.post(&widgets("p1"), widget("w1", "blue")).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(message(&r).contains("no blue widgets"));
    created(&api, &widgets("p1"), widget("w1", "red")).await;
    let status = format!("{}/w1/status", widgets("p1"));
    let r = api
        .call(
            "PATCH",
            &status,
            Some(json!({"status": {"phase": "Broken"}})),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(message(&r).contains("not broken"));
    let r = api
        .call("PATCH", &status, Some(json!({"status": {"phase": "Fine"}})))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

// ---------------------------------------------------------------------------
// Mutating policies, then validating
// ---------------------------------------------------------------------------

#[tokio::test]
async fn mutations_apply_before_validation_and_dry_run_returns_the_would_be_object() {
    let api = api().await;
    api.org("acme").await;
    created(
        &api,
        &maps(),
        mutating(
            "tag",
            project_rules(&["CREATE", "UPDATE"]),
            json!({"mutations": [{"patchType": "ApplyConfiguration", "applyConfiguration": {"expression": "Object{metadata: Object.metadata{labels: {'cost-centre': 'cc-' + object.metadata.labels['resourcemanager.miloapis.com/organization-name']}}}"}}]}),
        ),
    )
    .await;
    created(&api, &mapbs(), mutating_binding("tag", "tag", json!({}))).await;
    created(
        &api,
        &maps(),
        mutating(
            "annotate",
            project_rules(&["CREATE"]),
            json!({"mutations": [{"patchType": "JSONPatch", "jsonPatch": {"expression": "[JSONPatch{op: 'add', path: '/metadata/annotations', value: {'tagged-by': 'policy'}}]"}}]}),
        ),
    )
    .await;
    created(
        &api,
        &mapbs(),
        mutating_binding("annotate", "annotate", json!({})),
    )
    .await;
    // The validating policy needs the label the mutation adds.
    deny_policy(
        &api,
        "needs-cost-centre",
        project_rules(&["CREATE", "UPDATE"]),
        json!({"validations": [{"expression": "object.metadata.?labels[?'cost-centre'].hasValue()"}]}),
        json!({}),
    )
    .await;

    // Dry run: the whole pipeline, the mutated object back, nothing written.
    let r = api
        .post(
            &format!("{G}/projects?dryRun=All"),
            project("dry", "Organization", "acme"),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["metadata"]["labels"]["cost-centre"], "cc-acme");
    assert_eq!(r.body["metadata"]["annotations"]["tagged-by"], "policy");
    assert_eq!(api.get(&format!("{G}/projects/dry")).await.status, 404);

    let r = api.project("p1", "Organization", "acme").await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["metadata"]["labels"]["cost-centre"], "cc-acme");
    let stored = api.get(&format!("{G}/projects/p1")).await.body;
    assert_eq!(stored["metadata"]["labels"]["cost-centre"], "cc-acme");
    assert_eq!(stored["metadata"]["annotations"]["tagged-by"], "policy");
    // The server's own metadata is kept whatever the mutations do.
    assert_eq!(
        stored["metadata"]["labels"]["resourcemanager.miloapis.com/organization-name"],
        "acme"
    );

    // An update that removes the label gets it back; a dry-run update
    // shows that and writes nothing.
    let uri = format!("{G}/projects/p1");
    let remove = json!({"metadata": {"labels": {"cost-centre": null, "extra": "x"}}});
    let r = api
        .call("PATCH", &format!("{uri}?dryRun=All"), Some(remove.clone()))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["metadata"]["labels"]["cost-centre"], "cc-acme");
    assert_eq!(r.body["metadata"]["labels"]["extra"], "x");
    assert!(api.get(&uri).await.body["metadata"]["labels"]
        .get("extra")
        .is_none());
    let r = api.call("PATCH", &uri, Some(remove)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["metadata"]["labels"]["cost-centre"], "cc-acme");

    // A dry run that a policy refuses is refused.
    let r = api.call("DELETE", &format!("{}/tag", mapbs()), None).await;
    assert_eq!(r.status, 200);
    let r = api
        .post(
            &format!("{G}/projects?dryRun=All"),
            project("dry2", "Organization", "acme"),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
}

#[tokio::test]
async fn a_failing_mutation_denies_or_is_ignored_and_cannot_move_a_project() {
    let api = api().await;
    api.org("acme").await;
    api.org("other").await;
    created(
        &api,
        &maps(),
        mutating(
            "move",
            project_rules(&["CREATE"]),
            json!({"mutations": [{"patchType": "ApplyConfiguration", "applyConfiguration": {"expression": "Object{spec: Object.spec{ownerRef: Object.spec.ownerRef{name: 'other'}}}"}}]}),
        ),
    )
    .await;
    created(&api, &mapbs(), mutating_binding("move", "move", json!({}))).await;
    let r = api.project("p1", "Organization", "acme").await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(causes(&r.body), ["spec.ownerRef"]);
    api.call("DELETE", &format!("{}/move", mapbs()), None).await;

    for (failure, status) in [("Fail", 422), ("Ignore", 201)] {
        let name = format!("broken-{}", failure.to_lowercase());
        created(
            &api,
            &maps(),
            mutating(
                &name,
                project_rules(&["CREATE"]),
                json!({"failurePolicy": failure, "mutations": [{"patchType": "JSONPatch", "jsonPatch": {"expression": "[JSONPatch{op: 'remove', path: '/spec/nothing/here'}]"}}]}),
            ),
        )
        .await;
        created(&api, &mapbs(), mutating_binding(&name, &name, json!({}))).await;
        let r = api
            .project(
                &format!("p-{}", failure.to_lowercase()),
                "Organization",
                "acme",
            )
            .await;
        assert_eq!(r.status, status, "{}", r.body);
        if status == 422 {
            assert!(message(&r).starts_with(&format!(
                "MutatingAdmissionPolicy '{name}' with binding '{name}' denied request"
            )));
        }
        api.call("DELETE", &format!("{}/{name}", mapbs()), None)
            .await;
    }
}

// ---------------------------------------------------------------------------
// Params
// ---------------------------------------------------------------------------

#[tokio::test]
async fn params_are_read_and_a_missing_param_follows_the_binding() {
    let api = api().await;
    api.org("acme").await;
    created(&api, CRDS, config_crd()).await;
    let configs = "/apis/example.com/v1/configs";
    created(
        &api,
        configs,
        json!({"apiVersion": "example.com/v1", "kind": "Config", "metadata": {"name": "limits",
               "labels": {"use": "naming"}}, "data": {"prefix": "team-"}}),
    )
    .await;
    let mut p = policy(
        "prefix",
        project_rules(&["CREATE"]),
        json!({"validations": [{"expression": "object.metadata.name.startsWith(params.data.prefix)",
            "messageExpression": "'name must start with ' + params.data.prefix"}]}),
    );
    p["spec"]["paramKind"] = json!({"apiVersion": "example.com/v1", "kind": "Config"});
    created(&api, &vaps(), p).await;
    created(
        &api,
        &vapbs(),
        binding(
            "by-name",
            "prefix",
            json!({"paramRef": {"name": "limits", "parameterNotFoundAction": "Deny"}}),
        ),
    )
    .await;
    let r = api.project("p1", "Organization", "acme").await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        message(&r).ends_with("name must start with team-"),
        "{}",
        r.body
    );
    assert_eq!(
        api.project("team-1", "Organization", "acme").await.status,
        201
    );

    // By selector: every matching param is evaluated.
    api.call("DELETE", &format!("{}/by-name", vapbs()), None)
        .await;
    created(
        &api,
        &vapbs(),
        binding(
            "by-selector",
            "prefix",
            json!({"paramRef": {"selector": {"matchLabels": {"use": "naming"}}, "parameterNotFoundAction": "Deny"}}),
        ),
    )
    .await;
    assert_eq!(api.project("p2", "Organization", "acme").await.status, 422);
    assert_eq!(
        api.project("team-2", "Organization", "acme").await.status,
        201
    );
    api.call("DELETE", &format!("{}/by-selector", vapbs()), None)
        .await;

    // A missing param: Deny is a clear denial, Allow skips the policy.
    created(
        &api,
        &vapbs(),
        binding(
            "missing-deny",
            "prefix",
            json!({"paramRef": {"name": "gone", "parameterNotFoundAction": "Deny"}}),
        ),
    )
    .await;
    let r = api.project("team-3", "Organization", "acme").await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        message(&r)
            .contains("no params found for policy binding with `Deny` parameterNotFoundAction"),
        "{}",
        r.body
    );
    assert_eq!(api.get(&format!("{G}/projects/team-3")).await.status, 404);
    api.call("DELETE", &format!("{}/missing-deny", vapbs()), None)
        .await;
    created(
        &api,
        &vapbs(),
        binding(
            "missing-allow",
            "prefix",
            json!({"paramRef": {"name": "gone", "parameterNotFoundAction": "Allow"}}),
        ),
    )
    .await;
    assert_eq!(api.project("p4", "Organization", "acme").await.status, 201);
}

// ---------------------------------------------------------------------------
// Narrowing to an organization or project
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_binding_narrows_to_an_organization_or_project_by_namespace_selector() {
    let api = api().await;
    api.org("acme").await;
    api.org("globex").await;
    for (p, org) in [("a1", "acme"), ("g1", "globex")] {
        assert_eq!(api.project(p, "Organization", org).await.status, 201);
    }
    created(&api, CRDS, widget_crd()).await;
    let everything = json!([{"apiGroups": ["*"], "apiVersions": ["*"], "operations": ["CREATE"], "resources": ["*"]}]);
    deny_policy(
        &api,
        "acme-only",
        everything.clone(),
        json!({"validations": [{"expression": "false", "message": "acme is frozen"}]}),
        json!({"matchResources": {"namespaceSelector": {"matchLabels": {
            "resourcemanager.miloapis.com/organization-name": "acme"}}}}),
    )
    .await;
    // Projects (cluster-scoped, platform) by their organization, from either URL.
    assert_eq!(api.project("a2", "Organization", "acme").await.status, 422);
    let in_acme = format!(
        "{G}/organizations/acme/control-plane/apis/resourcemanager.miloapis.com/v1alpha1/projects"
    );
    assert_eq!(
        api.post(&in_acme, project("a3", "Organization", "acme"))
            .await
            .status,
        422
    );
    assert_eq!(
        api.project("g2", "Organization", "globex").await.status,
        201
    );
    // Namespaced objects in a project of the organization.
    let r = api.post(&widgets("a1"), widget("w", "red")).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(message(&r).contains("acme is frozen"));
    assert_eq!(
        api.post(&widgets("g1"), widget("w", "red")).await.status,
        201
    );
    // Platform objects that belong to no organization are not narrowed in.
    assert_eq!(api.org("initech").await.status, 201);

    // One project.
    deny_policy(
        &api,
        "g1-only",
        json!([{"apiGroups": ["example.com"], "apiVersions": ["*"], "operations": ["CREATE"], "resources": ["widgets"]}]),
        json!({"validations": [{"expression": "false", "message": "g1 is frozen"}]}),
        json!({"matchResources": {"namespaceSelector": {"matchLabels": {
            "resourcemanager.miloapis.com/project-name": "g1"}}}}),
    )
    .await;
    let r = api.post(&widgets("g1"), widget("w2", "red")).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(message(&r).contains("g1 is frozen"));
    api.project("g3", "Organization", "globex").await;
    assert_eq!(
        api.post(&widgets("g3"), widget("w", "red")).await.status,
        201
    );
}

// ---------------------------------------------------------------------------
// Bounded evaluation, exemption, freshness
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_pathological_expression_is_cut_short_per_failure_policy() {
    let mut api = api().await;
    // A deadline far below what 10^8 CEL steps take in any build: the
    // outcome does not depend on the machine's speed.
    api.server = api
        .server
        .with_admission_budget(domain::admission::Budget::new(
            std::time::Duration::from_millis(20),
            4,
        ));
    api.org("acme").await;
    let slow = json!({"validations": [{"expression":
        "lists.range(10000).all(x, lists.range(10000).all(y, x + y >= 0))"}]});
    for (failure, status) in [("Fail", 422), ("Ignore", 201)] {
        let name = format!("slow-{}", failure.to_lowercase());
        let mut spec = slow.clone();
        spec["failurePolicy"] = json!(failure);
        deny_policy(&api, &name, project_rules(&["CREATE"]), spec, json!({})).await;
        let r = api
            .project(
                &format!("p-{}", failure.to_lowercase()),
                "Organization",
                "acme",
            )
            .await;
        assert_eq!(r.status, status, "{}", r.body);
        if status == 422 {
            assert!(
                message(&r).contains("exceeded its time budget"),
                "{}",
                r.body
            );
        }
        api.call("DELETE", &format!("{}/{name}", vapbs()), None)
            .await;
    }
}

#[tokio::test]
async fn policies_do_not_apply_to_their_own_kinds() {
    let api = api().await;
    let everything = json!([{"apiGroups": ["*"], "apiVersions": ["*"],
        "operations": ["CREATE", "UPDATE", "DELETE"], "resources": ["*"]}]);
    deny_policy(
        &api,
        "lockout",
        everything,
        json!({"validations": [{"expression": "false"}]}),
        json!({}),
    )
    .await;
    let orgs = format!("{G}/organizations");
    assert_eq!(api.post(&orgs, organization("acme")).await.status, 422);
    // The policy's own kinds are exempt: it can be changed and removed.
    let mut p = api.get(&format!("{}/lockout", vaps())).await.body;
    p["spec"]["validations"][0]["message"] = json!("locked");
    let r = api
        .call("PUT", &format!("{}/lockout", vaps()), Some(p))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = api
        .call("DELETE", &format!("{}/lockout", vapbs()), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(api.post(&orgs, organization("acme")).await.status, 201);
}

#[tokio::test]
async fn a_policy_change_is_in_force_on_another_instance_within_a_second() {
    let a = api().await;
    let b = a.sibling().await;
    a.org("acme").await;
    // B has read the (empty) policies.
    assert_eq!(b.project("p1", "Organization", "acme").await.status, 201);
    deny_policy(
        &a,
        "frozen",
        project_rules(&["CREATE"]),
        json!({"validations": [{"expression": "false", "message": "frozen"}]}),
        json!({}),
    )
    .await;
    // A, which wrote it, enforces it at once.
    assert_eq!(a.project("p2", "Organization", "acme").await.status, 422);
    let interval = apiserver::DEFAULT_CATALOG_REFRESH + std::time::Duration::from_millis(100);
    tokio::time::sleep(interval).await;
    let r = b.project("p3", "Organization", "acme").await;
    assert_eq!(r.status, 422, "{}", r.body);
    a.call("DELETE", &format!("{}/frozen", vapbs()), None).await;
    tokio::time::sleep(interval).await;
    assert_eq!(b.project("p4", "Organization", "acme").await.status, 201);
}

/// What the admission function will call: both phases on a request that
/// is not written.
#[tokio::test]
async fn review_admission_mutates_then_validates_without_writing() {
    let api = api().await;
    created(
        &api,
        &maps(),
        mutating(
            "tag",
            project_rules(&["CREATE"]),
            json!({"mutations": [{"patchType": "ApplyConfiguration", "applyConfiguration": {"expression": "Object{metadata: Object.metadata{labels: {'tier': 'enterprise'}}}"}}]}),
        ),
    )
    .await;
    created(&api, &mapbs(), mutating_binding("tag", "tag", json!({}))).await;
    deny_policy(
        &api,
        "no-enterprise",
        project_rules(&["CREATE"]),
        json!({"validations": [{"expression": "object.metadata.?labels[?'tier'].orValue('') != 'enterprise'",
            "message": "no enterprise projects", "reason": "Forbidden"}]}),
        json!({}),
    )
    .await;
    let object = project("p1", "Organization", "acme");
    let request = domain::admission::AdmissionRequest {
        uid: "review-1".into(),
        operation: domain::admission::Operation::Create,
        group: "resourcemanager.miloapis.com".into(),
        version: "v1alpha1".into(),
        resource: "projects".into(),
        subresource: String::new(),
        kind: "Project".into(),
        namespace: None,
        name: "p1".into(),
        object: Some(object),
        old_object: None,
        namespace_object: None,
        context_labels: None,
        user_info: domain::admission::UserInfo::default(),
        dry_run: false,
    };
    let review = api.server.review_admission(&request).await.unwrap();
    assert_eq!(review.mutations, [("tag".to_string(), "tag".to_string())]);
    assert_eq!(
        review.object.as_ref().unwrap()["metadata"]["labels"]["tier"],
        "enterprise"
    );
    let denial = review.decision.denial.expect("denied");
    assert_eq!(denial.code(), 403);
    assert!(denial
        .message
        .ends_with("denied request: no enterprise projects"));
    assert_eq!(api.get(&format!("{G}/projects/p1")).await.status, 404);
}
