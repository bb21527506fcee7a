//! The table's key design, in one place. Pure: builds strings, no I/O.
//!
//! | item            | pk                                   | sk                         |
//! |-----------------|--------------------------------------|----------------------------|
//! | object          | `o#{ctx}#{group}#{kind}`             | `{namespace}#{name}`       |
//! | label index     | `l#{ctx}#{group}#{kind}#{labelKey}`  | `{value}#{namespace}#{name}` |
//! | child index     | `c#{parent object pk}#{parent sk}`   | `{child pk}#{child sk}`... |
//! | stamp           | `s#{name}`                           | `_`                        |
//! | relationship    | `rel#{resource urn}`                 | `{relation}#{subject urn}` |
//! | inverse rel.    | `relinv#{subject urn}`               | `{relation}#{resource urn}` |
//!
//! Relationship items (the graph, issue 6) are keys only: the forward item
//! lists a resource's relationships, the inverse one the resources that have
//! a relation to a subject; both directions, and one relation of either
//! (`begins_with(sk, "{relation}#")`), are one Query. They are written in the
//! same transaction as the resource's ExternalResource object.
//!
//! Object items also carry `gsi1pk` = `t#{group}#{kind}` and `gsi1sk` =
//! `{ctx}#{namespace}#{name}`: the type index, which finds every object of a
//! type across contexts (a CRD is not deleted while it has objects).
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
    /// The context a key part names (`_`, `org:{name}`, `project:{name}`).
    pub fn from_key_part(part: &str) -> Option<Self> {
        match part {
            "_" => Some(Context::Platform),
            _ => match part.split_once(':')? {
                ("org", name) => Some(Context::Organization(name.into())),
                ("project", name) => Some(Context::Project(name.into())),
                _ => None,
            },
        }
    }

    /// How keys spell the context.
    pub fn key_part(&self) -> String {
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

/// DynamoDB's bounds on key values: a partition key under 2048 bytes, a sort
/// key under 1024.
const MAX_PK_BYTES: usize = 2047;
const MAX_SK_BYTES: usize = 1023;

impl ItemKey {
    /// Whether DynamoDB can hold an item under this key. One that cannot is
    /// never stored, so a read of it finds nothing instead of failing.
    pub fn fits(&self) -> bool {
        self.pk.len() <= MAX_PK_BYTES && self.sk.len() <= MAX_SK_BYTES
    }
}

/// Whether a Query of partition `pk` for sort keys beginning `sk_prefix` can
/// match anything DynamoDB holds.
pub fn query_fits(pk: &str, sk_prefix: &str) -> bool {
    pk.len() <= MAX_PK_BYTES && sk_prefix.len() <= MAX_SK_BYTES
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

/// The type index's partition of a kind (on gsi1).
pub fn type_index_pk(group: &str, kind: &str) -> String {
    format!("t#{group}#{kind}")
}

/// The type index keys (gsi1pk, gsi1sk) of an object item, derived from its
/// primary key; None for items that are not objects.
pub fn type_index_of(key: &ItemKey) -> Option<(String, String)> {
    let rest = key.pk.strip_prefix("o#")?;
    let (ctx, group_kind) = rest.split_once('#')?;
    Some((format!("t#{group_kind}"), format!("{ctx}#{}", key.sk)))
}

/// A stamp: an item whose only content is a token that changes on every
/// write, so that caches elsewhere can tell cheaply whether to reload.
pub fn stamp_key(name: &str) -> ItemKey {
    ItemKey {
        pk: format!("s#{name}"),
        sk: "_".into(),
    }
}

/// The forward relationship item: `resource` has `relation` to `subject`.
/// The parts are URNs and a relation, none of which holds `#`.
pub fn relationship_key(resource: &str, relation: &str, subject: &str) -> ItemKey {
    ItemKey {
        pk: relationship_pk(resource),
        sk: format!("{relation}#{subject}"),
    }
}

/// The inverse item of the same relationship, in the subject's partition.
pub fn inverse_relationship_key(resource: &str, relation: &str, subject: &str) -> ItemKey {
    ItemKey {
        pk: inverse_relationship_pk(subject),
        sk: format!("{relation}#{resource}"),
    }
}

/// The partition of a resource's relationships.
pub fn relationship_pk(resource: &str) -> String {
    format!("rel#{resource}")
}

/// The partition of the relationships pointing at a subject.
pub fn inverse_relationship_pk(subject: &str) -> String {
    format!("relinv#{subject}")
}

/// The sort-key prefix of one relation in either partition.
pub fn relation_prefix(relation: &str) -> String {
    format!("{relation}#")
}

/// The partition of the Terminating objects the gc function drives
/// (#21): containers emptying, owners waiting on their dependents.
pub const TERMINATING_PK: &str = "gc#terminating";

/// The partition of the owners deleted while dependents named them: each
/// item's sort key is the owner's uid, swept by the gc function (#21).
pub const ORPHANED_PK: &str = "gc#orphaned";

/// The partition of the pre-deletion hooks created whose finalizer the gc
/// function has still to put on the objects that already match (#21).
pub const PREDELETION_PK: &str = "gc#predeletion";

/// The gc's record of a pre-deletion hook's failed runs for the object
/// `uid` (how many, and when the next is due).
pub fn hook_attempts_key(uid: &str, hook: &str) -> ItemKey {
    ItemKey {
        pk: format!("gc#attempts#{uid}"),
        sk: hook.into(),
    }
}

/// The note of who deleted the object `uid` (`Write::NoteDeletion`).
pub fn deletion_note_key(uid: &str) -> ItemKey {
    ItemKey {
        pk: format!("deleted#{uid}"),
        sk: "by".into(),
    }
}

/// The partition of the objects that name the owner `uid` in their
/// ownerReferences (the owner index, #21).
pub fn owner_index_pk(uid: &str) -> String {
    format!("own#{uid}")
}

/// The item of [`ORPHANED_PK`] for the owner `uid`.
pub fn orphaned_key(uid: &str) -> ItemKey {
    ItemKey {
        pk: ORPHANED_PK.into(),
        sk: uid.into(),
    }
}

impl ObjectRef {
    /// A cluster-scoped object of the platform context.
    pub fn in_platform(group: &str, kind: &str, name: &str) -> Self {
        Self {
            context: Context::Platform,
            group: group.into(),
            kind: kind.into(),
            namespace: String::new(),
            name: name.into(),
        }
    }

    /// The object an object item's key addresses (None for other items).
    pub fn from_key(key: &ItemKey) -> Option<Self> {
        let mut parts = key.pk.strip_prefix("o#")?.splitn(3, '#');
        let context = Context::from_key_part(parts.next()?)?;
        let group = parts.next()?.to_string();
        let kind = parts.next()?.to_string();
        let (namespace, name) = key.sk.split_once('#')?;
        Some(Self {
            context,
            group,
            kind,
            namespace: namespace.into(),
            name: name.into(),
        })
    }

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

    /// The index item that queues this object, Terminating, for the gc
    /// function (partition [`TERMINATING_PK`]).
    pub fn terminating_key(&self) -> ItemKey {
        let key = self.key();
        ItemKey {
            pk: TERMINATING_PK.into(),
            sk: format!("{}#{}", key.pk, key.sk),
        }
    }

    /// The index item that queues this pre-deletion hook for the gc
    /// function (partition [`PREDELETION_PK`]).
    pub fn predeletion_key(&self) -> ItemKey {
        let key = self.key();
        ItemKey {
            pk: PREDELETION_PK.into(),
            sk: format!("{}#{}", key.pk, key.sk),
        }
    }

    /// This object's item in the owner index of the owner `uid`.
    pub fn owner_index_key(&self, uid: &str) -> ItemKey {
        let key = self.key();
        ItemKey {
            pk: owner_index_pk(uid),
            sk: format!("{}#{}", key.pk, key.sk),
        }
    }

    /// The counter item of what holds this object from being deleted
    /// (its [`crate::HOLDS`] number, checked by [`crate::Expect::Unheld`]).
    pub fn hold_key(&self) -> ItemKey {
        let key = self.key();
        ItemKey {
            pk: format!("h#{}", key.pk),
            sk: key.sk,
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

    #[test]
    fn keys_beyond_dynamodbs_bounds_do_not_fit() {
        let key = |pk: usize, sk: usize| ItemKey {
            pk: "p".repeat(pk),
            sk: "s".repeat(sk),
        };
        assert!(key(2047, 1023).fits());
        assert!(!key(2048, 1).fits());
        assert!(!key(1, 1024).fits());
        assert!(query_fits(&"p".repeat(2047), &"s".repeat(1023)));
        assert!(!query_fits("p", &"s".repeat(1024)));
    }

    #[test]
    fn object_keys_read_back_into_refs() {
        for context in [
            Context::Platform,
            Context::Organization("acme".into()),
            Context::Project("p-1".into()),
        ] {
            let r = ObjectRef {
                context,
                group: String::new(),
                kind: "Namespace".into(),
                namespace: String::new(),
                name: "default".into(),
            };
            assert_eq!(ObjectRef::from_key(&r.key()), Some(r.clone()));
            let (type_pk, type_sk) = type_index_of(&r.key()).unwrap();
            assert_eq!(type_pk, type_index_pk("", "Namespace"));
            assert!(type_sk.ends_with("#default"));
        }
        assert_eq!(ObjectRef::from_key(&stamp_key("catalog")), None);
    }

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
    fn relationship_items_lie_in_both_partitions() {
        let (lb, tenant) = ("urn:a:lb:1", "urn:a:tenant:2");
        let forward = relationship_key(lb, "tenant", tenant);
        let inverse = inverse_relationship_key(lb, "tenant", tenant);
        assert_eq!(forward.pk, relationship_pk(lb));
        assert_eq!(inverse.pk, inverse_relationship_pk(tenant));
        assert!(forward.sk.starts_with(&relation_prefix("tenant")));
        assert_eq!(inverse.sk, format!("tenant#{lb}"));
        assert_ne!(relationship_pk(lb), inverse_relationship_pk(lb));
        assert_eq!(ObjectRef::from_key(&forward), None);
    }

    #[test]
    fn child_index_key_lies_in_parent_children_partition() {
        let parent = project(Context::Platform, "org");
        let child = project(Context::Platform, "p1");
        assert_eq!(parent.child_index_key(&child).pk, parent.children_pk());
    }
}
