//! Prefixed ids (the camelCase form's `loadbal-UCN7pxJO57BV_5pNiV95B`) and
//! the configured map from their type prefix to a URN namespace and type.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use super::shown;
use super::urn::{is_resource_type, is_token, ResourceId, Urn, MAX_NAMESPACE_LEN};

const MIN_PREFIX_LEN: usize = 3;
const ID_LEN: usize = 21;

/// `{prefix}-{id}`: a type prefix of at least three `[a-z0-9]`, a dash, and
/// a 21-character id of `[A-Za-z0-9_-]` (which may itself hold dashes; the
/// prefix cannot, so the first dash splits them).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PrefixedId {
    prefix: String,
    id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrefixedIdError {
    #[error("the id is empty; expected a prefixed id such as loadbal-UCN7pxJO57BV_5pNiV95B")]
    Empty,
    #[error("{found} has no `-`; a prefixed id is {{prefix}}-{{21-character id}}")]
    NoDash { found: String },
    #[error("the prefix of {found} is not 3 or more lower-case letters or digits")]
    Prefix { found: String },
    #[error("the part after the prefix of {found} is not 21 letters, digits, `_` or `-`")]
    Id { found: String },
}

/// A prefixed id whose prefix the configuration does not map to a type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the id prefix `{prefix}` is not configured; add `{prefix}=namespace:resource_type` to the prefix map")]
pub struct UnknownPrefix {
    pub prefix: String,
}

impl PrefixedId {
    pub fn parse(value: &str) -> Result<PrefixedId, PrefixedIdError> {
        if value.is_empty() {
            return Err(PrefixedIdError::Empty);
        }
        let (prefix, id) = value
            .split_once('-')
            .ok_or_else(|| PrefixedIdError::NoDash {
                found: shown(value),
            })?;
        if !is_prefix(prefix) {
            return Err(PrefixedIdError::Prefix {
                found: shown(value),
            });
        }
        let id_ok = id.len() == ID_LEN
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !id_ok {
            return Err(PrefixedIdError::Id {
                found: shown(value),
            });
        }
        Ok(PrefixedId {
            prefix: prefix.to_string(),
            id: id.to_string(),
        })
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The 21-character part after the prefix.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The resource's URN: namespace and type from the map, the whole
    /// prefixed id as its id.
    pub fn resolve(&self, map: &PrefixMap) -> Result<Urn, UnknownPrefix> {
        let unknown = || UnknownPrefix {
            prefix: self.prefix.clone(),
        };
        let (namespace, resource_type) = map.get(&self.prefix).ok_or_else(unknown)?;
        // The map only holds checked namespaces and types, so this holds; an
        // error would still be reported rather than panic.
        Urn::new(namespace, resource_type, ResourceId::Prefixed(self.clone()))
            .map_err(|_| unknown())
    }
}

impl fmt::Display for PrefixedId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.prefix, self.id)
    }
}

impl FromStr for PrefixedId {
    type Err = PrefixedIdError;

    fn from_str(value: &str) -> Result<PrefixedId, PrefixedIdError> {
        PrefixedId::parse(value)
    }
}

