//! The table's key design, in one place. Pure: builds strings, no I/O.
//!
//! | item            | pk                                   | sk                         |
//! |-----------------|--------------------------------------|----------------------------|
//! | object          | `o#{ctx}#{group}#{kind}`             | `{namespace}#{name}`       |
//! | label index     | `l#{ctx}#{group}#{kind}#{labelKey}`  | `{value}#{namespace}#{name}` |
//! | child index     | `c#{parent object pk}#{parent sk}`   | `{child pk}#{child sk}`... |
//!
//! A collection (one kind in one context) is one partition of object items,
//! so a list is one Query. `#` never occurs in names, namespaces, groups,
//! kinds, label keys or label values (their grammars exclude it), so the
//! separators are unambiguous.

/// Where an object lives: the platform, an organization's or a project's
/// control plane.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Context {
    Platform,
    Organization(String),
    Project(String),
}

impl Context {
    fn key_part(&self) -> String {
        match self {
            Context::Platform => "_".to_string(),
            Context::Organization(org) => format!("org:{org}"),
            Context::Project(project) => format!("project:{project}"),
        }
    }
}

/// The full address of one object.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectRef {
    pub context: Context,
    pub group: String,
    pub kind: String,
    /// Empty for cluster-scoped kinds.
    pub namespace: String,
    pub name: String,
}

/// The primary key of one item.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ItemKey {
    pub pk: String,
    pub sk: String,
}

/// One kind in one context: the partition its objects share.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Collection {
    pub context: Context,
    pub group: String,
    pub kind: String,
}

impl Collection {
    pub fn pk(&self) -> String {
        format!("o#{}#{}#{}", self.context.key_part(), self.group, self.kind)
    }

    /// Sort-key prefix of one namespace's objects; `None` lists all namespaces.
    pub fn namespace_prefix(namespace: &str) -> String {
        format!("{namespace}#")
    }

    pub fn label_pk(&self, label_key: &str) -> String {
        format!(
            "l#{}#{}#{}#{label_key}",
            self.context.key_part(),
            self.group,
            self.kind
        )
    }

    /// Sort-key prefix of the index items of one label value.
    pub fn label_value_prefix(value: &str) -> String {
        format!("{value}#")
    }
}

impl ObjectRef {
    pub fn collection(&self) -> Collection {
        Collection {
            context: self.context.clone(),
            group: self.group.clone(),
            kind: self.kind.clone(),
        }
    }

    pub fn key(&self) -> ItemKey {
        ItemKey {
            pk: self.collection().pk(),
            sk: format!("{}#{}", self.namespace, self.name),
        }
    }

    pub fn label_index_key(&self, label_key: &str, value: &str) -> ItemKey {
        ItemKey {
            pk: self.collection().label_pk(label_key),
            sk: format!("{value}#{}#{}", self.namespace, self.name),
        }
    }

    /// The partition that lists this object's children.
    pub fn children_pk(&self) -> String {
        let key = self.key();
        format!("c#{}#{}", key.pk, key.sk)
    }

    /// The index item that records `child` under this parent.
    pub fn child_index_key(&self, child: &ObjectRef) -> ItemKey {
        let child_key = child.key();
        ItemKey {
            pk: self.children_pk(),
            sk: format!("{}#{}", child_key.pk, child_key.sk),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(ctx: Context, name: &str) -> ObjectRef {
        ObjectRef {
            context: ctx,
            group: "resourcemanager.miloapis.com".into(),
            kind: "Project".into(),
            namespace: String::new(),
            name: name.into(),
        }
    }

    #[test]
    fn same_name_in_two_contexts_has_two_keys() {
        let a = project(Context::Project("a".into()), "x").key();
        let b = project(Context::Project("b".into()), "x").key();
        assert_ne!(a, b);
    }

    #[test]
    fn object_key_lies_in_its_collection() {
        let r = project(Context::Platform, "p1");
        assert_eq!(r.key().pk, r.collection().pk());
        assert!(r.key().sk.starts_with(&Collection::namespace_prefix("")));
    }

    #[test]
    fn label_index_key_is_found_by_value_prefix() {
        let r = project(Context::Platform, "p1");
        let k = r.label_index_key("env", "prod");
        assert_eq!(k.pk, r.collection().label_pk("env"));
        assert!(k.sk.starts_with(&Collection::label_value_prefix("prod")));
        assert!(!k.sk.starts_with(&Collection::label_value_prefix("pro")));
    }

    #[test]
    fn child_index_key_lies_in_parent_children_partition() {
        let parent = project(Context::Platform, "org");
        let child = project(Context::Platform, "p1");
        assert_eq!(parent.child_index_key(&child).pk, parent.children_pk());
    }
}
