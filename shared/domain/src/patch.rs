//! The two patch formats of a Kubernetes `PATCH`: JSON merge patch
//! (RFC 7386, `application/merge-patch+json`) and JSON patch (RFC 6902,
//! `application/json-patch+json`).
//!
//! Both functions return a new document and leave their inputs alone, so a
//! JSON patch that fails at operation 3 has no effect at all: the caller
//! still holds the untouched original.

use serde_json::{Map, Number, Value};
use std::fmt;

/// Why a JSON patch could not be applied. Operations are numbered from 0, in
/// the order of the patch array.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    #[error("a JSON patch must be a JSON array of operations, found {found}")]
    NotAnArray { found: &'static str },
    /// The operation object itself is wrong (missing member, unknown op,
    /// malformed pointer); nothing was applied.
    #[error("operation {index} is malformed: {reason}")]
    MalformedOperation { index: usize, reason: String },
    /// A well-formed operation could not be applied to the document.
    #[error("operation {index} ({operation}): {failure}")]
    OperationFailed {
        index: usize,
        operation: String,
        failure: OperationFailure,
    },
}

/// Why one operation could not be applied. Pointers are as in the patch
/// (RFC 6901, `""` being the whole document).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OperationFailure {
    /// `test` found a different value.
    #[error("value differs")]
    ValueDiffers,
    #[error("no value at {pointer}")]
    NotFound { pointer: String },
    #[error("no value at {pointer}: its parent is {parent_kind}, not an object or array")]
    ParentNotContainer {
        pointer: String,
        parent_kind: &'static str,
    },
    #[error("{pointer} is out of bounds: the array has {length} elements")]
    IndexOutOfBounds { pointer: String, length: usize },
    #[error("{pointer} does not name an array element: {token:?} is not an index (digits without leading zeros, or '-' to append with add)")]
    InvalidIndex { pointer: String, token: String },
    #[error("cannot move a value into one of its own children")]
    MoveIntoItself,
    #[error("cannot remove the whole document")]
    RemoveRoot,
}

// ---------------------------------------------------------------------------
// RFC 7386 merge patch
// ---------------------------------------------------------------------------

/// Applies a JSON merge patch: `null` members delete, objects merge
/// recursively, anything else (arrays included) replaces. A patch that is not
/// an object replaces the whole target.
pub fn merge_patch(target: &Value, patch: &Value) -> Value {
    let mut merged = target.clone();
    merge_into(&mut merged, patch);
    merged
}

