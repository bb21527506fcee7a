//! Templates: strings whose `{{ expression }}` parts are CEL, the rest
//! literal text (Milo's policy templates: `organization-{{trigger.spec.ownerRef.name}}`).
//! Compiled when the policy is written; rendered against each trigger.

use serde_json::{Map, Value};

use super::policy_expr::{compile, Activation, PolicyExpr};
use crate::Cause;

const OPEN: &str = "{{";
const CLOSE: &str = "}}";

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Literal(String),
    Expr(PolicyExpr),
}

/// One templated string.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    source: String,
    parts: Vec<Part>,
}

impl Template {
    /// Splits `source` at `{{ }}` and compiles each expression; causes at
    /// `path`. The first `}}` closes an expression (so a CEL map literal
    /// must not end one: write `{{ {'a': 1}['a'] }}` with a space).
    pub(crate) fn compile(
        source: &str,
        path: &str,
        roots: &[&str],
        causes: &mut Vec<Cause>,
    ) -> Option<Template> {
        let mut parts = Vec::new();
        let mut rest = source;
        let before = causes.len();
        while let Some(start) = rest.find(OPEN) {
            if start > 0 {
                parts.push(Part::Literal(rest[..start].to_string()));
            }
            let after_open = &rest[start + OPEN.len()..];
            let Some(end) = after_open.find(CLOSE) else {
                causes.push(Cause::invalid(
                    path,
                    format!("Invalid value: {source:?}: unclosed {OPEN} in template"),
                ));
                return None;
            };
            let expression = after_open[..end].trim();
            if expression.is_empty() {
                causes.push(Cause::invalid(
                    path,
                    format!("Invalid value: {source:?}: empty {OPEN} {CLOSE} in template"),
                ));
            } else if let Some(expr) = compile(expression, path, roots, causes) {
                parts.push(Part::Expr(expr));
            }
            rest = &after_open[end + CLOSE.len()..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_string()));
        }
        (causes.len() == before).then(|| Template {
            source: source.to_string(),
            parts,
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether the string has no expression.
    pub fn is_literal(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Literal(_)))
    }

    pub(crate) fn render(&self, activation: &Activation) -> Result<String, String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Expr(expr) => {
                    let text = expr
                        .evaluate_text(activation)
                        .map_err(|e| format!("{{{{{}}}}}: {e}", expr.source))?;
                    out.push_str(&text);
                }
            }
        }
        Ok(out)
    }
}

/// A JSON document whose strings are templates, except under the paths
/// kept literal (Milo keeps template labels literal).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TemplateValue {
    Fixed(Value),
    Text(Template),
    Object(Vec<(String, TemplateValue)>),
    Array(Vec<TemplateValue>),
}

/// The path of `key` under `path`: `a.b`, or `a[b.c/d]` for keys that are
/// not plain identifiers (label and annotation keys).
pub(crate) fn child_path(path: &str, key: &str) -> String {
    let plain = !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    match (path.is_empty(), plain) {
        (true, _) => key.to_string(),
        (false, true) => format!("{path}.{key}"),
        (false, false) => format!("{path}[{key}]"),
    }
}

