//! The shapes a schema node can take beyond its type: list and map types
//! (`x-kubernetes-list-type`, `-list-map-keys`, `-map-type`) and the
//! junctors (`allOf`, `anyOf`, `oneOf`, `not`), each checked as Kubernetes
//! checks a CRD schema.

use super::*;

impl Compiler {
    pub(super) fn list_and_map_types(
        &mut self,
        map: &Map<String, Value>,
        path: &str,
        node: &mut Node,
    ) {
        let lpath = child_path(path, "x-kubernetes-list-type");
        let kpath = child_path(path, "x-kubernetes-list-map-keys");
        if let Some(list_type) = self.string_field(map, "x-kubernetes-list-type", path) {
            node.list_type = match list_type.as_str() {
                "atomic" => Some(ListType::Atomic),
                "set" => Some(ListType::Set),
                "map" => Some(ListType::Map),
                other => {
                    self.causes.push(Cause::not_supported(
                        &lpath,
                        format!(
                            "Unsupported value: {}: supported values: \"atomic\", \"set\", \"map\"",
                            render(&Value::String(other.to_string()))
                        ),
                    ));
                    None
                }
            };
            if node.ty != Some(Type::Array) {
                self.invalid(
                    &lpath,
                    format!(
                        "Invalid value: {}: must only be used if type is array",
                        render(&Value::String(list_type))
                    ),
                );
            }
        }
        match map.get("x-kubernetes-list-map-keys") {
            None | Some(Value::Null) => {}
            Some(Value::Array(keys)) if keys.iter().all(Value::is_string) => {
                node.list_map_keys = keys
                    .iter()
                    .filter_map(|k| k.as_str().map(String::from))
                    .collect();
            }
            Some(other) => self.invalid(
                &kpath,
                format!(
                    "Invalid value: {}: must be a list of property names",
                    render(other)
                ),
            ),
        }
        if node.list_type == Some(ListType::Map) {
            self.check_map_list(path, node);
        } else if !node.list_map_keys.is_empty() {
            self.forbidden(&kpath, "may only be used with x-kubernetes-list-type: map");
        }
        if let Some(map_type) = self.string_field(map, "x-kubernetes-map-type", path) {
            let mpath = child_path(path, "x-kubernetes-map-type");
            node.map_atomic = map_type == "atomic";
            if !matches!(map_type.as_str(), "granular" | "atomic") {
                self.causes.push(Cause::not_supported(
                    &mpath,
                    format!(
                        "Unsupported value: {}: supported values: \"granular\", \"atomic\"",
                        render(&Value::String(map_type.clone()))
                    ),
                ));
            }
            if node.ty != Some(Type::Object) {
                self.invalid(
                    &mpath,
                    format!(
                        "Invalid value: {}: must only be used if type is object",
                        render(&Value::String(map_type))
                    ),
                );
            }
        }
    }

    /// A map list: object items, identified by scalar key properties that
    /// are always there (required or defaulted).
    pub(super) fn check_map_list(&mut self, path: &str, node: &Node) {
        let kpath = child_path(path, "x-kubernetes-list-map-keys");
        if node.list_map_keys.is_empty() {
            self.required(&kpath, "must not be empty if x-kubernetes-list-type is map");
        }
        let Some(items) = node.items.as_deref() else {
            return;
        };
        if items.ty != Some(Type::Object) {
            self.invalid(
                &child_path(path, "items.type"),
                format!(
                    "Invalid value: {}: must be object if parent array's x-kubernetes-list-type is map",
                    render(&json!(items.type_name()))
                ),
            );
            return;
        }
        let keys = Value::from(node.list_map_keys.clone());
        let mut seen = std::collections::HashSet::new();
        if !node.list_map_keys.iter().all(|k| seen.insert(k)) {
            self.invalid(
                &kpath,
                format!("Invalid value: {keys}: must not contain duplicate entries"),
            );
        }
        for key in &node.list_map_keys {
            let ppath = child_path(path, &format!("items.properties[{key}]"));
            let Some(prop) = items.property(key) else {
                self.invalid(
                    &kpath,
                    format!("Invalid value: {keys}: entries must all be names of item properties"),
                );
                return;
            };
            // Integer, number, string or boolean: an untyped key (e.g.
            // int-or-string) is scalar too.
            if matches!(prop.ty, Some(Type::Array | Type::Object)) {
                self.invalid(
                    &child_path(&ppath, "type"),
                    format!(
                        "Invalid value: {}: must be a scalar type if parent array's x-kubernetes-list-type is map",
                        render(&json!(prop.type_name()))
                    ),
                );
            }
            // Items are told apart by their keys: every item must have them.
            if prop.default.is_none() && !items.required.contains(key) {
                self.required(
                    &child_path(&ppath, "default"),
                    "this property is in x-kubernetes-list-map-keys, so it must have a default or be a required property",
                );
            }
        }
    }

