//! kubectl registering a type and using it inside projects: apply a CRD,
//! wait for Established, create valid and invalid objects, evolve the
//! schema, discovery and explain; Milo's Note CRD and samples round-trip.

use e2e::{unique, Stack};

fn crd_yaml(group: &str, color_enum: &str, extra_version: &str) -> String {
    format!(
        r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.{group}
spec:
  group: {group}
  names: {{kind: Gadget, plural: gadgets, singular: gadget, shortNames: [gdg]}}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    additionalPrinterColumns:
    - {{name: Color, type: string, jsonPath: .spec.color}}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [color]
            x-kubernetes-validations:
            - rule: "self.size <= 10"
              message: size is at most 10
            properties:
              color: {{type: string, description: The gadget's color., enum: [{color_enum}]}}
              size: {{type: integer, default: 1}}
{extra_version}"#
    )
}

fn gadget_yaml(group: &str, name: &str, color: &str, size: i64) -> String {
    format!(
        "apiVersion: {group}/v1\nkind: Gadget\nmetadata:\n  name: {name}\nspec:\n  color: {color}\n  size: {size}\n"
    )
}

fn project_yaml(name: &str, org: &str) -> String {
    format!(
        "apiVersion: resourcemanager.miloapis.com/v1alpha1\nkind: Project\nmetadata:\n  name: {name}\nspec:\n  ownerRef:\n    kind: Organization\n    name: {org}\n---\n"
    )
}

#[test]
fn kubectl_registers_a_type_and_uses_it_in_projects() {
    let stack = Stack::from_env();
    let platform = stack.kubeconfig(&stack.kube_server, &stack.token);
    let id = unique("t");
    let group = format!("{id}.example.com");
    let out = platform.ok(
        &["apply", "-f", "-"],
        Some(&crd_yaml(&group, "red, blue", "")),
    );
    assert!(out.contains("created"), "{out}");
    let out = platform.ok(
        &[
            "wait",
            "--for=condition=Established",
            &format!("crd/gadgets.{group}"),
            "--timeout=60s",
        ],
        None,
    );
    assert!(out.contains("condition met"), "{out}");

    let org = format!("{id}-org");
    platform.ok(
        &["create", "-f", "-"],
        Some(&format!(
            "apiVersion: resourcemanager.miloapis.com/v1alpha1\nkind: Organization\nmetadata:\n  name: {org}\nspec:\n  type: Standard\n---\n{}{}",
            project_yaml(&format!("{id}-a"), &org),
            project_yaml(&format!("{id}-b"), &org)
        )),
    );
    let a = stack.kubeconfig(&stack.project_url(&format!("{id}-a")), &stack.token);
    let b = stack.kubeconfig(&stack.project_url(&format!("{id}-b")), &stack.token);

    let resources = a.ok(&["api-resources", "--api-group", &group], None);
    assert!(
        resources.contains("gadgets") && resources.contains("gdg"),
        "{resources}"
    );
    let namespaces = a.ok(&["get", "namespaces", "-o", "name"], None);
    assert_eq!(namespaces.trim(), "namespace/default");

    let out = a.ok(
        &["apply", "-f", "-"],
        Some(&gadget_yaml(&group, "g1", "red", 2)),
    );
    assert!(out.contains("created"), "{out}");
    let out = b.ok(
        &["apply", "-f", "-"],
        Some(&gadget_yaml(&group, "g1", "blue", 3)),
    );
    assert!(out.contains("created"), "{out}");
    // The same name in two projects stays apart.
    let color = |kube: &e2e::Kubeconfig| {
        kube.ok(&["get", "gdg", "g1", "-o", "jsonpath={.spec.color}"], None)
    };
    assert_eq!(color(&a), "red");
    assert_eq!(color(&b), "blue");
    let table = a.ok(&["get", "gadgets"], None);
    assert!(
        table.lines().next().unwrap_or_default().contains("COLOR") && table.contains("red"),
        "{table}"
    );

    // Errors come back with their paths.
    let bad = a.kubectl(
        &["apply", "-f", "-"],
        Some(&gadget_yaml(&group, "bad", "green", 1)),
    );
    assert!(!bad.ok);
    assert!(
        bad.stderr
            .contains("spec.color: Unsupported value: \"green\""),
        "{}",
        bad.stderr
    );
    let bad = a.kubectl(
        &["apply", "-f", "-"],
        Some(&gadget_yaml(&group, "bad", "red", 11)),
    );
    assert!(!bad.ok);
    assert!(
        bad.stderr.contains("spec: Invalid value") && bad.stderr.contains("size is at most 10"),
        "{}",
        bad.stderr
    );
    let missing = a.kubectl(&["get", "gadget", "bad"], None);
    assert!(
        !missing.ok && missing.stderr.contains("NotFound"),
        "{}",
        missing.stderr
    );

    let explain = a.ok(&["explain", "gadgets.spec.color"], None);
    assert!(explain.contains("The gadget's color."), "{explain}");

    // Evolve: allow green. Every instance has the change within a second.
    platform.ok(
        &["apply", "-f", "-"],
        Some(&crd_yaml(&group, "red, blue, green", "")),
    );
    std::thread::sleep(std::time::Duration::from_secs(1));
    let out = a.ok(
        &["apply", "-f", "-"],
        Some(&gadget_yaml(&group, "g2", "green", 1)),
    );
    assert!(out.contains("created"), "{out}");

    // A CRD with objects is not deleted.
    let refused = platform.kubectl(&["delete", "crd", &format!("gadgets.{group}")], None);
    assert!(
        !refused.ok && refused.stderr.contains("objects"),
        "{}",
        refused.stderr
    );
}

#[test]
fn milo_notes_crd_and_samples_round_trip_through_kubectl() {
    let stack = Stack::from_env();
    let platform = stack.kubeconfig(&stack.kube_server, &stack.token);
    let milo = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/milo");
    platform.ok(
        &[
            "apply",
            "-f",
            &format!("{milo}/crds/notes.miloapis.com_notes.yaml"),
        ],
        None,
    );
    platform.ok(
        &[
            "wait",
            "--for=condition=Established",
            "crd/notes.notes.miloapis.com",
            "--timeout=60s",
        ],
        None,
    );
    // The sample file ends with a ClusterNote, a kind with no CRD in
    // ../shared/milo/crds: apply the Notes.
    let samples = std::fs::read_to_string(format!("{milo}/samples/notes-domain-note-example.yaml"))
        .expect("notes sample");
    let notes: Vec<&str> = samples
        .split("\n---")
        .filter(|doc| doc.contains("kind: Note\n"))
        .collect();
    assert_eq!(notes.len(), 3);
    platform.ok(&["apply", "-f", "-"], Some(&notes.join("\n---\n")));
    let content = platform.ok(
        &[
            "get",
            "note",
            "datum-net-pricing-note",
            "-n",
            "default",
            "-o",
            "jsonpath={.spec.content}",
        ],
        None,
    );
    assert_eq!(content, "Do not sell for less than 10k CAD");
    // Round trip: what kubectl reads back applies unchanged.
    let yaml = platform.ok(
        &[
            "get",
            "note",
            "datum-net-review-note",
            "-n",
            "default",
            "-o",
            "yaml",
        ],
        None,
    );
    let out = platform.ok(&["apply", "-f", "-"], Some(&yaml));
    assert!(
        out.contains("unchanged") || out.contains("configured"),
        "{out}"
    );
}