impl TemplateValue {
    pub(crate) fn compile(
        value: &Value,
        path: &str,
        roots: &[&str],
        literal_paths: &[&str],
        causes: &mut Vec<Cause>,
    ) -> TemplateValue {
        if literal_paths.contains(&path) {
            return TemplateValue::Fixed(value.clone());
        }
        match value {
            Value::String(s) => match Template::compile(s, path, roots, causes) {
                Some(t) if t.is_literal() => TemplateValue::Fixed(value.clone()),
                Some(t) => TemplateValue::Text(t),
                None => TemplateValue::Fixed(value.clone()),
            },
            Value::Object(map) => TemplateValue::Object(
                map.iter()
                    .map(|(k, v)| {
                        let p = child_path(path, k);
                        (
                            k.clone(),
                            TemplateValue::compile(v, &p, roots, literal_paths, causes),
                        )
                    })
                    .collect(),
            ),
            Value::Array(items) => TemplateValue::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        TemplateValue::compile(
                            v,
                            &format!("{path}[{i}]"),
                            roots,
                            literal_paths,
                            causes,
                        )
                    })
                    .collect(),
            ),
            other => TemplateValue::Fixed(other.clone()),
        }
    }

    /// Renders; an error is `(field path, message)`.
    pub(crate) fn render(
        &self,
        path: &str,
        activation: &Activation,
    ) -> Result<Value, (String, String)> {
        Ok(match self {
            TemplateValue::Fixed(v) => v.clone(),
            TemplateValue::Text(t) => {
                Value::String(t.render(activation).map_err(|e| (path.to_string(), e))?)
            }
            TemplateValue::Object(entries) => {
                let mut out = Map::new();
                for (k, v) in entries {
                    out.insert(k.clone(), v.render(&child_path(path, k), activation)?);
                }
                Value::Object(out)
            }
            TemplateValue::Array(items) => Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| v.render(&format!("{path}[{i}]"), activation))
                    .collect::<Result<_, _>>()?,
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ROOTS: &[&str] = &["trigger"];

    fn render(source: &str, trigger: Value) -> Result<String, String> {
        let mut causes = Vec::new();
        let t = Template::compile(source, "f", ROOTS, &mut causes)
            .ok_or_else(|| format!("{causes:?}"))?;
        t.render(&Activation::new(&[("trigger", &trigger)])?)
    }

    #[test]
    fn literal_text_and_expressions_mix() {
        let trigger =
            json!({"metadata": {"name": "p1"}, "spec": {"ownerRef": {"name": "acme"}, "n": 3}});
        assert_eq!(
            render(
                "organization-{{trigger.spec.ownerRef.name}}",
                trigger.clone()
            )
            .unwrap(),
            "organization-acme"
        );
        assert_eq!(
            render("{{ trigger.metadata.name + '-claim' }}", trigger.clone()).unwrap(),
            "p1-claim"
        );
        assert_eq!(
            render(
                "{{trigger.metadata.name}}-{{trigger.spec.n}}-x",
                trigger.clone()
            )
            .unwrap(),
            "p1-3-x"
        );
        assert_eq!(
            render("plain }} text", trigger.clone()).unwrap(),
            "plain }} text"
        );
        assert_eq!(render("{{ true }}", trigger).unwrap(), "true");
    }

    #[test]
    fn bad_templates_are_causes_at_their_path() {
        let compile = |s: &str| {
            let mut causes = Vec::new();
            let t = Template::compile(s, "spec.x", ROOTS, &mut causes);
            (t.is_some(), causes)
        };
        let (ok, causes) = compile("a-{{trigger.metadata.name");
        assert!(!ok);
        assert!(causes[0].message.contains("unclosed"));
        let (_, causes) = compile("{{ }}");
        assert!(causes[0].message.contains("empty"));
        let (_, causes) = compile("{{ trigger.metadata.name + }}");
        assert!(causes[0].message.contains("compilation failed"));
        assert_eq!(causes[0].field, "spec.x");
        let (_, causes) = compile("{{ user.name }}");
        assert!(causes[0].message.contains("undeclared reference to 'user'"));
        let (ok, causes) = compile("fixed-name");
        assert!(ok && causes.is_empty());
    }

    #[test]
    fn rendering_errors_say_which_expression() {
        let err = render("{{trigger.spec.missing}}", json!({"spec": {}})).unwrap_err();
        assert!(err.contains("trigger.spec.missing"), "{err}");
        let err = render("{{trigger.spec}}", json!({"spec": {"a": 1}})).unwrap_err();
        assert!(err.contains("not a map"), "{err}");
    }

    #[test]
    fn documents_render_with_literal_paths_kept() {
        let doc = json!({
            "metadata": {"name": "{{trigger.metadata.name}}", "labels": {"a.b/c": "{{kept}}"}},
            "spec": {"requests": [{"resourceType": "t", "amount": 1}]}
        });
        let mut causes = Vec::new();
        let t = TemplateValue::compile(&doc, "", ROOTS, &["metadata.labels"], &mut causes);
        assert!(causes.is_empty(), "{causes:?}");
        let trigger = json!({"metadata": {"name": "p"}});
        let out = t
            .render("", &Activation::new(&[("trigger", &trigger)]).unwrap())
            .unwrap();
        assert_eq!(out["metadata"]["name"], "p");
        assert_eq!(out["metadata"]["labels"]["a.b/c"], "{{kept}}");
        assert_eq!(out["spec"]["requests"][0]["amount"], 1);
        assert_eq!(
            child_path("metadata.annotations", "a.b/c"),
            "metadata.annotations[a.b/c]"
        );
        // A failing part names its field.
        let empty = json!({});
        let err = t
            .render("", &Activation::new(&[("trigger", &empty)]).unwrap())
            .unwrap_err();
        assert_eq!(err.0, "metadata.name");
    }
}
