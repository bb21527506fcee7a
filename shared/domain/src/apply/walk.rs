//! The walks along an object and its shape: the fields a value sets, an
//! applied configuration merged into the live object, what changed between
//! two objects, and paths taken out of an object.

use serde_json::{Map, Value};

use super::field_set::{FieldSet, Step};
use crate::schema::{ListShape, Shape};

/// A keyed list's item without one of its keys: its path and the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingKey {
    pub path: String,
    pub key: String,
}

/// The fields `value` (an object) sets: its leaves, a keyed list's items
/// (each owned itself and by field), a set's items by value.
pub fn fields_of(shape: Shape<'_>, value: &Value) -> Result<FieldSet, MissingKey> {
    match value {
        Value::Object(map) => object_fields(shape, map, ""),
        _ => Ok(FieldSet::default()),
    }
}

fn object_fields(
    shape: Shape<'_>,
    map: &Map<String, Value>,
    path: &str,
) -> Result<FieldSet, MissingKey> {
    let mut set = FieldSet::default();
    for (name, value) in map {
        let child = shape.field(name);
        if child.is_ignored() {
            continue;
        }
        let step = Step::Field(name.clone());
        match value_fields(child, value, &format!("{path}.{name}"))? {
            Some(below) if !below.is_empty() => set.insert_child(step, below),
            // A struct sets only its fields (none here, or only ignored ones).
            Some(_) if child.is_struct() => {}
            _ => set.insert_member(step),
        }
    }
    Ok(set)
}

/// What is below a value, or None when it is a leaf (owned whole).
fn value_fields(
    shape: Shape<'_>,
    value: &Value,
    path: &str,
) -> Result<Option<FieldSet>, MissingKey> {
    match value {
        Value::Object(map) if !shape.is_atomic_map() => object_fields(shape, map, path).map(Some),
        Value::Array(items) => match shape.list() {
            ListShape::Atomic => Ok(None),
            ListShape::Set => {
                let mut set = FieldSet::default();
                items
                    .iter()
                    .for_each(|item| set.insert_member(Step::value(item)));
                Ok(Some(set))
            }
            ListShape::Map(keys) => {
                let mut set = FieldSet::default();
                for (index, item) in items.iter().enumerate() {
                    let item_path = format!("{path}[{index}]");
                    let step = item_key(keys, item, &item_path)?;
                    let below = match item {
                        Value::Object(map) => object_fields(shape.items(), map, &item_path)?,
                        _ => FieldSet::default(),
                    };
                    set.insert_member(step.clone());
                    set.insert_child(step, below);
                }
                Ok(Some(set))
            }
        },
        _ => Ok(None),
    }
}

/// The step to a keyed list's item: the values of its key fields.
fn item_key(keys: &[String], item: &Value, path: &str) -> Result<Step, MissingKey> {
    let mut found = Map::new();
    for key in keys {
        match item.get(key) {
            Some(value) if !value.is_null() => {
                found.insert(key.clone(), value.clone());
            }
            _ => {
                return Err(MissingKey {
                    path: path.to_string(),
                    key: key.clone(),
                })
            }
        }
    }
    Ok(Step::key(&found))
}

/// The step of a list item when the list is keyed or a set; None for an
/// atomic list or an item without its keys.
fn item_step(list: ListShape<'_>, item: &Value) -> Option<Step> {
    match list {
        ListShape::Atomic => None,
        ListShape::Set => Some(Step::value(item)),
        ListShape::Map(keys) => item_key(keys, item, "").ok(),
    }
}

/// `config` merged into `live`: objects field by field, sets by value,
/// keyed lists item by item (the live order kept, new items after), the
/// rest replaced. Fields no manager owns (`Shape::is_ignored`) stay live's.
pub fn merge(shape: Shape<'_>, live: &Value, config: &Value) -> Value {
    match (live, config) {
        (Value::Object(live_map), Value::Object(config_map)) if !shape.is_atomic_map() => {
            let mut merged = live_map.clone();
            for (name, value) in config_map {
                let child = shape.field(name);
                if child.is_ignored() {
                    continue;
                }
                let next = match live_map.get(name) {
                    Some(old) => merge(child, old, value),
                    None => value.clone(),
                };
                merged.insert(name.clone(), next);
            }
            Value::Object(merged)
        }
        (Value::Array(live_items), Value::Array(config_items)) => {
            let list = shape.list();
            if list == ListShape::Atomic {
                return config.clone();
            }
            let mut merged = live_items.clone();
            for item in config_items {
                let step = item_step(list, item);
                let at = merged
                    .iter()
                    .position(|old| step.is_some() && item_step(list, old) == step);
                match at {
                    Some(index) => merged[index] = merge(shape.items(), &merged[index], item),
                    None => merged.push(item.clone()),
                }
            }
            Value::Array(merged)
        }
        _ => config.clone(),
    }
}

