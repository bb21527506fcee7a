//! Conformance: every schema of Milo's CRDs compiles, and Milo's samples
//! validate against them (after defaulting and pruning) without causes.

use std::path::PathBuf;

use serde_json::Value;

use super::Schema;

fn milo_dir(sub: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/milo")
        .join(sub)
}

/// The `*.yaml` files of `dir` and, with `recurse`, of its subdirectories.
fn yaml_files(dir: &std::path::Path, recurse: bool) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
    {
        let path = entry.unwrap().path();
        if path.is_dir() && recurse {
            files.extend(yaml_files(&path, recurse));
        } else if path.extension().is_some_and(|x| x == "yaml") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// Every YAML document of every `*.yaml` file in `dir`, with its file name.
fn documents(dir: &str) -> Vec<(String, Value)> {
    parse_files(yaml_files(&milo_dir(dir), false))
}

fn parse_files(files: Vec<PathBuf>) -> Vec<(String, Value)> {
    let mut docs = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let value: Value = serde::Deserialize::deserialize(doc).unwrap();
            if !value.is_null() {
                docs.push((file.display().to_string(), value));
            }
        }
    }
    docs
}

/// `(group, kind, version, schema)` of every served version of every CRD.
fn crd_schemas() -> Vec<(String, String, String, Schema)> {
    let mut out = Vec::new();
    for (file, crd) in documents("crds") {
        let group = crd["spec"]["group"].as_str().unwrap().to_string();
        let kind = crd["spec"]["names"]["kind"].as_str().unwrap().to_string();
        for (i, version) in crd["spec"]["versions"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
        {
            let doc = &version["schema"]["openAPIV3Schema"];
            let base = format!("spec.versions[{i}].schema.openAPIV3Schema");
            let schema = Schema::compile(doc, &base)
                .unwrap_or_else(|causes| panic!("{file} version {i}: {causes:#?}"));
            let name = version["name"].as_str().unwrap().to_string();
            out.push((group.clone(), kind.clone(), name, schema));
        }
    }
    out
}

#[test]
fn every_milo_crd_schema_compiles() {
    let schemas = crd_schemas();
    assert!(schemas.len() >= 17, "found only {} schemas", schemas.len());
}

#[test]
fn every_milo_sample_validates_after_defaulting() {
    let validated = validate_all(documents("samples"));
    assert!(validated >= 15, "only {validated} samples validated");
}

/// The objects the scenarios create (not their assertions, which are partial
/// objects, nor the chainsaw steps) are valid too.
#[test]
fn milo_scenario_objects_validate() {
    let files = yaml_files(&milo_dir("scenarios"), true)
        .into_iter()
        .filter(|p| !p.components().any(|c| c.as_os_str() == "assertions"))
        .filter(|p| !p.ends_with("chainsaw-test.yaml"))
        .collect();
    let validated = validate_all(parse_files(files));
    assert!(
        validated >= 5,
        "only {validated} scenario objects validated"
    );
}

/// Defaults, prunes and validates every document of a Milo kind (on create
/// and as an unchanged update), returning how many were checked.
fn validate_all(samples: Vec<(String, Value)>) -> usize {
    let schemas = crd_schemas();
    assert!(!samples.is_empty());
    let mut validated = 0;
    for (file, mut sample) in samples {
        let api_version = sample["apiVersion"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let Some((group, version)) = api_version.split_once('/') else {
            continue;
        };
        let kind = sample["kind"].as_str().unwrap().to_string();
        let Some((_, _, _, schema)) = schemas
            .iter()
            .find(|(g, k, v, _)| g == group && *k == kind && v == version)
        else {
            // The notes sample also shows a ClusterNote, whose CRD is not
            // among the reference CRDs: nothing to validate it against.
            assert!(
                !schemas.iter().any(|(g, k, _, _)| g == group && *k == kind),
                "{file}: {kind} has a CRD but not for version {version}"
            );
            eprintln!("{file}: no CRD for {api_version} {kind}, skipped");
            continue;
        };
        validated += 1;
        schema.apply_defaults(&mut sample);
        let pruned = schema.prune(&mut sample);
        assert!(pruned.is_empty(), "{file} {kind}: pruned {pruned:?}");
        let causes = schema.validate(&sample, None);
        if kind == "Project" && sample.get("spec").is_none() {
            // The admission scenario creates projects without a spec, which
            // Milo's admission fills from the organization context before
            // validation; the schema alone requires it.
            assert_eq!(causes, vec![crate::Cause::required("spec")], "{file}");
            continue;
        }
        assert!(
            causes.is_empty(),
            "{file} {kind} {}: {causes:#?}",
            sample["metadata"]["name"]
        );
        // An update to the same object passes too (transition rules run).
        let causes = schema.validate(&sample, Some(&sample));
        assert!(causes.is_empty(), "{file} {kind} (update): {causes:#?}");
    }
    validated
}