fn merge_into(target: &mut Value, patch: &Value) {
    let Value::Object(patch_members) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        // RFC 7386: a non-object target is replaced by an empty object first.
        *target = Value::Object(Map::new());
    }
    if let Value::Object(members) = target {
        for (name, value) in patch_members {
            if value.is_null() {
                // shift_remove keeps the other members in their order.
                members.shift_remove(name);
            } else {
                merge_into(members.entry(name.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// RFC 6902 JSON patch
// ---------------------------------------------------------------------------

/// Applies a JSON patch (an array of `add`, `remove`, `replace`, `move`,
/// `copy` and `test` operations) and returns the patched document.
pub fn json_patch(target: &Value, patch: &Value) -> Result<Value, PatchError> {
    let Value::Array(raw_operations) = patch else {
        return Err(PatchError::NotAnArray {
            found: kind_of(patch),
        });
    };
    // Parse everything first so a malformed last operation is reported
    // before any work is done.
    let operations = raw_operations
        .iter()
        .enumerate()
        .map(|(index, raw)| {
            Operation::parse(raw).map_err(|reason| PatchError::MalformedOperation { index, reason })
        })
        .collect::<Result<Vec<_>, _>>()?;

    let mut document = target.clone();
    for (index, operation) in operations.iter().enumerate() {
        operation
            .apply(&mut document)
            .map_err(|failure| PatchError::OperationFailed {
                index,
                operation: operation.to_string(),
                failure,
            })?;
    }
    Ok(document)
}

/// One parsed operation; values borrow from the patch document.
#[derive(Debug)]
enum Operation<'a> {
    Add { path: Pointer, value: &'a Value },
    Remove { path: Pointer },
    Replace { path: Pointer, value: &'a Value },
    Move { from: Pointer, path: Pointer },
    Copy { from: Pointer, path: Pointer },
    Test { path: Pointer, value: &'a Value },
}

impl<'a> Operation<'a> {
    /// Members other than `op`, `path`, `from` and `value` are ignored, as
    /// RFC 6902 requires.
    fn parse(raw: &'a Value) -> Result<Self, String> {
        let Value::Object(members) = raw else {
            return Err(format!(
                "an operation must be a JSON object, found {}",
                kind_of(raw)
            ));
        };
        let op = match members.get("op") {
            Some(Value::String(op)) => op.as_str(),
            Some(other) => {
                return Err(format!(
                    "member \"op\" must be a string, found {}",
                    kind_of(other)
                ))
            }
            None => return Err("member \"op\" is missing".to_string()),
        };
        let path = || pointer_member(members, "path");
        let from = || pointer_member(members, "from");
        // `value` may be null, but must be present.
        let value = || {
            members
                .get("value")
                .ok_or_else(|| "member \"value\" is missing".to_string())
        };
        Ok(match op {
            "add" => Self::Add {
                path: path()?,
                value: value()?,
            },
            "remove" => Self::Remove { path: path()? },
            "replace" => Self::Replace {
                path: path()?,
                value: value()?,
            },
            "move" => Self::Move {
                from: from()?,
                path: path()?,
            },
            "copy" => Self::Copy {
                from: from()?,
                path: path()?,
            },
            "test" => Self::Test {
                path: path()?,
                value: value()?,
            },
            other => {
                return Err(format!(
                    "unknown op {other:?}; expected add, remove, replace, move, copy or test"
                ))
            }
        })
    }

    fn apply(&self, document: &mut Value) -> Result<(), OperationFailure> {
        match self {
            Self::Add { path, value } => add(document, path, (*value).clone()),
            Self::Remove { path } => remove(document, path).map(drop),
            Self::Replace { path, value } => {
                *resolve(document, path)? = (*value).clone();
                Ok(())
            }
            Self::Move { from, path } => move_value(document, from, path),
            Self::Copy { from, path } => {
                let value = resolve(document, from)?.clone();
                add(document, path, value)
            }
            Self::Test { path, value } => {
                if json_equal(resolve(document, path)?, value) {
                    Ok(())
                } else {
                    Err(OperationFailure::ValueDiffers)
                }
            }
        }
    }
}

/// How errors name the operation: `test at /spec/type`, `move from /a to /b`.
impl fmt::Display for Operation<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Add { path, .. } => write!(f, "add at {}", path.location()),
            Self::Remove { path } => write!(f, "remove at {}", path.location()),
            Self::Replace { path, .. } => write!(f, "replace at {}", path.location()),
            Self::Test { path, .. } => write!(f, "test at {}", path.location()),
            Self::Move { from, path } => {
                write!(f, "move from {} to {}", from.location(), path.location())
            }
            Self::Copy { from, path } => {
                write!(f, "copy from {} to {}", from.location(), path.location())
            }
        }
    }
}

fn pointer_member(members: &Map<String, Value>, name: &str) -> Result<Pointer, String> {
    match members.get(name) {
        Some(Value::String(text)) => {
            Pointer::parse(text).map_err(|e| format!("member \"{name}\": {e}"))
        }
        Some(other) => Err(format!(
            "member \"{name}\" must be a string, found {}",
            kind_of(other)
        )),
        None => Err(format!("member \"{name}\" is missing")),
    }
}

fn add(document: &mut Value, path: &Pointer, value: Value) -> Result<(), OperationFailure> {
    let Some((last, parent)) = path.tokens.split_last() else {
        // Adding at the root replaces the whole document.
        *document = value;
        return Ok(());
    };
    match resolve_tokens(document, parent)? {
        // An existing member is replaced in place.
        Value::Object(members) => {
            members.insert(last.clone(), value);
        }
        Value::Array(items) => {
            let index = insertion_index(last, items.len(), path)?;
            items.insert(index, value);
        }
        other => return Err(parent_not_container(path, other)),
    }
    Ok(())
}

fn remove(document: &mut Value, path: &Pointer) -> Result<Value, OperationFailure> {
    let Some((last, parent)) = path.tokens.split_last() else {
        return Err(OperationFailure::RemoveRoot);
    };
    match resolve_tokens(document, parent)? {
        Value::Object(members) => {
            members
                .shift_remove(last)
                .ok_or_else(|| OperationFailure::NotFound {
                    pointer: path.to_string(),
                })
        }
        Value::Array(items) => {
            let index = element_index(last, items.len(), &path.to_string())?;
            Ok(items.remove(index))
        }
        other => Err(parent_not_container(path, other)),
    }
}

fn move_value(
    document: &mut Value,
    from: &Pointer,
    path: &Pointer,
) -> Result<(), OperationFailure> {
    if from.is_proper_prefix_of(path) {
        return Err(OperationFailure::MoveIntoItself);
    }
    // RFC 6902 defines move as remove-then-add; that also covers from == path.
    let value = remove(document, from)?;
    add(document, path, value)
}

fn resolve<'d>(
    document: &'d mut Value,
    pointer: &Pointer,
) -> Result<&'d mut Value, OperationFailure> {
    resolve_tokens(document, &pointer.tokens)
}

/// The value the tokens lead to. Only mutable access is needed: every
/// operation works on the patch's own copy of the document.
fn resolve_tokens<'d>(
    document: &'d mut Value,
    tokens: &[String],
) -> Result<&'d mut Value, OperationFailure> {
    let mut current = document;
    let mut here = String::new();
    for token in tokens {
        let parent_kind = kind_of(current);
        here.push('/');
        here.push_str(&escape_token(token));
        current = match current {
            Value::Object(members) => {
                members
                    .get_mut(token)
                    .ok_or_else(|| OperationFailure::NotFound {
                        pointer: here.clone(),
                    })?
            }
            Value::Array(items) => {
                let index = element_index(token, items.len(), &here)?;
                items
                    .get_mut(index)
                    .ok_or_else(|| OperationFailure::NotFound {
                        pointer: here.clone(),
                    })?
            }
            _ => {
                return Err(OperationFailure::ParentNotContainer {
                    pointer: here,
                    parent_kind,
                })
            }
        };
    }
    Ok(current)
}

