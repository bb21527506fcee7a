//! Resource types registered at run time: CRDs, project-scoped objects,
//! namespaces, schema validation, evolution, discovery, the catalog cache.

mod common;
use common::*;
use serde_json::{json, Value};

const CRDS: &str = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";

fn project_ctx(project: &str) -> String {
    format!("{G}/projects/{project}/control-plane")
}

/// A namespaced `Widget` of example.com, served in projects, with a schema
/// that exercises the validation keywords and three CEL rules.
fn widget_crd() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "names": {"kind": "Widget", "plural": "widgets", "singular": "widget", "shortNames": ["wd"], "categories": ["all"]},
            "scope": "Namespaced",
            "versions": [{
                "name": "v1",
                "served": true,
                "storage": true,
                "subresources": {"status": {}},
                "selectableFields": [{"jsonPath": ".spec.color"}],
                "additionalPrinterColumns": [
                    {"name": "Color", "type": "string", "jsonPath": ".spec.color"},
                    {"name": "Size", "type": "integer", "jsonPath": ".spec.size"}
                ],
                "schema": {"openAPIV3Schema": widget_schema()}
            }]
        }
    })
}

fn widget_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "required": ["color"],
                "x-kubernetes-validations": [
                    {"rule": "self.min <= self.max", "message": "min must not exceed max"},
                    {"rule": "!has(self.sku) || self.sku.startsWith(self.color)", "messageExpression": "'sku must start with ' + self.color"}
                ],
                "properties": {
                    "color": {"type": "string", "enum": ["red", "green", "blue"]},
                    "size": {"type": "integer", "minimum": 1, "maximum": 10, "default": 3},
                    "min": {"type": "integer", "default": 0},
                    "max": {"type": "integer", "default": 100},
                    "sku": {"type": "string", "pattern": "^[a-z]+-[0-9]+$"},
                    "owner": {
                        "type": "string",
                        "x-kubernetes-validations": [{"rule": "self == oldSelf", "message": "owner is immutable"}]
                    },
                    "tags": {"type": "array", "maxItems": 3, "items": {"type": "string", "maxLength": 8}},
                    "port": {"x-kubernetes-int-or-string": true},
                    "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
                }
            },
            "status": {"type": "object", "properties": {"phase": {"type": "string"}}}
        }
    })
}

fn widget(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": name}, "spec": spec})
}

fn widgets(project: &str, ns: &str) -> String {
    format!(
        "{}/apis/example.com/v1/namespaces/{ns}/widgets",
        project_ctx(project)
    )
}

async fn register(api: &Api, crd: Value) -> Value {
    let r = api.post(CRDS, crd).await;
    assert_eq!(r.status, 201, "register: {}", r.body);
    r.body
}

fn condition<'a>(crd: &'a Value, type_: &str) -> &'a Value {
    crd["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == type_))
        .unwrap_or(&Value::Null)
}