    pub(super) fn junctors(
        &mut self,
        map: &Map<String, Value>,
        path: &str,
        ctx: Ctx,
        node: &mut Node,
    ) {
        // Kubernetes allows the `type`s of the int-or-string pattern
        // (`[{type: integer}, {type: string}]`) in the `anyOf` of an
        // int-or-string node, or in the `anyOf` of its `allOf[0]`.
        let pattern_allowed = node.int_or_string || ctx.any_of_types;
        let junctor = |type_allowed, any_of_types| Ctx {
            junctor: true,
            type_allowed,
            any_of_types,
            ..ctx.below()
        };
        for key in ["allOf", "anyOf", "oneOf"] {
            let Some(value) = map.get(key).filter(|v| !v.is_null()) else {
                continue;
            };
            let jpath = child_path(path, key);
            let Some(docs) = value.as_array() else {
                self.invalid(
                    &jpath,
                    format!(
                        "Invalid value: {}: must be a list of schemas",
                        render(value)
                    ),
                );
                continue;
            };
            let mut subs = Vec::new();
            for (i, doc) in docs.iter().enumerate() {
                let sub_path = key_path(&jpath, i);
                if !ctx.junctor {
                    self.check_junctor_fields(doc, map, &sub_path, path, 0);
                }
                let type_allowed =
                    key == "anyOf" && pattern_allowed && is_int_or_string_any_of(value);
                let any_of_types = key == "allOf" && i == 0 && node.int_or_string;
                subs.push(self.node(doc, &sub_path, junctor(type_allowed, any_of_types)));
            }
            match key {
                "allOf" => node.all_of = subs,
                "anyOf" => node.any_of = subs,
                _ => node.one_of = subs,
            }
        }
        if let Some(doc) = map.get("not").filter(|v| !v.is_null()) {
            let npath = child_path(path, "not");
            if !ctx.junctor {
                self.check_junctor_fields(doc, map, &npath, path, 0);
            }
            node.not = Some(Box::new(self.node(doc, &npath, junctor(false, false))));
        }
    }

    /// Every property (and `items`) a junctor names must also be in the
    /// structural part of the schema, as Kubernetes requires.
    pub(super) fn check_junctor_fields(
        &mut self,
        junctor: &Value,
        structural: &Map<String, Value>,
        junctor_path: &str,
        structural_path: &str,
        depth: usize,
    ) {
        if depth > MAX_DEPTH {
            return;
        }
        let Some(junctor) = junctor.as_object() else {
            return;
        };
        if let Some(props) = junctor.get("properties").and_then(Value::as_object) {
            let declared = structural.get("properties").and_then(Value::as_object);
            for (name, sub) in props {
                let spath = child_path(structural_path, &format!("properties[{name}]"));
                let jpath = child_path(junctor_path, &format!("properties[{name}]"));
                match declared
                    .and_then(|d| d.get(name))
                    .and_then(Value::as_object)
                {
                    Some(counterpart) => {
                        self.check_junctor_fields(sub, counterpart, &jpath, &spath, depth + 1)
                    }
                    None => self.required(&spath, &format!("because it is defined in {jpath}")),
                }
            }
        }
        if let Some(items) = junctor.get("items") {
            let spath = child_path(structural_path, "items");
            let jpath = child_path(junctor_path, "items");
            match structural.get("items").and_then(Value::as_object) {
                Some(counterpart) => {
                    self.check_junctor_fields(items, counterpart, &jpath, &spath, depth + 1)
                }
                None => self.required(&spath, &format!("because it is defined in {jpath}")),
            }
        }
        for key in ["allOf", "anyOf", "oneOf"] {
            for (i, sub) in junctor
                .get(key)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                let jpath = key_path(&child_path(junctor_path, key), i);
                self.check_junctor_fields(sub, structural, &jpath, structural_path, depth + 1);
            }
        }
        if let Some(sub) = junctor.get("not") {
            let jpath = child_path(junctor_path, "not");
            self.check_junctor_fields(sub, structural, &jpath, structural_path, depth + 1);
        }
    }
}
