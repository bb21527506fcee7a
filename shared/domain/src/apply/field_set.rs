//! Sets of field paths, as `managedFields[].fieldsV1` writes them
//! (structured-merge-diff's format): `f:name` a field, `k:{"name":"a"}` a
//! list item by its keys, `v:"x"` a set's item by value, and `.` inside an
//! entry for the entry itself when what is below it is listed too.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::{Map, Value};

/// One step of a path into an object.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Step {
    /// An object's field.
    Field(String),
    /// A list item, by its key fields (canonical JSON, keys sorted).
    Key(String),
    /// A set's item, by its value (canonical JSON).
    Value(String),
}

impl Step {
    /// The step to the item of a keyed list whose key fields are `keys`.
    pub fn key(keys: &Map<String, Value>) -> Step {
        Step::Key(canonical(&Value::Object(keys.clone())))
    }

    /// The step to the set item `value`.
    pub fn value(value: &Value) -> Step {
        Step::Value(canonical(value))
    }

    fn parse(text: &str) -> Result<Step, String> {
        let (prefix, rest) = text.split_at(text.len().min(2));
        let json = |rest: &str| {
            serde_json::from_str::<Value>(rest)
                .map(|v| canonical(&v))
                .map_err(|e| format!("{text:?} is not a path element: {e}"))
        };
        match prefix {
            "f:" => Ok(Step::Field(rest.to_string())),
            "k:" => json(rest).map(Step::Key),
            "v:" => json(rest).map(Step::Value),
            _ => Err(format!(
                "{text:?} is not a path element (f:, k: or v:, or \".\")"
            )),
        }
    }

    fn text(&self) -> String {
        match self {
            Step::Field(name) => format!("f:{name}"),
            Step::Key(keys) => format!("k:{keys}"),
            Step::Value(value) => format!("v:{value}"),
        }
    }
}

/// A path as Kubernetes prints it in a conflict: `.spec.ports[name="http"].port`.
pub struct Path<'a>(pub &'a [Step]);

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for step in self.0 {
            match step {
                Step::Field(name) => write!(f, ".{name}")?,
                Step::Key(keys) => {
                    let keys: Map<String, Value> = serde_json::from_str(keys).unwrap_or_default();
                    let pairs: Vec<String> = keys.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    write!(f, "[{}]", pairs.join(","))?
                }
                Step::Value(value) => write!(f, "[={value}]")?,
            }
        }
        Ok(())
    }
}

/// JSON with every object's keys sorted: one spelling per value.
fn canonical(value: &Value) -> String {
    fn sorted(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let ordered: BTreeMap<&String, Value> =
                    map.iter().map(|(k, v)| (k, sorted(v))).collect();
                Value::Object(ordered.into_iter().map(|(k, v)| (k.clone(), v)).collect())
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(value).to_string()
}

/// A set of paths: those that end here (`members`) and those that go on
/// (`children`). A step may be both: a list item owned itself and in part.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSet {
    members: BTreeSet<Step>,
    children: BTreeMap<Step, FieldSet>,
}

impl FieldSet {
    pub fn is_empty(&self) -> bool {
        self.members.is_empty() && self.children.is_empty()
    }

    /// Adds the path `step` here.
    pub fn insert_member(&mut self, step: Step) {
        self.members.insert(step);
    }

    /// Adds `set` below `step` (nothing if it is empty).
    pub fn insert_child(&mut self, step: Step, set: FieldSet) {
        if !set.is_empty() {
            self.children.entry(step).or_default().add(set);
        }
    }

    pub fn has_member(&self, step: &Step) -> bool {
        self.members.contains(step)
    }

    /// What is below `step`.
    pub fn child(&self, step: &Step) -> Option<&FieldSet> {
        self.children.get(step)
    }

    /// This set with `other`'s paths added.
    pub fn add(&mut self, other: FieldSet) {
        self.members.extend(other.members);
        for (step, set) in other.children {
            self.insert_child(step, set);
        }
    }

    pub fn union(&self, other: &FieldSet) -> FieldSet {
        let mut union = self.clone();
        union.add(other.clone());
        union
    }

    /// The paths of this set that are not in `other`.
    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        let members = self.members.difference(&other.members).cloned().collect();
        let children = self
            .children
            .iter()
            .map(|(step, set)| match other.children.get(step) {
                Some(theirs) => (step.clone(), set.difference(theirs)),
                None => (step.clone(), set.clone()),
            })
            .filter(|(_, set)| !set.is_empty())
            .collect();
        FieldSet { members, children }
    }

    /// The paths in both.
    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        let members = self.members.intersection(&other.members).cloned().collect();
        let children = self
            .children
            .iter()
            .filter_map(|(step, set)| {
                let both = set.intersection(other.children.get(step)?);
                (!both.is_empty()).then(|| (step.clone(), both))
            })
            .collect();
        FieldSet { members, children }
    }

    /// The paths of this set that no path of `held` is, nor goes through:
    /// what may be taken out of an object without taking what `held` owns.
    pub fn not_held_by(&self, held: &FieldSet) -> FieldSet {
        let members = self
            .members
            .iter()
            .filter(|m| !held.members.contains(*m) && !held.children.contains_key(*m))
            .cloned()
            .collect();
        let children = self
            .children
            .iter()
            .map(|(step, set)| match held.children.get(step) {
                Some(theirs) => (step.clone(), set.not_held_by(theirs)),
                None => (step.clone(), set.clone()),
            })
            .filter(|(_, set)| !set.is_empty())
            .collect();
        FieldSet { members, children }
    }

    /// Every path of the set, in order.
    pub fn paths(&self) -> Vec<Vec<Step>> {
        let mut paths: Vec<Vec<Step>> = self.members.iter().map(|m| vec![m.clone()]).collect();
        for (step, set) in &self.children {
            for mut rest in set.paths() {
                rest.insert(0, step.clone());
                paths.push(rest);
            }
        }
        paths.sort();
        paths
    }

    /// The set as `fieldsV1`.
    pub fn to_fields_v1(&self) -> Value {
        let mut steps: BTreeMap<&Step, Value> = BTreeMap::new();
        for member in &self.members {
            steps.insert(member, Value::Object(Map::new()));
        }
        for (step, set) in &self.children {
            let mut below = Map::new();
            if self.members.contains(step) {
                below.insert(".".into(), Value::Object(Map::new()));
            }
            if let Value::Object(map) = set.to_fields_v1() {
                below.extend(map);
            }
            steps.insert(step, Value::Object(below));
        }
        Value::Object(steps.into_iter().map(|(s, v)| (s.text(), v)).collect())
    }

    /// A set from `fieldsV1`.
    pub fn from_fields_v1(value: &Value) -> Result<FieldSet, String> {
        let Value::Object(map) = value else {
            return Err("fieldsV1 is not an object".into());
        };
        let mut set = FieldSet::default();
        for (text, below) in map.iter().filter(|(text, _)| *text != ".") {
            let step = Step::parse(text)?;
            let Value::Object(inner) = below else {
                return Err(format!("the value under {text:?} is not an object"));
            };
            if inner.is_empty() || inner.contains_key(".") {
                set.members.insert(step.clone());
            }
            set.insert_child(step, FieldSet::from_fields_v1(below)?);
        }
        Ok(set)
    }
}