fn is_prefix(value: &str) -> bool {
    value.len() >= MIN_PREFIX_LEN
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// Configuration: which URN namespace and resource type each id prefix
/// stands for.
///
/// Written as an environment-style string (for example the variable
/// `EVENTS_ID_PREFIXES`):
///
/// ```text
/// loadbal=infratographer:loadbalancer,tnntten=infratographer:tenant
/// ```
///
/// - entries are separated by `,`; blanks around entries, `=` and `:` are
///   ignored, and so are empty entries (a trailing comma, an empty string);
/// - an entry is `{prefix}={namespace}:{resource_type}`, the prefix 3 or more
///   `[a-z0-9]`, namespace and type as in a URN (stored lower-case);
/// - a prefix may appear once; two prefixes may name the same type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrefixMap {
    entries: BTreeMap<String, (String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrefixMapError {
    #[error("prefix map entry {entry} is not prefix=namespace:resource_type")]
    Entry { entry: String },
    #[error("prefix map entry {entry}: the prefix is not 3 or more lower-case letters or digits")]
    Prefix { entry: String },
    #[error("prefix map entry {entry}: the namespace is not 1 to 30 letters, digits or `-`")]
    Namespace { entry: String },
    #[error("prefix map entry {entry}: the resource type is not 1 to 255 letters, digits or `-`")]
    ResourceType { entry: String },
    #[error("the prefix `{prefix}` is given twice in the prefix map")]
    Duplicate { prefix: String },
}

impl PrefixMap {
    pub fn new() -> PrefixMap {
        PrefixMap::default()
    }

    /// Parses the environment-style form described on [`PrefixMap`].
    pub fn parse(value: &str) -> Result<PrefixMap, PrefixMapError> {
        let mut map = PrefixMap::new();
        for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let malformed = || PrefixMapError::Entry {
                entry: shown(entry),
            };
            let (prefix, target) = entry.split_once('=').ok_or_else(malformed)?;
            let (namespace, resource_type) = target.split_once(':').ok_or_else(malformed)?;
            map.insert(prefix.trim(), namespace.trim(), resource_type.trim())
                .map_err(|e| match e {
                    // Name the whole entry: it is what the operator wrote.
                    PrefixMapError::Prefix { .. } => PrefixMapError::Prefix {
                        entry: shown(entry),
                    },
                    PrefixMapError::Namespace { .. } => PrefixMapError::Namespace {
                        entry: shown(entry),
                    },
                    PrefixMapError::ResourceType { .. } => PrefixMapError::ResourceType {
                        entry: shown(entry),
                    },
                    other => other,
                })?;
        }
        Ok(map)
    }

    /// Adds one mapping, checked.
    pub fn insert(
        &mut self,
        prefix: &str,
        namespace: &str,
        resource_type: &str,
    ) -> Result<(), PrefixMapError> {
        let entry = || shown(&format!("{prefix}={namespace}:{resource_type}"));
        if !is_prefix(prefix) {
            return Err(PrefixMapError::Prefix { entry: entry() });
        }
        if !is_token(namespace, MAX_NAMESPACE_LEN) {
            return Err(PrefixMapError::Namespace { entry: entry() });
        }
        if !is_resource_type(resource_type) {
            return Err(PrefixMapError::ResourceType { entry: entry() });
        }
        if self.entries.contains_key(prefix) {
            return Err(PrefixMapError::Duplicate {
                prefix: prefix.to_string(),
            });
        }
        self.entries.insert(
            prefix.to_string(),
            (
                namespace.to_ascii_lowercase(),
                resource_type.to_ascii_lowercase(),
            ),
        );
        Ok(())
    }

    /// The (namespace, resource type) a prefix stands for.
    pub fn get(&self, prefix: &str) -> Option<(&str, &str)> {
        self.entries
            .get(prefix)
            .map(|(namespace, resource_type)| (namespace.as_str(), resource_type.as_str()))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl FromStr for PrefixMap {
    type Err = PrefixMapError;

    fn from_str(value: &str) -> Result<PrefixMap, PrefixMapError> {
        PrefixMap::parse(value)
    }
}

/// The environment-style form again, so a running configuration can be logged.
impl fmt::Display for PrefixMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (prefix, (namespace, resource_type))) in self.entries.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{prefix}={namespace}:{resource_type}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether an error is the expected one.
    type Check<E> = fn(&E) -> bool;

    const MAP: &str = "loadbal=infratographer:loadbalancer,tnntten=infratographer:tenant";

    #[test]
    fn parses_the_sample_ids() {
        for value in [
            "loadbal-UCN7pxJO57BV_5pNiV95B",
            "tnntten-2Tc8hXn3M3bo1dJcTn2bq",
            "loadprt-1qLq5hQGZxvJXoXGn7G0m",
            "idntusr-9bKfN2cY8tWm3QpR6sVxZ",
        ] {
            let id = PrefixedId::parse(value).unwrap();
            assert_eq!(id.to_string(), value);
            assert_eq!(id.id().len(), 21);
        }
    }

    #[test]
    fn the_id_part_may_hold_dashes() {
        let id = PrefixedId::parse("abc-a-b-c-d-e-f-g-h-i-j-k").unwrap();
        assert_eq!(id.prefix(), "abc");
        assert_eq!(id.id(), "a-b-c-d-e-f-g-h-i-j-k");
    }

    #[test]
    fn malformed_prefixed_ids_are_refused_with_the_reason() {
        use PrefixedIdError as E;
        let cases: [(&str, Check<E>); 8] = [
            ("", |e| matches!(e, E::Empty)),
            ("loadbalUCN7pxJO57BV_5pNiV95B", |e| {
                matches!(e, E::NoDash { .. })
            }),
            ("lb-UCN7pxJO57BV_5pNiV95B", |e| {
                matches!(e, E::Prefix { .. })
            }),
            ("LoadBal-UCN7pxJO57BV_5pNiV95B", |e| {
                matches!(e, E::Prefix { .. })
            }),
            ("-UCN7pxJO57BV_5pNiV95B", |e| matches!(e, E::Prefix { .. })),
            ("loadbal-UCN7pxJO57BV_5pNiV95", |e| {
                matches!(e, E::Id { .. })
            }),
            ("loadbal-UCN7pxJO57BV_5pNiV95BB", |e| {
                matches!(e, E::Id { .. })
            }),
            ("loadbal-UCN7pxJO57BV.5pNiV95B", |e| {
                matches!(e, E::Id { .. })
            }),
        ];
        for (value, expected) in cases {
            let err = PrefixedId::parse(value).unwrap_err();
            assert!(expected(&err), "{value}: {err}");
        }
    }

    #[test]
    fn resolves_through_the_map() {
        let map = PrefixMap::parse(MAP).unwrap();
        let urn = PrefixedId::parse("loadbal-UCN7pxJO57BV_5pNiV95B")
            .unwrap()
            .resolve(&map)
            .unwrap();
        assert_eq!(urn.namespace(), "infratographer");
        assert_eq!(urn.resource_type(), "loadbalancer");
        assert_eq!(
            urn.to_string(),
            "urn:infratographer:loadbalancer:loadbal-UCN7pxJO57BV_5pNiV95B"
        );
    }

    #[test]
    fn an_unknown_prefix_says_how_to_configure_it() {
        let map = PrefixMap::parse(MAP).unwrap();
        let err = PrefixedId::parse("idntusr-9bKfN2cY8tWm3QpR6sVxZ")
            .unwrap()
            .resolve(&map)
            .unwrap_err();
        assert_eq!(err.prefix, "idntusr");
        assert!(err.to_string().contains("idntusr=namespace:resource_type"));
    }

    #[test]
    fn map_parses_the_documented_form() {
        let map = PrefixMap::parse(MAP).unwrap();
        assert_eq!(map.len(), 2);
        assert_eq!(map.get("loadbal"), Some(("infratographer", "loadbalancer")));
        assert_eq!(map.get("tnntten"), Some(("infratographer", "tenant")));
        assert_eq!(map.get("loadprt"), None);
        assert_eq!(map.to_string(), MAP, "Display writes the same form");
    }

    #[test]
    fn map_ignores_blanks_and_empty_entries() {
        let map = PrefixMap::parse(
            " loadbal = Infratographer : LoadBalancer , ,tnntten=infratographer:tenant,",
        )
        .unwrap();
        assert_eq!(map.to_string(), MAP);
        assert!(PrefixMap::parse("").unwrap().is_empty());
        assert!(PrefixMap::parse(" , ").unwrap().is_empty());
    }

    #[test]
    fn map_refuses_malformed_entries() {
        use PrefixMapError as E;
        let cases: [(&str, Check<E>); 6] = [
            ("loadbal", |e| matches!(e, E::Entry { .. })),
            ("loadbal=infratographer", |e| matches!(e, E::Entry { .. })),
            ("lb=infratographer:loadbalancer", |e| {
                matches!(e, E::Prefix { .. })
            }),
            ("loadbal=infra_graphy:loadbalancer", |e| {
                matches!(e, E::Namespace { .. })
            }),
            ("loadbal=infratographer:", |e| {
                matches!(e, E::ResourceType { .. })
            }),
            ("loadbal=a:b,loadbal=a:c", |e| {
                matches!(e, E::Duplicate { .. })
            }),
        ];
        for (value, expected) in cases {
            let err = PrefixMap::parse(value).unwrap_err();
            assert!(expected(&err), "{value}: {err}");
        }
    }

    #[test]
    fn map_errors_name_the_entry() {
        let err = PrefixMap::parse("loadbal=a:b, XY=a:b").unwrap_err();
        assert!(err.to_string().contains("`XY=a:b`"), "{err}");
    }
}
