//! The Chainsaw documents the suites are written in: a `Test`
//! (chainsaw.kyverno.io/v1alpha1) and the `Configuration` a directory of
//! suites may carry as `.chainsaw.yaml`, for the part of Chainsaw the suites
//! use. Operations Chainsaw has and this runner does not (describe, podLogs,
//! proxy...) are refused when the test is read, naming the field.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TestDoc {
    pub api_version: String,
    pub kind: String,
    pub metadata: Metadata,
    pub spec: TestSpec,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Metadata {
    pub name: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TestSpec {
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub clusters: BTreeMap<String, ClusterRef>,
    #[serde(default)]
    pub cluster: Option<String>,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub skip_delete: Option<bool>,
    #[serde(default)]
    pub skip: Option<bool>,
    #[serde(default)]
    pub concurrent: Option<bool>,
    #[serde(default)]
    pub timeouts: Option<Timeouts>,
    #[serde(default)]
    pub delay_before_cleanup: Option<String>,
    #[serde(default)]
    pub template: Option<bool>,
    #[serde(default)]
    pub bindings: Vec<Binding>,
    #[serde(default)]
    pub catch: Vec<Operation>,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterRef {
    pub kubeconfig: String,
    #[serde(default)]
    pub context: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Timeouts {
    pub apply: Option<String>,
    pub assert: Option<String>,
    pub cleanup: Option<String>,
    pub delete: Option<String>,
    pub error: Option<String>,
    pub exec: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Step {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub cluster: Option<String>,
    #[serde(default)]
    pub clusters: BTreeMap<String, ClusterRef>,
    #[serde(default)]
    pub skip_delete: Option<bool>,
    #[serde(default)]
    pub template: Option<bool>,
    #[serde(default)]
    pub timeouts: Option<Timeouts>,
    #[serde(default)]
    pub bindings: Vec<Binding>,
    #[serde(default, rename = "try")]
    pub try_ops: Vec<Operation>,
    #[serde(default)]
    pub catch: Vec<Operation>,
    #[serde(default)]
    pub finally: Vec<Operation>,
    #[serde(default)]
    pub cleanup: Vec<Operation>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Binding {
    pub name: String,
    pub value: Value,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Output {
    pub name: String,
    pub value: Value,
    #[serde(default, rename = "match")]
    pub match_: Option<Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Expectation {
    #[serde(default, rename = "match")]
    pub match_: Option<Value>,
    pub check: Value,
}

/// One entry of `try`, `catch`, `finally` or `cleanup`: exactly one action.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Operation {
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub continue_on_error: Option<bool>,
    pub apply: Option<ResourceAction>,
    pub create: Option<ResourceAction>,
    pub patch: Option<ResourceAction>,
    pub update: Option<ResourceAction>,
    pub delete: Option<ResourceAction>,
    pub assert: Option<CheckAction>,
    pub error: Option<CheckAction>,
    pub wait: Option<Wait>,
    pub script: Option<Script>,
    pub command: Option<Command>,
    pub sleep: Option<Sleep>,
}

/// apply, create, patch, update and delete.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourceAction {
    pub file: Option<String>,
    pub resource: Option<Value>,
    /// delete: the object to delete by apiVersion, kind, name, namespace, labels.
    #[serde(rename = "ref")]
    pub reference: Option<Value>,
    #[serde(default)]
    pub template: Option<bool>,
    #[serde(default)]
    pub expect: Vec<Expectation>,
    #[serde(default)]
    pub outputs: Vec<Output>,
    #[serde(default)]
    pub bindings: Vec<Binding>,
    pub cluster: Option<String>,
    #[serde(default)]
    pub clusters: BTreeMap<String, ClusterRef>,
    pub timeout: Option<String>,
    pub dry_run: Option<bool>,
    pub deletion_propagation_policy: Option<String>,
}

/// assert and error.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CheckAction {
    pub file: Option<String>,
    pub resource: Option<Value>,
    #[serde(default)]
    pub template: Option<bool>,
    #[serde(default)]
    pub bindings: Vec<Binding>,
    pub cluster: Option<String>,
    #[serde(default)]
    pub clusters: BTreeMap<String, ClusterRef>,
    pub timeout: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Wait {
    pub api_version: String,
    pub kind: String,
    pub name: Option<String>,
    pub namespace: Option<String>,
    pub selector: Option<String>,
    pub timeout: Option<String>,
    #[serde(rename = "for")]
    pub wait_for: WaitFor,
    pub cluster: Option<String>,
    #[serde(default)]
    pub clusters: BTreeMap<String, ClusterRef>,
    pub format: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WaitFor {
    pub condition: Option<WaitCondition>,
    pub json_path: Option<WaitJsonPath>,
    pub deletion: Option<Value>,
    pub creation: Option<Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WaitCondition {
    pub name: String,
    pub value: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WaitJsonPath {
    pub path: String,
    pub value: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Script {
    pub content: String,
    #[serde(default)]
    pub env: Vec<Binding>,
    pub check: Option<Value>,
    pub timeout: Option<String>,
    pub cluster: Option<String>,
    #[serde(default)]
    pub clusters: BTreeMap<String, ClusterRef>,
    #[serde(default)]
    pub outputs: Vec<Output>,
    #[serde(default)]
    pub bindings: Vec<Binding>,
    pub skip_log_output: Option<bool>,
    pub skip_command_output: Option<bool>,
    pub work_dir: Option<String>,
    pub shell: Option<String>,
    #[serde(default)]
    pub shell_args: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Command {
    pub entrypoint: String,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub env: Vec<Binding>,
    pub check: Option<Value>,
    pub timeout: Option<String>,
    pub cluster: Option<String>,
    #[serde(default)]
    pub clusters: BTreeMap<String, ClusterRef>,
    #[serde(default)]
    pub outputs: Vec<Output>,
    #[serde(default)]
    pub bindings: Vec<Binding>,
    pub skip_log_output: Option<bool>,
    pub skip_command_output: Option<bool>,
    pub work_dir: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Sleep {
    pub duration: String,
}

/// What one operation does (the one field set in [`Operation`]).
pub enum Action<'a> {
    Apply(&'a ResourceAction),
    Create(&'a ResourceAction),
    Patch(&'a ResourceAction),
    Update(&'a ResourceAction),
    Delete(&'a ResourceAction),
    Assert(&'a CheckAction),
    Error(&'a CheckAction),
    Wait(&'a Wait),
    Script(&'a Script),
    Command(&'a Command),
    Sleep(&'a Sleep),
}

impl Operation {
    pub fn action(&self) -> Result<Action<'_>, String> {
        let mut found = Vec::new();
        if let Some(a) = &self.apply {
            found.push(Action::Apply(a));
        }
        if let Some(a) = &self.create {
            found.push(Action::Create(a));
        }
        if let Some(a) = &self.patch {
            found.push(Action::Patch(a));
        }
        if let Some(a) = &self.update {
            found.push(Action::Update(a));
        }
        if let Some(a) = &self.delete {
            found.push(Action::Delete(a));
        }
        if let Some(a) = &self.assert {
            found.push(Action::Assert(a));
        }
        if let Some(a) = &self.error {
            found.push(Action::Error(a));
        }
        if let Some(a) = &self.wait {
            found.push(Action::Wait(a));
        }
        if let Some(a) = &self.script {
            found.push(Action::Script(a));
        }
        if let Some(a) = &self.command {
            found.push(Action::Command(a));
        }
        if let Some(a) = &self.sleep {
            found.push(Action::Sleep(a));
        }
        match found.len() {
            1 => Ok(found.remove(0)),
            0 => Err("an operation names no action".into()),
            n => Err(format!(
                "an operation names {n} actions; Chainsaw takes one"
            )),
        }
    }
}

impl Action<'_> {
    pub fn name(&self) -> &'static str {
        match self {
            Action::Apply(_) => "apply",
            Action::Create(_) => "create",
            Action::Patch(_) => "patch",
            Action::Update(_) => "update",
            Action::Delete(_) => "delete",
            Action::Assert(_) => "assert",
            Action::Error(_) => "error",
            Action::Wait(_) => "wait",
            Action::Script(_) => "script",
            Action::Command(_) => "command",
            Action::Sleep(_) => "sleep",
        }
    }
}

/// A directory's `.chainsaw.yaml` (v1alpha1's flat spec): the parts that
/// change how a test runs.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigSpec {
    #[serde(default)]
    pub timeouts: Option<Timeouts>,
    #[serde(default)]
    pub skip_delete: Option<bool>,
    #[serde(default)]
    pub delay_before_cleanup: Option<String>,
    #[serde(default)]
    pub parallel: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigDoc {
    pub kind: String,
    #[serde(default)]
    pub spec: ConfigSpec,
}

/// Reads the Test documents of a chainsaw-test.yaml.
pub fn parse_tests(text: &str) -> Result<Vec<TestDoc>, String> {
    let mut out = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(text) {
        let value = serde_yaml::Value::deserialize(doc).map_err(|e| e.to_string())?;
        if value.is_null() {
            continue;
        }
        let test: TestDoc = serde_yaml::from_value(value).map_err(|e| e.to_string())?;
        if test.kind != "Test" || !test.api_version.starts_with("chainsaw.kyverno.io/") {
            return Err(format!(
                "not a Chainsaw Test: {} {}",
                test.api_version, test.kind
            ));
        }
        for step in &test.spec.steps {
            for op in step
                .try_ops
                .iter()
                .chain(&step.catch)
                .chain(&step.finally)
                .chain(&step.cleanup)
            {
                op.action()?;
            }
        }
        out.push(test);
    }
    if out.is_empty() {
        return Err("no Test document".into());
    }
    Ok(out)
}

pub fn parse_config(text: &str) -> Result<ConfigSpec, String> {
    let doc: ConfigDoc = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
    if doc.kind != "Configuration" {
        return Err(format!("not a Chainsaw Configuration: {}", doc.kind));
    }
    Ok(doc.spec)
}

/// Go's duration syntax as Chainsaw's documents write it: `30s`, `1m30s`,
/// `500ms`, `2h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let mut total = 0f64;
    let mut rest = s;
    if rest.is_empty() {
        return Err("empty duration".into());
    }
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("duration {text:?} lacks a unit"))?;
        if num_len == 0 {
            return Err(format!("invalid duration {text:?}"));
        }
        let n: f64 = rest[..num_len]
            .parse()
            .map_err(|_| format!("invalid duration {text:?}"))?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            other => return Err(format!("unknown unit {other:?} in duration {text:?}")),
        };
        total += n * factor;
        rest = &rest[unit_len..];
    }
    Ok(Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert!(parse_duration("30").is_err());
        assert!(parse_duration("5x").is_err());
    }

    #[test]
    fn a_test_with_every_action_the_suites_use() {
        let text = r#"
apiVersion: chainsaw.kyverno.io/v1alpha1
kind: Test
metadata:
  name: t
spec:
  clusters:
    org:
      kubeconfig: kubeconfig-org
  namespace: default
  steps:
  - name: one
    cluster: org
    try:
    - apply:
        file: a.yaml
        expect:
        - check:
            ($error != null): true
    - wait:
        apiVersion: v1
        kind: Namespace
        name: n
        timeout: 30s
        for:
          jsonPath:
            path: '{.status.phase}'
            value: Active
    - continueOnError: true
      delete:
        ref:
          apiVersion: v1
          kind: Namespace
          name: n
    - sleep:
        duration: 1s
    catch:
    - script:
        content: echo hi
"#;
        let tests = parse_tests(text).unwrap();
        assert_eq!(tests[0].metadata.name, "t");
        let step = &tests[0].spec.steps[0];
        assert_eq!(step.try_ops.len(), 4);
        assert_eq!(step.try_ops[0].action().unwrap().name(), "apply");
        assert_eq!(step.try_ops[2].continue_on_error, Some(true));
        assert_eq!(step.catch[0].action().unwrap().name(), "script");
    }

    #[test]
    fn unsupported_operations_are_refused_by_name() {
        let text = r#"
apiVersion: chainsaw.kyverno.io/v1alpha1
kind: Test
metadata: {name: t}
spec:
  steps:
  - try:
    - podLogs: {selector: app=x}
"#;
        let err = parse_tests(text).unwrap_err();
        assert!(err.contains("podLogs"), "{err}");
    }

    #[test]
    fn configuration_timeouts() {
        let spec = parse_config(
            "apiVersion: chainsaw.kyverno.io/v1alpha1\nkind: Configuration\nmetadata: {name: c}\nspec:\n  timeouts:\n    apply: 120s\n  delayBeforeCleanup: 5s\n",
        )
        .unwrap();
        assert_eq!(spec.timeouts.unwrap().apply.as_deref(), Some("120s"));
        assert_eq!(spec.delay_before_cleanup.as_deref(), Some("5s"));
    }
}
