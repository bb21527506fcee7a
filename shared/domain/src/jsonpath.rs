//! The JSONPath subset of printer columns: `.a.b`, escaped dots and slashes
//! (`.metadata.annotations.kubernetes\.io/display-name`), `[n]`, and filters
//! `[?(@.type=='Ready')]`. A path that does not resolve yields nothing, as
//! kubectl shows an empty cell.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Field(String),
    Index(usize),
    Filter { field: String, equals: String },
}

fn parse(path: &str) -> Option<Vec<Step>> {
    let mut steps = Vec::new();
    let mut chars = path
        .trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .chars()
        .peekable();
    while let Some(c) = chars.next() {
        match c {
            '.' => {
                let mut field = String::new();
                while let Some(&n) = chars.peek() {
                    if n == '.' || n == '[' {
                        break;
                    }
                    chars.next();
                    if n == '\\' {
                        field.push(chars.next()?);
                    } else {
                        field.push(n);
                    }
                }
                if !field.is_empty() {
                    steps.push(Step::Field(field));
                }
            }
            '[' => {
                let inner: String = chars.by_ref().take_while(|&c| c != ']').collect();
                steps.push(bracket(&inner)?);
            }
            _ => return None,
        }
    }
    Some(steps)
}

fn bracket(inner: &str) -> Option<Step> {
    if let Ok(index) = inner.parse() {
        return Some(Step::Index(index));
    }
    let filter = inner.strip_prefix("?(@.")?.strip_suffix(')')?;
    let (field, value) = filter.split_once("==")?;
    let value = value.trim().trim_matches(|c| c == '\'' || c == '"');
    Some(Step::Filter {
        field: field.trim().to_string(),
        equals: value.to_string(),
    })
}

/// The values a path selects in `doc`.
pub fn select<'a>(doc: &'a Value, path: &str) -> Vec<&'a Value> {
    let Some(steps) = parse(path) else {
        return Vec::new();
    };
    let mut current = vec![doc];
    for step in &steps {
        current = current
            .into_iter()
            .flat_map(|v| -> Vec<&Value> {
                match step {
                    Step::Field(f) => v.get(f).into_iter().collect(),
                    Step::Index(i) => v.get(i).into_iter().collect(),
                    Step::Filter { field, equals } => v
                        .as_array()
                        .map(|items| {
                            items
                                .iter()
                                .filter(|item| {
                                    item.get(field).and_then(Value::as_str) == Some(equals.as_str())
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                }
            })
            .collect();
    }
    current
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn selects_fields_filters_and_escaped_keys() {
        let doc = json!({
            "metadata": {"annotations": {"kubernetes.io/display-name": "Acme"}},
            "status": {"conditions": [{"type": "Other", "status": "False"}, {"type": "Ready", "status": "True"}]}
        });
        assert_eq!(
            select(&doc, ".status.conditions[?(@.type=='Ready')].status"),
            [&json!("True")]
        );
        assert_eq!(
            select(&doc, ".metadata.annotations.kubernetes\\.io/display-name"),
            [&json!("Acme")]
        );
        assert_eq!(
            select(&doc, ".metadata.annotations.kubernetes\\.io\\/display-name"),
            [&json!("Acme")]
        );
        assert_eq!(
            select(&doc, ".status.conditions[0].type"),
            [&json!("Other")]
        );
        assert!(select(&doc, ".spec.missing").is_empty());
    }
}