async fn with_projects(api: &Api, names: &[&str]) {
    api.org("acme").await;
    for p in names {
        let r = api.project(p, "Organization", "acme").await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
}

#[tokio::test]
async fn a_registered_type_is_established_and_served_in_projects() {
    let api = api().await;
    let crd = register(&api, widget_crd()).await;
    assert_eq!(condition(&crd, "Established")["status"], "True", "{crd}");
    assert_eq!(condition(&crd, "NamesAccepted")["status"], "True");
    with_projects(&api, &["p1", "p2"]).await;
    let r = api
        .post(
            &widgets("p1", "default"),
            widget("w", json!({"color": "red"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    // Defaults applied.
    assert_eq!(r.body["spec"]["size"], 3);
    assert_eq!(r.body["metadata"]["namespace"], "default");
    // The same name in another project is another object.
    let r2 = api
        .post(
            &widgets("p2", "default"),
            widget("w", json!({"color": "blue"})),
        )
        .await;
    assert_eq!(r2.status, 201, "{}", r2.body);
    assert_ne!(r.body["metadata"]["uid"], r2.body["metadata"]["uid"]);
    let got = api.get(&format!("{}/w", widgets("p1", "default"))).await;
    assert_eq!(got.body["spec"]["color"], "red");
    let got = api.get(&format!("{}/w", widgets("p2", "default"))).await;
    assert_eq!(got.body["spec"]["color"], "blue");
    let list = api.get(&widgets("p1", "default")).await;
    assert_eq!(names(&list.body), ["w"]);
    // All namespaces of a project.
    let all = api
        .get(&format!(
            "{}/apis/example.com/v1/widgets",
            project_ctx("p1")
        ))
        .await;
    assert_eq!(names(&all.body), ["w"]);
    // Not served in an organization (no parent-contexts annotation: Project).
    let r = api
        .get(&format!(
            "{G}/organizations/acme/control-plane/apis/example.com/v1/widgets"
        ))
        .await;
    assert_eq!(r.status, 404);
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .contains("not served in the Organization context"),
        "{}",
        r.body
    );
    // The platform serves every type (#18), with its own objects: the
    // projects' are not there.
    let r = api
        .get("/apis/example.com/v1/namespaces/default/widgets")
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(names(&r.body), Vec::<String>::new());
}

#[tokio::test]
async fn namespaces_come_with_projects_and_organizations() {
    let api = api().await;
    register(&api, widget_crd()).await;
    with_projects(&api, &["p1"]).await;
    let ns = api
        .get(&format!("{}/api/v1/namespaces", project_ctx("p1")))
        .await;
    assert_eq!(names(&ns.body), ["default"], "{}", ns.body);
    let org_ns = api.get("/api/v1/namespaces/organization-acme").await;
    assert_eq!(org_ns.status, 200, "{}", org_ns.body);
    assert_eq!(org_ns.body["status"]["phase"], "Active");
    // Creating into a namespace that does not exist is refused, nothing written.
    let r = api
        .post(&widgets("p1", "team"), widget("w", json!({"color": "red"})))
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
    assert!(r.body["message"]
        .as_str()
        .unwrap()
        .contains("namespaces \"team\" not found"));
    let r = api
        .post(
            &format!("{}/api/v1/namespaces", project_ctx("p1")),
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = api
        .post(&widgets("p1", "team"), widget("w", json!({"color": "red"})))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    // `default` is never deleted on its own.
    let r = api
        .call(
            "DELETE",
            &format!("{}/api/v1/namespaces/default", project_ctx("p1")),
            None,
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    // A project whose namespace holds objects waits, Terminating, while
    // the gc deletes them (#21); then it goes, and its namespaces with it.
    let r = api.call("DELETE", &format!("{G}/projects/p1"), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body["metadata"]["deletionTimestamp"].is_string(),
        "{}",
        r.body
    );
    assert_eq!(
        api.get(&format!("{}/w", widgets("p1", "team")))
            .await
            .status,
        200
    );
    while apiserver::gc::sweep(&api.server).await.unwrap().deletes > 0 {}
    assert_eq!(api.get(&format!("{G}/projects/p1")).await.status, 404);
    let r = api.project("p1", "Organization", "acme").await;
    assert_eq!(r.status, 201);
    let ns = api
        .get(&format!("{}/api/v1/namespaces", project_ctx("p1")))
        .await;
    assert_eq!(names(&ns.body), ["default"], "{}", ns.body);
}

#[tokio::test]
async fn invalid_objects_get_one_cause_per_field_and_nothing_is_written() {
    let api = api().await;
    register(&api, widget_crd()).await;
    with_projects(&api, &["p1"]).await;
    let bad = widget(
        "bad",
        json!({"color": "pink", "size": 11, "sku": "x", "tags": ["a", "b", "c", "d"], "port": true}),
    );
    let r = api.post(&widgets("p1", "default"), bad).await;
    assert_eq!(r.status, 422, "{}", r.body);
    let mut fields = causes(&r.body);
    fields.sort();
    assert_eq!(
        fields,
        [
            "spec.color",
            "spec.port",
            "spec.size",
            "spec.sku",
            "spec.tags"
        ],
        "{}",
        r.body
    );
    let r = api.get(&format!("{}/bad", widgets("p1", "default"))).await;
    assert_eq!(r.status, 404);
    // A CEL rule on the spec.
    let r = api
        .post(
            &widgets("p1", "default"),
            widget("minmax", json!({"color": "red", "min": 5, "max": 1})),
        )
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(causes(&r.body), ["spec"]);
    assert!(
        r.body.to_string().contains("min must not exceed max"),
        "{}",
        r.body
    );
    // messageExpression
    let r = api
        .post(
            &widgets("p1", "default"),
            widget("sku", json!({"color": "red", "sku": "blue-1"})),
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(
        r.body.to_string().contains("sku must start with red"),
        "{}",
        r.body
    );
    // Required
    let r = api
        .post(&widgets("p1", "default"), widget("nocolor", json!({})))
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(causes(&r.body), ["spec.color"]);
}

#[tokio::test]
async fn unknown_fields_are_pruned_or_refused_when_strict() {
    let api = api().await;
    register(&api, widget_crd()).await;
    with_projects(&api, &["p1"]).await;
    let body = widget(
        "w",
        json!({"color": "red", "bogus": 1, "extra": {"free": {"form": true}}}),
    );
    let strict = api
        .post(
            &format!("{}?fieldValidation=Strict", widgets("p1", "default")),
            body.clone(),
        )
        .await;
    assert_eq!(strict.status, 400, "{}", strict.body);
    assert!(strict.body["message"]
        .as_str()
        .unwrap()
        .contains("unknown field \"spec.bogus\""));
    let r = api.post(&widgets("p1", "default"), body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(r.body["spec"].get("bogus").is_none());
    assert_eq!(r.body["spec"]["extra"]["free"]["form"], true);
    let warning = r
        .headers
        .get("warning")
        .map(|v| v.to_str().unwrap().to_string());
    assert!(warning.unwrap_or_default().contains("spec.bogus"));
}

#[tokio::test]
async fn transition_rules_and_ratcheting_on_update() {
    let api = api().await;
    register(&api, widget_crd()).await;
    with_projects(&api, &["p1"]).await;
    let url = widgets("p1", "default");
    let r = api
        .post(
            &url,
            widget("w", json!({"color": "red", "owner": "ann", "tags": ["a"]})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = api
        .call(
            "PATCH",
            &format!("{url}/w"),
            Some(json!({"spec": {"owner": "bob"}})),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.to_string().contains("owner is immutable"));
    // Tighten the schema: tags may now hold one item of at most 1 character.
    let mut crd = api.get(&format!("{CRDS}/widgets.example.com")).await.body;
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
        ["color"]["maxLength"] = json!(2);
    let r = api
        .call("PUT", &format!("{CRDS}/widgets.example.com"), Some(crd))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // color "red" is now invalid but unchanged: other changes go through.
    let r = api
        .call(
            "PATCH",
            &format!("{url}/w"),
            Some(json!({"spec": {"size": 4}})),
        )
        .await;
    assert_eq!(r.status, 200, "ratcheting: {}", r.body);
    // Changing it to another invalid value does not.
    let r = api
        .call(
            "PATCH",
            &format!("{url}/w"),
            Some(json!({"spec": {"color": "blue"}})),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(causes(&r.body), ["spec.color"]);
}

fn with_versions(mut crd: Value, versions: Value) -> Value {
    crd["spec"]["versions"] = versions;
    crd
}

fn version(name: &str, served: bool, storage: bool) -> Value {
    json!({"name": name, "served": served, "storage": storage, "schema": {"openAPIV3Schema": widget_schema()}})
}

#[tokio::test]
async fn schemas_evolve_and_old_objects_stay_readable() {
    let api = api().await;
    register(&api, widget_crd()).await;
    with_projects(&api, &["p1"]).await;
    let r = api
        .post(
            &widgets("p1", "default"),
            widget("old", json!({"color": "red"})),
        )
        .await;
    assert_eq!(r.status, 201);
    let crd_url = format!("{CRDS}/widgets.example.com");
    // Add v2 as the storage version; v1 deprecated.
    let mut v1 = version("v1", true, false);
    v1["deprecated"] = json!(true);
    let current = api.get(&crd_url).await.body;
    let mut next = with_versions(current, json!([v1, version("v2", true, true)]));
    let r = api.call("PUT", &crd_url, Some(next.clone())).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["status"]["storedVersions"],
        json!(["v1", "v2"]),
        "{}",
        r.body
    );
    let v2_url = format!(
        "{}/apis/example.com/v2/namespaces/default/widgets",
        project_ctx("p1")
    );
    let r = api.get(&format!("{v2_url}/old")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["apiVersion"], "example.com/v2");
    let r = api.get(&format!("{}/old", widgets("p1", "default"))).await;
    assert_eq!(r.body["apiVersion"], "example.com/v1");
    let warning = r
        .headers
        .get("warning")
        .expect("deprecation warning")
        .to_str()
        .unwrap();
    assert!(
        warning.contains("example.com/v1 Widget is deprecated"),
        "{warning}"
    );
    // Stop serving v1.
    next["spec"]["versions"][0]["served"] = json!(false);
    // null is "not set", as kubectl sends it: no precondition.
    next["metadata"]["resourceVersion"] = json!(null);
    let r = api.call("PUT", &crd_url, Some(next.clone())).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = api.get(&format!("{}/old", widgets("p1", "default"))).await;
    assert_eq!(r.status, 404);
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .contains("served versions: v2"),
        "{}",
        r.body
    );
    // Dropping v1 entirely would strand objects stored under it.
    let dropped = with_versions(next, json!([version("v2", true, true)]));
    let r = api.call("PUT", &crd_url, Some(dropped)).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.to_string().contains("v1"), "{}", r.body);
}

#[tokio::test]
async fn a_crd_with_objects_is_not_deleted() {
    let api = api().await;
    register(&api, widget_crd()).await;
    with_projects(&api, &["p1"]).await;
    for n in ["a", "b"] {
        let r = api
            .post(
                &widgets("p1", "default"),
                widget(n, json!({"color": "red"})),
            )
            .await;
        assert_eq!(r.status, 201);
    }
    let crd_url = format!("{CRDS}/widgets.example.com");
    let r = api.call("DELETE", &crd_url, None).await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(
        r.body["message"].as_str().unwrap().contains("2 objects"),
        "{}",
        r.body
    );
    for n in ["a", "b"] {
        let r = api
            .call("DELETE", &format!("{}/{n}", widgets("p1", "default")), None)
            .await;
        assert_eq!(r.status, 200);
    }
    let r = api.call("DELETE", &crd_url, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = api.get(&widgets("p1", "default")).await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn bad_crds_are_refused_and_nothing_is_registered() {
    let api = api().await;
    let cases: Vec<(&str, Value)> = vec![
        ("unknown type", {
            let mut c = widget_crd();
            c["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
                ["properties"]["size"]["type"] = json!("int");
            c
        }),
        ("CEL that does not compile", {
            let mut c = widget_crd();
            c["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
                ["x-kubernetes-validations"][0]["rule"] = json!("self.min <=");
            c
        }),
        ("name not plural.group", {
            let mut c = widget_crd();
            c["metadata"]["name"] = json!("widget.example.com");
            c
        }),
        ("no storage version", {
            let mut c = widget_crd();
            c["spec"]["versions"][0]["storage"] = json!(false);
            c
        }),
    ];
    for (what, crd) in cases {
        let r = api.post(CRDS, crd).await;
        assert_eq!(r.status, 422, "{what}: {}", r.body);
        assert!(!causes(&r.body).is_empty(), "{what}: {}", r.body);
    }
    let r = api.get(&format!("{CRDS}/widgets.example.com")).await;
    assert_eq!(r.status, 404);
    // A built-in type cannot be registered over.
    let mut org = widget_crd();
    org["metadata"]["name"] = json!("organizations.resourcemanager.miloapis.com");
    org["spec"]["group"] = json!("resourcemanager.miloapis.com");
    org["spec"]["names"]["plural"] = json!("organizations");
    let r = api.post(CRDS, org).await;
    assert_eq!(r.status, 403, "{}", r.body);
}

#[tokio::test]
async fn a_name_clash_is_reported_and_the_later_type_not_served() {
    let api = api().await;
    register(&api, widget_crd()).await;
    let mut twin = widget_crd();
    twin["metadata"]["name"] = json!("gadgets.example.com");
    twin["spec"]["names"]["plural"] = json!("gadgets");
    twin["spec"]["names"]["singular"] = json!("gadget");
    twin["spec"]["names"]["shortNames"] = json!([]);
    // Same kind Widget in the same group.
    let crd = register(&api, twin).await;
    assert_eq!(condition(&crd, "NamesAccepted")["status"], "False", "{crd}");
    assert_eq!(condition(&crd, "Established")["status"], "False");
    with_projects(&api, &["p1"]).await;
    let r = api
        .get(&format!(
            "{}/apis/example.com/v1/namespaces/default/gadgets",
            project_ctx("p1")
        ))
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
}

#[tokio::test]
async fn discovery_and_openapi_follow_the_catalog_per_context() {
    let api = api().await;
    register(&api, widget_crd()).await;
    with_projects(&api, &["p1"]).await;
    let r = api
        .get(&format!("{}/apis/example.com/v1", project_ctx("p1")))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let widgets_entry = &r.body["resources"][0];
    assert_eq!(widgets_entry["name"], "widgets");
    assert_eq!(widgets_entry["namespaced"], true);
    assert_eq!(widgets_entry["shortNames"], json!(["wd"]));
    let groups = api.get(&format!("{}/apis", project_ctx("p1"))).await;
    assert!(groups.body.to_string().contains("example.com"));
    // The platform lists every type (#18); an organization what it serves.
    let platform = api.get("/apis").await;
    assert!(
        platform.body.to_string().contains("\"example.com\""),
        "{}",
        platform.body
    );
    let org = api
        .get(&format!("{G}/organizations/acme/control-plane/apis"))
        .await;
    assert!(
        !org.body.to_string().contains("\"example.com\""),
        "{}",
        org.body
    );
    let doc = api
        .get(&format!(
            "{}/openapi/v3/apis/example.com/v1",
            project_ctx("p1")
        ))
        .await;
    assert_eq!(
        doc.body["components"]["schemas"]["com.example.v1.Widget"]["properties"]["spec"]
            ["properties"]["color"]["enum"],
        json!(["red", "green", "blue"])
    );
    // kubectl's fallback when a v3 read failed: an empty v2 document, not a
    // 404 that would fail the whole command.
    let v2 = api
        .raw("GET", "/openapi/v2", "", Vec::new(), Some(&api.token))
        .await;
    assert_eq!(v2.status, 200);
    // As kube-apiserver answers protobuf OpenAPI (Go's mime parser refuses
    // the `@` of the media type kubectl asks for).
    assert_eq!(v2.headers["content-type"], "application/octet-stream");
    assert_eq!(
        v2.body,
        Value::Null,
        "an empty protobuf message is no bytes"
    );
    // Printer columns and selectable fields.
    for (n, c) in [("r", "red"), ("g", "green")] {
        api.post(&widgets("p1", "default"), widget(n, json!({"color": c})))
            .await;
    }
    let r = api
        .get(&format!(
            "{}?fieldSelector=spec.color%3Dgreen",
            widgets("p1", "default")
        ))
        .await;
    assert_eq!(names(&r.body), ["g"], "{}", r.body);
    let r = api
        .get(&format!(
            "{}?fieldSelector=spec.size%3D3",
            widgets("p1", "default")
        ))
        .await;
    assert_eq!(r.status, 400);
    let table = api
        .raw(
            "GET",
            &widgets("p1", "default"),
            "application/json",
            Vec::new(),
            Some(&api.token),
        )
        .await;
    assert_eq!(table.status, 200);
}

#[tokio::test]
async fn a_type_change_is_in_force_on_another_instance_within_a_second() {
    let a = api().await;
    let b = a.sibling().await;
    with_projects(&a, &["p1"]).await;
    // B has a warm catalog without the type.
    let r = b.get(&widgets("p1", "default")).await;
    assert_eq!(r.status, 404);
    register(&a, widget_crd()).await;
    // A new type is found at once: a miss re-checks the stamp.
    let r = b
        .post(
            &widgets("p1", "default"),
            widget("w", json!({"color": "red"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    // A changed schema is in force on B within the refresh interval.
    let mut crd = a.get(&format!("{CRDS}/widgets.example.com")).await.body;
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
        ["color"]["enum"] = json!(["red"]);
    let r = a
        .call("PUT", &format!("{CRDS}/widgets.example.com"), Some(crd))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    tokio::time::sleep(apiserver::DEFAULT_CATALOG_REFRESH + std::time::Duration::from_millis(100))
        .await;
    let r = b
        .post(
            &widgets("p1", "default"),
            widget("g", json!({"color": "green"})),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
}

/// Milo's IAM kinds this platform serves itself (#20).
const BUILT_IN_IAM: [&str; 6] = [
    "roles",
    "policybindings",
    "users",
    "groups",
    "groupmemberships",
    "protectedresources",
];

/// Milo's CRDs register unchanged (those of the built-in kinds are served by
/// the platform's own), and its samples validate and are stored.
#[tokio::test]
async fn milo_crds_register_and_their_samples_round_trip() {
    let api = api().await;
    let shared = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/milo");
    let mut dir: Vec<_> = std::fs::read_dir(format!("{shared}/crds"))
        .expect("../shared/milo/crds")
        .map(|e| e.unwrap().path())
        .collect();
    dir.sort();
    for path in dir {
        let crd: Value = serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let name = crd["metadata"]["name"].as_str().unwrap().to_string();
        let r = api.post(CRDS, crd).await;
        if name.starts_with("organizations.")
            || name.starts_with("projects.")
            || name.starts_with("projectsuspensions.")
            || name.starts_with("organizationmemberships.")
            || name.starts_with("discoverycontextpolicies.")
            || name.ends_with(".quota.miloapis.com")
            || BUILT_IN_IAM
                .iter()
                .any(|p| name == format!("{p}.iam.miloapis.com"))
        {
            assert_eq!(r.status, 403, "{name} is built in: {}", r.body);
            continue;
        }
        assert_eq!(r.status, 201, "{name}: {}", r.body);
        assert_eq!(
            condition(&r.body, "Established")["status"],
            "True",
            "{name}: {}",
            r.body
        );
    }
    api.post(
        "/api/v1/namespaces",
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "datum-system"}}),
    )
    .await;
    api.org("datum").await;
    let mut dir: Vec<_> = std::fs::read_dir(format!("{shared}/samples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    dir.sort();
    let mut stored = 0;
    for path in dir {
        let text = std::fs::read_to_string(&path).unwrap();
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let sample: Value = serde::Deserialize::deserialize(doc).expect("sample YAML");
            let (group_version, kind) = (
                sample["apiVersion"].as_str().unwrap(),
                sample["kind"].as_str().unwrap(),
            );
            // Organizations are created above; ClusterNote has no CRD in
            // ../shared/milo/crds.
            if kind == "Organization" || kind == "ClusterNote" {
                continue;
            }
            let discovery = api.get(&format!("/apis/{group_version}")).await.body;
            let resource = discovery["resources"]
                .as_array()
                .and_then(|r| r.iter().find(|r| r["kind"] == kind))
                .unwrap_or_else(|| panic!("{kind} not in discovery: {discovery}"))
                .clone();
            let plural = resource["name"].as_str().unwrap();
            let url = if resource["namespaced"] == true {
                // As kubectl: the context's default namespace unless named.
                let ns = sample["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or("default");
                format!("/apis/{group_version}/namespaces/{ns}/{plural}")
            } else {
                format!("/apis/{group_version}/{plural}")
            };
            let r = api.post(&url, sample.clone()).await;
            assert_eq!(
                r.status, 201,
                "{} {}: {}",
                kind, sample["metadata"]["name"], r.body
            );
            let back = api
                .get(&format!(
                    "{url}/{}",
                    sample["metadata"]["name"].as_str().unwrap()
                ))
                .await;
            assert_eq!(back.body["spec"], r.body["spec"]);
            if kind == "PolicyBinding" {
                // Its uids name no stored User or Organization: accepted,
                // as Milo accepts it, and visibly granting nothing.
                let ready = &r.body["status"]["conditions"][0];
                assert_eq!(ready["status"], "False", "{}", r.body);
                assert_eq!(ready["reason"], "ReferenceNotFound", "{}", r.body);
            }
            stored += 1;
        }
    }
    assert!(stored >= 10, "only {stored} samples stored");
}

#[tokio::test]
async fn builtin_crds_are_listed_and_read_only() {
    let api = api().await;
    let list = api.get(CRDS).await;
    assert_eq!(list.status, 200, "{}", list.body);
    let listed = names(&list.body);
    for builtin in [
        "customresourcedefinitions.apiextensions.k8s.io",
        "folders.resourcemanager.miloapis.com",
        "namespaces",
        "organizations.resourcemanager.miloapis.com",
        "projects.resourcemanager.miloapis.com",
    ] {
        assert!(
            listed.iter().any(|n| n == builtin),
            "{builtin} not in {listed:?}"
        );
    }
    let org = api
        .get(&format!(
            "{CRDS}/organizations.resourcemanager.miloapis.com"
        ))
        .await;
    assert_eq!(condition(&org.body, "Established")["status"], "True");
    let r = api
        .call(
            "PATCH",
            &format!("{CRDS}/organizations.resourcemanager.miloapis.com"),
            Some(json!({"spec": {"names": {"shortNames": ["o"]}}})),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = api
        .call(
            "DELETE",
            &format!("{CRDS}/projects.resourcemanager.miloapis.com"),
            None,
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    // Still served.
    api.org("acme").await;
}

#[tokio::test]
async fn organization_scoped_types_live_in_their_organization() {
    let api = api().await;
    let mut crd = widget_crd();
    crd["metadata"]["annotations"] =
        json!({"discovery.miloapis.com/parent-contexts": "Organization"});
    crd["spec"]["scope"] = json!("Cluster");
    register(&api, crd).await;
    api.org("acme").await;
    api.org("globex").await;
    let in_org =
        |org: &str| format!("{G}/organizations/{org}/control-plane/apis/example.com/v1/widgets");
    for (org, color) in [("acme", "red"), ("globex", "blue")] {
        let r = api
            .post(&in_org(org), widget("shared-name", json!({"color": color})))
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let r = api.get(&format!("{}/shared-name", in_org("acme"))).await;
    assert_eq!(r.body["spec"]["color"], "red");
    assert_eq!(
        names(&api.get(&in_org("globex")).await.body),
        ["shared-name"]
    );
    // Not served in projects; the platform serves every type (#18), with
    // its own objects, not the organizations'.
    api.project("p1", "Organization", "globex").await;
    let in_project = format!("{G}/projects/p1/control-plane/apis/example.com/v1/widgets");
    assert_eq!(api.get(&in_project).await.status, 404);
    let platform = api.get("/apis/example.com/v1/widgets").await;
    assert_eq!(platform.status, 200, "{}", platform.body);
    assert_eq!(names(&platform.body), Vec::<String>::new());
    // The organization's delete takes its own objects, not another's.
    let r = api
        .call("DELETE", &format!("{G}/organizations/acme"), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    while apiserver::gc::sweep(&api.server).await.unwrap().deletes > 0 {}
    assert_eq!(
        api.get(&format!("{G}/organizations/acme")).await.status,
        404
    );
    assert_eq!(
        names(&api.get(&in_org("globex")).await.body),
        ["shared-name"]
    );
}