/// The index of an existing element (`< length`).
fn element_index(token: &str, length: usize, pointer: &str) -> Result<usize, OperationFailure> {
    if token == "-" {
        // "-" names the element after the last one, which never exists.
        return Err(OperationFailure::NotFound {
            pointer: pointer.to_string(),
        });
    }
    let index = parse_index(token, pointer)?;
    if index < length {
        Ok(index)
    } else {
        Err(OperationFailure::IndexOutOfBounds {
            pointer: pointer.to_string(),
            length,
        })
    }
}

/// Where `add` may insert (`<= length`; `-` appends).
fn insertion_index(token: &str, length: usize, path: &Pointer) -> Result<usize, OperationFailure> {
    if token == "-" {
        return Ok(length);
    }
    let index = parse_index(token, &path.to_string())?;
    if index <= length {
        Ok(index)
    } else {
        Err(OperationFailure::IndexOutOfBounds {
            pointer: path.to_string(),
            length,
        })
    }
}

/// RFC 6901 array index: `0`, or digits without a leading zero.
fn parse_index(token: &str, pointer: &str) -> Result<usize, OperationFailure> {
    let well_formed = !token.is_empty()
        && token.bytes().all(|b| b.is_ascii_digit())
        && (token == "0" || !token.starts_with('0'));
    let index = if well_formed {
        token.parse().ok()
    } else {
        None
    };
    index.ok_or_else(|| OperationFailure::InvalidIndex {
        pointer: pointer.to_string(),
        token: token.to_string(),
    })
}

fn parent_not_container(path: &Pointer, parent: &Value) -> OperationFailure {
    OperationFailure::ParentNotContainer {
        pointer: path.to_string(),
        parent_kind: kind_of(parent),
    }
}

/// RFC 6902 `test` equality: like `==`, except that numbers compare by value
/// (`1` equals `1.0`).
fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => numbers_equal(x, y),
        (Value::Array(xs), Value::Array(ys)) => {
            xs.len() == ys.len() && xs.iter().zip(ys).all(|(x, y)| json_equal(x, y))
        }
        (Value::Object(xs), Value::Object(ys)) => {
            xs.len() == ys.len()
                && xs
                    .iter()
                    .all(|(k, x)| ys.get(k).is_some_and(|y| json_equal(x, y)))
        }
        _ => a == b,
    }
}

fn numbers_equal(x: &Number, y: &Number) -> bool {
    // Integers compare exactly; only when one side is fractional (or out of
    // integer range) do both go through f64.
    if let (Some(a), Some(b)) = (x.as_i64(), y.as_i64()) {
        return a == b;
    }
    if let (Some(a), Some(b)) = (x.as_u64(), y.as_u64()) {
        return a == b;
    }
    x.as_f64() == y.as_f64()
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

// ---------------------------------------------------------------------------
// RFC 6901 JSON pointer
// ---------------------------------------------------------------------------

/// A parsed JSON pointer: its reference tokens, unescaped. No tokens is the
/// whole document.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pointer {
    tokens: Vec<String>,
}

