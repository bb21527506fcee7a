//! Counter items: an object item (`obj`, `rv`, type index) whose numbers
//! are item attributes of their own, so that one TransactWriteItems can
//! add to them under a condition on their current values (DynamoDB
//! evaluates `n >= :v` itself; no read-modify-write). Reads return those
//! attributes beside the document ([`crate::Stored::attributes`]); what
//! they mean to the object is its owner's business.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;

use crate::ItemKey;

/// What must hold of a counter item for its write to go through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CounterCondition {
    /// The item exists.
    Exists,
    /// The item does not exist.
    Missing,
    /// The numeric attribute is at least the number (false when missing).
    AtLeast(String, i64),
    /// The numeric attribute is the number (false when missing).
    Equals(String, i64),
    /// The string attribute is the text, or missing.
    TextOrMissing(String, String),
    /// Every condition holds (none: always).
    All(Vec<CounterCondition>),
    /// One condition holds at least (none: never).
    Any(Vec<CounterCondition>),
}

/// One counter item's write: numbers added to (a missing number counts as
/// 0), strings set, attributes removed, the version bumped, the item
/// created from `document` when it is missing.
#[derive(Debug, Clone, PartialEq)]
pub struct CounterWrite {
    pub key: ItemKey,
    /// The object document written if the item is new (with the type
    /// index attributes of its key); `None` when the condition requires
    /// the item to exist, so the write only moves numbers.
    pub document: Option<Value>,
    /// `(attribute, delta)`: added to the number (0 adds the attribute
    /// where missing).
    pub add: Vec<(String, i64)>,
    pub set: Vec<(String, String)>,
    pub remove: Vec<String>,
    pub condition: Option<CounterCondition>,
}

/// An update's expressions: update, condition, names, values.
pub(crate) struct Expressions {
    pub update: String,
    pub condition: Option<String>,
    pub names: HashMap<String, String>,
    pub values: HashMap<String, AttributeValue>,
}

/// Placeholders handed out as the expressions are built: one name per
/// attribute, one value per use.
#[derive(Default)]
struct Placeholders {
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Placeholders {
    fn name(&mut self, attribute: &str) -> String {
        let next = format!("#a{}", self.names.len());
        self.names
            .entry(attribute.to_string())
            .or_insert(next)
            .clone()
    }

    fn value(&mut self, value: AttributeValue) -> String {
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), value);
        placeholder
    }

    fn condition(&mut self, condition: &CounterCondition) -> String {
        use CounterCondition::*;
        match condition {
            Exists => "attribute_exists(pk)".into(),
            Missing => "attribute_not_exists(pk)".into(),
            AtLeast(attr, n) => format!("{} >= {}", self.name(attr), self.value(number(*n))),
            Equals(attr, n) => format!("{} = {}", self.name(attr), self.value(number(*n))),
            TextOrMissing(attr, text) => {
                let name = self.name(attr);
                let value = self.value(AttributeValue::S(text.clone()));
                format!("(attribute_not_exists({name}) OR {name} = {value})")
            }
            All(all) if all.is_empty() => "attribute_exists(pk) OR attribute_not_exists(pk)".into(),
            Any(any) if any.is_empty() => {
                "attribute_exists(pk) AND attribute_not_exists(pk)".into()
            }
            All(all) => self.joined(all, " AND "),
            Any(any) => self.joined(any, " OR "),
        }
    }

    fn joined(&mut self, conditions: &[CounterCondition], with: &str) -> String {
        let parts: Vec<String> = conditions.iter().map(|c| self.condition(c)).collect();
        format!("({})", parts.join(with))
    }
}