/// What changed from `old` to `new`: the paths set or changed (a value
/// added whole with everything below it), and the paths taken away.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Comparison {
    pub changed: FieldSet,
    pub removed: FieldSet,
}

pub fn compare(shape: Shape<'_>, old: &Value, new: &Value) -> Comparison {
    let mut comparison = Comparison::default();
    if let (Value::Object(old), Value::Object(new)) = (old, new) {
        compare_objects(shape, old, new, &mut comparison);
    }
    comparison
}

fn compare_objects(
    shape: Shape<'_>,
    old: &Map<String, Value>,
    new: &Map<String, Value>,
    out: &mut Comparison,
) {
    for (name, old_value) in old {
        let child = shape.field(name);
        if !child.is_ignored() && !new.contains_key(name) {
            out.removed.insert_member(Step::Field(name.clone()));
        }
        if let (false, Some(new_value)) = (child.is_ignored(), new.get(name)) {
            compare_values(child, Step::Field(name.clone()), old_value, new_value, out);
        }
    }
    for (name, value) in new {
        let child = shape.field(name);
        if !child.is_ignored() && !old.contains_key(name) {
            added(child, Step::Field(name.clone()), value, out);
        }
    }
}

/// `value` added at `step`: the step itself (unless it is a struct, which
/// is only its fields), and whatever is below it.
fn added(shape: Shape<'_>, step: Step, value: &Value, out: &mut Comparison) {
    let below = match value_fields(shape, value, "") {
        Ok(Some(below)) => below,
        _ => FieldSet::default(),
    };
    if !(value.is_object() && shape.is_struct()) {
        out.changed.insert_member(step.clone());
    }
    out.changed.insert_child(step, below);
}

fn compare_values(shape: Shape<'_>, step: Step, old: &Value, new: &Value, out: &mut Comparison) {
    let mut below = Comparison::default();
    match (old, new) {
        (Value::Object(o), Value::Object(n)) if !shape.is_atomic_map() => {
            compare_objects(shape, o, n, &mut below)
        }
        (Value::Array(o), Value::Array(n)) if shape.list() != ListShape::Atomic => {
            compare_lists(shape, o, n, &mut below)
        }
        _ if old != new => out.changed.insert_member(step.clone()),
        _ => {}
    }
    out.changed.insert_child(step.clone(), below.changed);
    out.removed.insert_child(step, below.removed);
}

fn compare_lists(shape: Shape<'_>, old: &[Value], new: &[Value], out: &mut Comparison) {
    let list = shape.list();
    let find = |items: &[Value], step: &Step| {
        items
            .iter()
            .find(|item| item_step(list, item).as_ref() == Some(step))
            .cloned()
    };
    for item in old {
        let Some(step) = item_step(list, item) else {
            continue;
        };
        match find(new, &step) {
            None => out.removed.insert_member(step),
            Some(now) => compare_values(shape.items(), step, item, &now, out),
        }
    }
    for item in new {
        let Some(step) = item_step(list, item) else {
            continue;
        };
        if find(old, &step).is_none() {
            match list {
                ListShape::Map(_) => added(shape.items(), step, item, out),
                _ => out.changed.insert_member(step),
            }
        }
    }
}

/// Takes the paths of `set` out of `value`: a field, a keyed list's item,
/// a set's item. A path below a value that is gone is nothing to take.
pub fn remove(shape: Shape<'_>, value: &mut Value, set: &FieldSet) {
    match value {
        Value::Object(map) => {
            map.retain(|name, _| !set.has_member(&Step::Field(name.clone())));
            for (name, below) in map.iter_mut() {
                if let Some(paths) = set.child(&Step::Field(name.clone())) {
                    remove(shape.field(name), below, paths);
                }
            }
        }
        Value::Array(items) => {
            let list = shape.list();
            items.retain(|item| !item_step(list, item).is_some_and(|s| set.has_member(&s)));
            for item in items.iter_mut() {
                if let Some(paths) = item_step(list, item).and_then(|s| set.child(&s)) {
                    remove(shape.items(), item, paths);
                }
            }
        }
        _ => {}
    }
}