impl Pointer {
    fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            return Ok(Self { tokens: vec![] });
        }
        let Some(rest) = text.strip_prefix('/') else {
            return Err(format!(
                "{text:?} is not a JSON pointer: it must be empty or start with '/'"
            ));
        };
        let tokens = rest
            .split('/')
            .map(|token| {
                unescape_token(token).ok_or_else(|| {
                    format!("{text:?} is not a JSON pointer: '~' must be followed by '0' or '1'")
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { tokens })
    }

    fn is_proper_prefix_of(&self, other: &Pointer) -> bool {
        other.tokens.len() > self.tokens.len() && other.tokens.starts_with(&self.tokens)
    }

    /// For messages, where an empty pointer would read as nothing.
    fn location(&self) -> String {
        if self.tokens.is_empty() {
            "the document root".to_string()
        } else {
            self.to_string()
        }
    }
}

impl fmt::Display for Pointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for token in &self.tokens {
            write!(f, "/{}", escape_token(token))?;
        }
        Ok(())
    }
}

/// `~1` is `/` and `~0` is `~`; any other `~` is invalid.
fn unescape_token(token: &str) -> Option<String> {
    let mut unescaped = String::with_capacity(token.len());
    let mut chars = token.chars();
    while let Some(c) = chars.next() {
        match c {
            '~' => match chars.next() {
                Some('0') => unescaped.push('~'),
                Some('1') => unescaped.push('/'),
                _ => return None,
            },
            _ => unescaped.push(c),
        }
    }
    Some(unescaped)
}