fn number(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub(crate) fn expressions(write: &CounterWrite) -> Expressions {
    let mut p = Placeholders::default();
    p.values.insert(":zero".into(), number(0));
    p.values.insert(":one".into(), number(1));
    let mut set = vec!["rv = if_not_exists(rv, :zero) + :one".to_string()];
    if let Some(document) = &write.document {
        let doc = p.value(AttributeValue::S(document.to_string()));
        set.push(format!("obj = if_not_exists(obj, {doc})"));
        if let Some((type_pk, type_sk)) = crate::keys::type_index_of(&write.key) {
            let tpk = p.value(AttributeValue::S(type_pk));
            let tsk = p.value(AttributeValue::S(type_sk));
            set.push(format!("gsi1pk = if_not_exists(gsi1pk, {tpk})"));
            set.push(format!("gsi1sk = if_not_exists(gsi1sk, {tsk})"));
        }
    }
    for (attr, delta) in &write.add {
        let name = p.name(attr);
        let delta = p.value(number(*delta));
        set.push(format!("{name} = if_not_exists({name}, :zero) + {delta}"));
    }
    for (attr, text) in &write.set {
        let name = p.name(attr);
        let value = p.value(AttributeValue::S(text.clone()));
        set.push(format!("{name} = {value}"));
    }
    let remove: Vec<String> = write.remove.iter().map(|a| p.name(a)).collect();
    let mut update = format!("SET {}", set.join(", "));
    if !remove.is_empty() {
        update.push_str(&format!(" REMOVE {}", remove.join(", ")));
    }
    let condition = write.condition.as_ref().map(|c| p.condition(c));
    Expressions {
        update,
        condition,
        names: p
            .names
            .into_iter()
            .map(|(attr, name)| (name, attr))
            .collect(),
        values: p.values,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use CounterCondition::*;

    fn write(condition: Option<CounterCondition>) -> CounterWrite {
        CounterWrite {
            key: ItemKey {
                pk: "o#_#example.com#Widget".into(),
                sk: "ns#w".into(),
            },
            document: Some(json!({"kind": "Widget"})),
            add: vec![("n".into(), 2), ("m#x".into(), 0)],
            set: vec![("p".into(), "a".into())],
            remove: vec!["old".into()],
            condition,
        }
    }

    #[test]
    fn one_placeholder_per_attribute_in_update_and_condition() {
        let condition = All(vec![
            Any(vec![Missing, AtLeast("n".into(), 3)]),
            TextOrMissing("p".into(), "a".into()),
        ]);
        let e = expressions(&write(Some(condition)));
        let name = |attr: &str| {
            e.names
                .iter()
                .find(|(_, a)| a.as_str() == attr)
                .map(|(n, _)| n.clone())
                .unwrap()
        };
        let (n, m, p, old) = (name("n"), name("m#x"), name("p"), name("old"));
        assert_eq!(e.names.len(), 4);
        assert!(
            e.update
                .contains(&format!("{n} = if_not_exists({n}, :zero) + ")),
            "{}",
            e.update
        );
        assert!(e
            .update
            .contains(&format!("{m} = if_not_exists({m}, :zero)")));
        assert!(e.update.contains(&format!("{p} = :v")));
        assert!(e.update.ends_with(&format!(" REMOVE {old}")));
        assert!(e.update.contains("obj = if_not_exists(obj, :v"));
        assert!(e.update.contains("gsi1pk = if_not_exists(gsi1pk, :v"));
        let condition = e.condition.unwrap();
        assert!(
            condition.starts_with(&format!("((attribute_not_exists(pk) OR {n} >= :v")),
            "{condition}"
        );
        assert!(condition.ends_with(&format!("(attribute_not_exists({p}) OR {p} = :v9))")));
        assert_eq!(e.values[":v9"], AttributeValue::S("a".into()));
    }

    #[test]
    fn an_item_that_must_exist_gets_no_document() {
        let e = expressions(&CounterWrite {
            document: None,
            ..write(Some(Exists))
        });
        assert!(!e.update.contains("obj"), "{}", e.update);
        assert!(!e.update.contains("gsi1"), "{}", e.update);
        assert_eq!(e.condition.as_deref(), Some("attribute_exists(pk)"));
    }
}