fn escape_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn apply(target: Value, patch: Value) -> Value {
        json_patch(&target, &patch).unwrap_or_else(|e| panic!("patch should apply: {e}"))
    }

    fn fail(target: Value, patch: Value) -> PatchError {
        match json_patch(&target, &patch) {
            Ok(doc) => panic!("patch should fail, got {doc}"),
            Err(e) => e,
        }
    }

    // --- merge patch ------------------------------------------------------------

    #[test]
    fn merge_patch_rfc7386_appendix_a() {
        // Every example of RFC 7386 Appendix A.
        let cases = [
            (json!({"a":"b"}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"b"}), json!({"b":"c"}), json!({"a":"b","b":"c"})),
            (json!({"a":"b"}), json!({"a":null}), json!({})),
            (
                json!({"a":"b","b":"c"}),
                json!({"a":null}),
                json!({"b":"c"}),
            ),
            (json!({"a":["b"]}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"c"}), json!({"a":["b"]}), json!({"a":["b"]})),
            (
                json!({"a":{"b":"c"}}),
                json!({"a":{"b":"d","c":null}}),
                json!({"a":{"b":"d"}}),
            ),
            (json!({"a":[{"b":"c"}]}), json!({"a":[1]}), json!({"a":[1]})),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a":"b"}), json!(["c"]), json!(["c"])),
            (json!({"a":"foo"}), json!(null), json!(null)),
            (json!({"a":"foo"}), json!("bar"), json!("bar")),
            (json!({"e":null}), json!({"a":1}), json!({"e":null,"a":1})),
            (json!([1, 2]), json!({"a":"b","c":null}), json!({"a":"b"})),
            (
                json!({}),
                json!({"a":{"bb":{"ccc":null}}}),
                json!({"a":{"bb":{}}}),
            ),
        ];
        for (target, patch, expected) in cases {
            assert_eq!(merge_patch(&target, &patch), expected, "{target} + {patch}");
        }
    }

    #[test]
    fn merge_patch_keeps_member_order_and_appends_new_members() {
        // Deleting "a" must not swap "d" into its place.
        let merged = merge_patch(
            &json!({"a":1,"b":2,"c":3,"d":4}),
            &json!({"a":null,"e":5,"b":0}),
        );
        let keys: Vec<_> = merged
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        assert_eq!(keys, vec!["b", "c", "d", "e"]);
    }

    #[test]
    fn merge_patch_does_not_touch_its_inputs() {
        let target = json!({"spec":{"a":1}});
        let patch = json!({"spec":{"a":null}});
        let _ = merge_patch(&target, &patch);
        assert_eq!(target, json!({"spec":{"a":1}}));
        assert_eq!(patch, json!({"spec":{"a":null}}));
    }

    // --- JSON patch: the operations ------------------------------------------------

    #[test]
    fn add_inserts_members_and_elements() {
        let doc = json!({"spec":{"list":[1,3]}});
        assert_eq!(
            apply(
                doc.clone(),
                json!([{"op":"add","path":"/spec/list/1","value":2}])
            ),
            json!({"spec":{"list":[1,2,3]}})
        );
        assert_eq!(
            apply(
                doc.clone(),
                json!([{"op":"add","path":"/spec/list/-","value":4}])
            ),
            json!({"spec":{"list":[1,3,4]}})
        );
        assert_eq!(
            apply(
                doc.clone(),
                json!([{"op":"add","path":"/spec/list/2","value":4}])
            ),
            json!({"spec":{"list":[1,3,4]}})
        );
        assert_eq!(
            apply(
                doc.clone(),
                json!([{"op":"add","path":"/spec/new","value":null}])
            ),
            json!({"spec":{"list":[1,3],"new":null}})
        );
        assert_eq!(
            apply(doc, json!([{"op":"add","path":"/spec/list","value":"x"}])),
            json!({"spec":{"list":"x"}})
        );
    }

    #[test]
    fn add_at_the_root_replaces_the_document() {
        assert_eq!(
            apply(json!({"a":1}), json!([{"op":"add","path":"","value":[1]}])),
            json!([1])
        );
    }

    #[test]
    fn remove_deletes_members_and_elements() {
        assert_eq!(
            apply(
                json!({"a":1,"b":[1,2,3]}),
                json!([{"op":"remove","path":"/a"},{"op":"remove","path":"/b/0"}])
            ),
            json!({"b":[2,3]})
        );
    }

    #[test]
    fn replace_requires_an_existing_value() {
        assert_eq!(
            apply(
                json!({"a":{"b":1}}),
                json!([{"op":"replace","path":"/a/b","value":{"c":2}}])
            ),
            json!({"a":{"b":{"c":2}}})
        );
        assert_eq!(
            apply(json!(1), json!([{"op":"replace","path":"","value":2}])),
            json!(2)
        );
        let e = fail(
            json!({"a":{}}),
            json!([{"op":"replace","path":"/a/b","value":1}]),
        );
        assert_eq!(
            e.to_string(),
            "operation 0 (replace at /a/b): no value at /a/b"
        );
    }

    #[test]
    fn move_removes_then_adds() {
        assert_eq!(
            apply(
                json!({"a":{"x":1},"b":{}}),
                json!([{"op":"move","from":"/a/x","path":"/b/y"}])
            ),
            json!({"a":{},"b":{"y":1}})
        );
        assert_eq!(
            apply(
                json!({"l":[1,2,3]}),
                json!([{"op":"move","from":"/l/0","path":"/l/-"}])
            ),
            json!({"l":[2,3,1]})
        );
        assert_eq!(
            apply(
                json!({"a":{"b":1}}),
                json!([{"op":"move","from":"/a","path":""}])
            ),
            json!({"b":1})
        );
    }

    #[test]
    fn move_onto_itself_keeps_the_value_but_it_must_exist() {
        let doc = json!({"a":1,"b":2});
        assert_eq!(
            apply(doc.clone(), json!([{"op":"move","from":"/a","path":"/a"}])),
            doc
        );
        let e = fail(doc, json!([{"op":"move","from":"/x","path":"/x"}]));
        assert_eq!(
            e.to_string(),
            "operation 0 (move from /x to /x): no value at /x"
        );
    }

    #[test]
    fn move_into_own_child_is_refused() {
        let e = fail(
            json!({"a":{"b":{}}}),
            json!([{"op":"move","from":"/a","path":"/a/b/c"}]),
        );
        assert_eq!(
            e.to_string(),
            "operation 0 (move from /a to /a/b/c): cannot move a value into one of its own children"
        );
    }

    #[test]
    fn copy_duplicates_a_value() {
        assert_eq!(
            apply(
                json!({"a":{"x":[1]}}),
                json!([{"op":"copy","from":"/a","path":"/b"}])
            ),
            json!({"a":{"x":[1]},"b":{"x":[1]}})
        );
        assert_eq!(
            apply(json!({"a":1}), json!([{"op":"copy","from":"","path":"/b"}])),
            json!({"a":1,"b":{"a":1}})
        );
    }

    #[test]
    fn test_compares_json_values() {
        let doc = json!({"spec":{"type":"a","n":1,"o":{"x":[1,{"y":null}]}}});
        let ok = json!([
            {"op":"test","path":"/spec/type","value":"a"},
            {"op":"test","path":"/spec/n","value":1.0},
            {"op":"test","path":"/spec/o","value":{"x":[1.0,{"y":null}]}},
            {"op":"test","path":"","value":doc.clone()},
        ]);
        assert_eq!(apply(doc.clone(), ok), doc);
        let e = fail(doc, json!([{"op":"test","path":"/spec/n","value":"1"}]));
        assert_eq!(
            e.to_string(),
            "operation 0 (test at /spec/n): value differs"
        );
    }

    #[test]
    fn numbers_compare_by_value_without_rounding_integers() {
        assert!(json_equal(&json!(1), &json!(1.0)));
        assert!(json_equal(&json!(-3), &json!(-3.0)));
        assert!(!json_equal(&json!(u64::MAX), &json!(u64::MAX - 1)));
        assert!(!json_equal(&json!(i64::MIN), &json!(i64::MIN + 1)));
        assert!(!json_equal(&json!(-1), &json!(u64::MAX)));
        assert!(!json_equal(&json!(0.1), &json!(0.2)));
    }

    // --- JSON patch: pointers ------------------------------------------------------------

    #[test]
    fn pointer_escapes_are_decoded() {
        let doc = json!({"a/b":{"m~n":1}, "":{"":2}});
        assert_eq!(
            apply(
                doc.clone(),
                json!([{"op":"test","path":"/a~1b/m~0n","value":1}])
            ),
            doc
        );
        assert_eq!(
            apply(doc.clone(), json!([{"op":"test","path":"//","value":2}])),
            doc
        );
        let e = fail(doc, json!([{"op":"remove","path":"/a~1b/x~1y"}]));
        assert_eq!(
            e.to_string(),
            "operation 0 (remove at /a~1b/x~1y): no value at /a~1b/x~1y"
        );
    }

    #[test]
    fn numeric_tokens_are_member_names_in_objects() {
        assert_eq!(
            apply(
                json!({"0":"x"}),
                json!([{"op":"replace","path":"/0","value":"y"}])
            ),
            json!({"0":"y"})
        );
    }

    #[test]
    fn array_indexes_must_be_canonical_and_in_range() {
        let doc = json!({"l":[0,1]});
        let cases = [
            (json!({"op":"remove","path":"/l/2"}), "operation 0 (remove at /l/2): /l/2 is out of bounds: the array has 2 elements"),
            (json!({"op":"add","path":"/l/3","value":0}), "operation 0 (add at /l/3): /l/3 is out of bounds: the array has 2 elements"),
            (json!({"op":"remove","path":"/l/-"}), "operation 0 (remove at /l/-): no value at /l/-"),
            (json!({"op":"replace","path":"/l/01","value":0}), "operation 0 (replace at /l/01): /l/01 does not name an array element: \"01\" is not an index (digits without leading zeros, or '-' to append with add)"),
        ];
        for (operation, message) in cases {
            assert_eq!(fail(doc.clone(), json!([operation])).to_string(), message);
        }
        for token in ["+1", "-1", "x", "", "1.0", "99999999999999999999999"] {
            let e = fail(
                doc.clone(),
                json!([{"op":"test","path":format!("/l/{token}"),"value":0}]),
            );
            assert!(
                matches!(
                    e,
                    PatchError::OperationFailed {
                        failure: OperationFailure::InvalidIndex { .. },
                        ..
                    }
                ),
                "{token:?}: {e}"
            );
        }
    }

    #[test]
    fn scalars_have_no_children() {
        let e = fail(
            json!({"a":"text"}),
            json!([{"op":"add","path":"/a/b","value":1}]),
        );
        assert_eq!(
            e.to_string(),
            "operation 0 (add at /a/b): no value at /a/b: its parent is a string, not an object or array"
        );
        let e = fail(
            json!({"a":"text"}),
            json!([{"op":"test","path":"/a/b/c","value":1}]),
        );
        assert_eq!(
            e.to_string(),
            "operation 0 (test at /a/b/c): no value at /a/b: its parent is a string, not an object or array"
        );
    }

    #[test]
    fn missing_parents_are_named() {
        let e = fail(
            json!({}),
            json!([{"op":"add","path":"/spec/x/y","value":1}]),
        );
        assert_eq!(
            e.to_string(),
            "operation 0 (add at /spec/x/y): no value at /spec"
        );
    }

    #[test]
    fn the_root_cannot_be_removed() {
        let e = fail(json!({}), json!([{"op":"remove","path":""}]));
        assert_eq!(
            e.to_string(),
            "operation 0 (remove at the document root): cannot remove the whole document"
        );
    }

    // --- JSON patch: the patch document -------------------------------------------------------

    #[test]
    fn the_patch_must_be_an_array() {
        let e = fail(json!({}), json!({"op":"add","path":"/a","value":1}));
        assert_eq!(e, PatchError::NotAnArray { found: "an object" });
        assert_eq!(
            e.to_string(),
            "a JSON patch must be a JSON array of operations, found an object"
        );
    }

    #[test]
    fn an_empty_patch_changes_nothing() {
        assert_eq!(apply(json!({"a":1}), json!([])), json!({"a":1}));
    }

    #[test]
    fn malformed_operations_are_reported_with_their_index() {
        let cases = [
            (json!("add"), "operation 1 is malformed: an operation must be a JSON object, found a string"),
            (json!({"path":"/a"}), "operation 1 is malformed: member \"op\" is missing"),
            (json!({"op":1,"path":"/a"}), "operation 1 is malformed: member \"op\" must be a string, found a number"),
            (json!({"op":"merge","path":"/a"}), "operation 1 is malformed: unknown op \"merge\"; expected add, remove, replace, move, copy or test"),
            (json!({"op":"add","value":1}), "operation 1 is malformed: member \"path\" is missing"),
            (json!({"op":"add","path":"/a"}), "operation 1 is malformed: member \"value\" is missing"),
            (json!({"op":"move","path":"/a"}), "operation 1 is malformed: member \"from\" is missing"),
            (json!({"op":"remove","path":"a"}), "operation 1 is malformed: member \"path\": \"a\" is not a JSON pointer: it must be empty or start with '/'"),
            (json!({"op":"remove","path":"/a~2"}), "operation 1 is malformed: member \"path\": \"/a~2\" is not a JSON pointer: '~' must be followed by '0' or '1'"),
            (json!({"op":"copy","from":"/a~","path":"/b"}), "operation 1 is malformed: member \"from\": \"/a~\" is not a JSON pointer: '~' must be followed by '0' or '1'"),
            (json!({"op":"remove","path":["a"]}), "operation 1 is malformed: member \"path\" must be a string, found an array"),
        ];
        for (operation, message) in cases {
            let patch = json!([{"op":"test","path":"","value":{}}, operation]);
            assert_eq!(fail(json!({}), patch).to_string(), message);
        }
    }

    #[test]
    fn unknown_members_are_ignored() {
        assert_eq!(
            apply(
                json!({}),
                json!([{"op":"add","path":"/a","value":1,"from":"/zzz","comment":"hi"}])
            ),
            json!({"a":1})
        );
    }

    #[test]
    fn a_failing_patch_has_no_effect() {
        let target = json!({"spec":{"type":"a","list":[1]}});
        let patch = json!([
            {"op":"add","path":"/spec/list/-","value":2},
            {"op":"replace","path":"/spec/type","value":"b"},
            {"op":"test","path":"/spec/type","value":"a"},
        ]);
        let e = json_patch(&target, &patch).unwrap_err();
        assert_eq!(
            e.to_string(),
            "operation 2 (test at /spec/type): value differs"
        );
        assert_eq!(target, json!({"spec":{"type":"a","list":[1]}}));
    }

    #[test]
    fn operations_see_the_effect_of_earlier_ones() {
        let patch = json!([
            {"op":"add","path":"/a","value":{}},
            {"op":"add","path":"/a/b","value":[]},
            {"op":"add","path":"/a/b/-","value":1},
            {"op":"copy","from":"/a/b","path":"/c"},
            {"op":"test","path":"/c/0","value":1},
        ]);
        assert_eq!(apply(json!({}), patch), json!({"a":{"b":[1]},"c":[1]}));
    }

    // --- properties -------------------------------------------------------------------

    /// JSON without nulls in objects: a merge patch cannot express such
    /// members (null means delete), so the diff property only holds without.
    fn document() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            any::<bool>().prop_map(Value::from),
            (-5i64..5).prop_map(Value::from),
            "[a-c]{0,2}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(prop_oneof![inner.clone(), Just(Value::Null)], 0..3)
                    .prop_map(Value::from),
                proptest::collection::btree_map("[a-d]", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Any JSON value, nulls included.
    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            (-5i64..5).prop_map(Value::from),
            "[a-c]{0,2}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..3).prop_map(Value::from),
                proptest::collection::btree_map("[a-d]", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// The merge patch that turns `from` into `to`.
    fn merge_diff(from: &Value, to: &Value) -> Value {
        let (Value::Object(old), Value::Object(new)) = (from, to) else {
            return to.clone();
        };
        let mut patch = Map::new();
        for name in old.keys().filter(|name| !new.contains_key(*name)) {
            patch.insert(name.clone(), Value::Null);
        }
        for (name, value) in new {
            match old.get(name) {
                Some(current) if current == value => {}
                Some(current) => {
                    patch.insert(name.clone(), merge_diff(current, value));
                }
                None => {
                    patch.insert(name.clone(), value.clone());
                }
            }
        }
        Value::Object(patch)
    }

    /// Pointers into the shapes `document()` produces, some of them absent.
    fn pointer() -> impl Strategy<Value = String> {
        let token = prop_oneof![
            "[a-d]",
            "[0-3]",
            Just("-".to_string()),
            Just("01".to_string())
        ];
        proptest::collection::vec(token, 0..3)
            .prop_map(|tokens| tokens.iter().map(|t| format!("/{t}")).collect())
    }

    fn operation() -> impl Strategy<Value = Value> {
        prop_oneof![
            (pointer(), document())
                .prop_map(|(path, value)| json!({"op":"add","path":path,"value":value})),
            pointer().prop_map(|path| json!({"op":"remove","path":path})),
            (pointer(), document())
                .prop_map(|(path, value)| json!({"op":"replace","path":path,"value":value})),
            (pointer(), pointer())
                .prop_map(|(from, path)| json!({"op":"move","from":from,"path":path})),
            (pointer(), pointer())
                .prop_map(|(from, path)| json!({"op":"copy","from":from,"path":path})),
            (pointer(), document())
                .prop_map(|(path, value)| json!({"op":"test","path":path,"value":value})),
        ]
    }

    proptest! {
        #[test]
        fn merge_patch_of_a_diff_reproduces_the_other_document(from in document(), to in document()) {
            let patch = merge_diff(&from, &to);
            prop_assert_eq!(merge_patch(&from, &patch), to, "patch {}", patch);
        }

        #[test]
        fn merge_patch_is_idempotent(target in any_json(), patch in any_json()) {
            let once = merge_patch(&target, &patch);
            prop_assert_eq!(merge_patch(&once, &patch), once);
        }

        #[test]
        fn merge_patch_with_an_empty_object_changes_nothing_in_an_object(
            members in proptest::collection::btree_map("[a-d]", any_json(), 0..4),
        ) {
            let target = Value::Object(members.into_iter().collect());
            prop_assert_eq!(merge_patch(&target, &json!({})), target);
        }

        /// The json-patch crate (already a dependency) as an independent
        /// implementation of RFC 6902: both must agree on success and result.
        /// Its `patch_unsafe`, because its rolling-back `patch` panics when
        /// undoing a move to the root (json-patch 4.2).
        #[test]
        fn json_patch_agrees_with_the_json_patch_crate(
            target in document(),
            operations in proptest::collection::vec(operation(), 1..4),
        ) {
            let patch = Value::Array(operations);
            let ours = json_patch(&target, &patch);
            let theirs = serde_json::from_value::<json_patch::Patch>(patch.clone())
                .map_err(|e| e.to_string())
                .and_then(|p| {
                    let mut doc = target.clone();
                    json_patch::patch_unsafe(&mut doc, &p).map(|()| doc).map_err(|e| e.to_string())
                });
            match (&ours, &theirs) {
                (Ok(a), Ok(b)) => prop_assert_eq!(a, b, "patch {}", patch),
                (Err(_), Err(_)) => {}
                _ => prop_assert!(false, "patch {} on {}: ours {:?}, crate {:?}", patch, target, ours, theirs),
            }
        }

        #[test]
        fn json_patch_is_its_operations_applied_in_turn(
            target in document(),
            operations in proptest::collection::vec(operation(), 1..4),
        ) {
            // Stepping through one operation at a time must give the same
            // document, or fail at the same operation for the same reason.
            let whole = json_patch(&target, &Value::Array(operations.clone()));
            let mut document = target.clone();
            let mut failed_at = None;
            for (index, operation) in operations.iter().enumerate() {
                match json_patch(&document, &json!([operation])) {
                    Ok(next) => document = next,
                    Err(PatchError::OperationFailed { failure, .. }) => {
                        failed_at = Some((index, failure));
                        break;
                    }
                    Err(other) => prop_assert!(false, "generated operations are well-formed: {}", other),
                }
            }
            match (whole, failed_at) {
                (Ok(result), None) => prop_assert_eq!(result, document),
                (Err(PatchError::OperationFailed { index, failure, .. }), Some(step)) => {
                    prop_assert_eq!((index, failure), step);
                }
                (whole, step) => prop_assert!(false, "whole patch {:?}, stepwise {:?}", whole, step),
            }
        }
    }
}
