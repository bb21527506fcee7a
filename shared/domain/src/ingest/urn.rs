//! Resource URNs: `urn:{namespace}:{resource_type}:{uuid}` (README grammar).
//!
//! A URN read from a message follows the grammar strictly ([`Urn::parse`]).
//! A resource named in the camelCase form by a prefixed id also gets a URN,
//! whose id is that prefixed id kept whole ([`ResourceId::Prefixed`]): it is
//! the id the publishing service knows the resource by, and it is
//! case-sensitive, so it cannot be turned into a UUID or lower-cased.
//! [`Urn::parse_stored`] reads back both kinds from what [`Urn`]'s `Display`
//! wrote (storage keys, records).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::prefixed::{PrefixedId, PrefixedIdError};
use super::shown;

pub(crate) const MAX_NAMESPACE_LEN: usize = 30;
pub(crate) const MAX_RESOURCE_TYPE_LEN: usize = 255;

/// A resource's identity. Always canonical: namespace, type and UUID ids are
/// lower-case, so two spellings of one resource compare equal.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Urn {
    namespace: String,
    resource_type: String,
    id: ResourceId,
}

/// The last part of a URN.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ResourceId {
    /// A UUID, lower-case (8-4-4-4-12 hex digits).
    Uuid(String),
    /// A prefixed id from the camelCase form, kept as sent.
    Prefixed(PrefixedId),
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResourceId::Uuid(uuid) => f.write_str(uuid),
            ResourceId::Prefixed(id) => id.fmt(f),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrnError {
    #[error("the URN is empty; expected urn:{{namespace}}:{{resource_type}}:{{uuid}}")]
    Empty,
    #[error("{found} has {parts} `:`-separated parts; a URN has exactly four: urn:{{namespace}}:{{resource_type}}:{{uuid}}")]
    PartCount { found: String, parts: usize },
    #[error("{found} does not start with `urn:`")]
    Scheme { found: String },
    #[error("the namespace {found} is not 1 to 30 letters, digits or `-`")]
    Namespace { found: String },
    #[error("the resource type {found} is not 1 to 255 letters, digits or `-`")]
    ResourceType { found: String },
    #[error("the id {found} is not a UUID (8-4-4-4-12 hexadecimal digits)")]
    Id { found: String },
    #[error("the id is neither a UUID nor a prefixed id: {0}")]
    StoredId(PrefixedIdError),
}

impl Urn {
    /// A URN from its parts, checked and lower-cased. A UUID id is given as
    /// `ResourceId::Uuid` in any case; it is checked and lower-cased too.
    pub fn new(namespace: &str, resource_type: &str, id: ResourceId) -> Result<Urn, UrnError> {
        if !is_token(namespace, MAX_NAMESPACE_LEN) {
            return Err(UrnError::Namespace {
                found: shown(namespace),
            });
        }
        if !is_resource_type(resource_type) {
            return Err(UrnError::ResourceType {
                found: shown(resource_type),
            });
        }
        let id = match id {
            ResourceId::Uuid(uuid) if is_uuid(&uuid) => ResourceId::Uuid(uuid.to_ascii_lowercase()),
            ResourceId::Uuid(uuid) => {
                return Err(UrnError::Id {
                    found: shown(&uuid),
                })
            }
            prefixed => prefixed,
        };
        Ok(Urn {
            namespace: namespace.to_ascii_lowercase(),
            resource_type: resource_type.to_ascii_lowercase(),
            id,
        })
    }

    /// Parses a URN as the README defines it: exactly four parts, a UUID id.
    /// `urn` and the hex digits may be in any case.
    pub fn parse(value: &str) -> Result<Urn, UrnError> {
        let [namespace, resource_type, id] = split(value)?;
        Urn::new(namespace, resource_type, ResourceId::Uuid(id.to_string()))
    }

    /// Parses what `Display` wrote: the README grammar, or a prefixed id in
    /// place of the UUID. For stored keys and records, not for messages.
    pub fn parse_stored(value: &str) -> Result<Urn, UrnError> {
        let [namespace, resource_type, id] = split(value)?;
        let id = if is_uuid(id) {
            ResourceId::Uuid(id.to_string())
        } else {
            ResourceId::Prefixed(PrefixedId::parse(id).map_err(UrnError::StoredId)?)
        };
        Urn::new(namespace, resource_type, id)
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    pub fn resource_type(&self) -> &str {
        &self.resource_type
    }

    pub fn id(&self) -> &ResourceId {
        &self.id
    }
}

/// The three parts after `urn:`, or why there are not exactly three.
fn split(value: &str) -> Result<[&str; 3], UrnError> {
    if value.is_empty() {
        return Err(UrnError::Empty);
    }
    let parts: Vec<&str> = value.split(':').collect();
    match parts.as_slice() {
        [scheme, namespace, resource_type, id] => {
            if scheme.eq_ignore_ascii_case("urn") {
                Ok([namespace, resource_type, id])
            } else {
                Err(UrnError::Scheme {
                    found: shown(value),
                })
            }
        }
        _ => Err(UrnError::PartCount {
            found: shown(value),
            parts: parts.len(),
        }),
    }
}

impl fmt::Display for Urn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "urn:{}:{}:{}",
            self.namespace, self.resource_type, self.id
        )
    }
}

impl FromStr for Urn {
    type Err = UrnError;

    fn from_str(value: &str) -> Result<Urn, UrnError> {
        Urn::parse(value)
    }
}

// Stored as its string form, so records and keys read the same.
impl Serialize for Urn {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Urn {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Urn, D::Error> {
        let value = String::deserialize(deserializer)?;
        Urn::parse_stored(&value).map_err(serde::de::Error::custom)
    }
}

/// 1 to `max` characters of `[A-Za-z0-9-]`: the URN namespace and type.
pub(crate) fn is_token(value: &str, max: usize) -> bool {
    !value.is_empty()
        && value.len() <= max
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

pub(crate) fn is_resource_type(value: &str) -> bool {
    is_token(value, MAX_RESOURCE_TYPE_LEN)
}

/// 8-4-4-4-12 hexadecimal digits, any case; no braces, no `urn:uuid:`.
pub(crate) fn is_uuid(value: &str) -> bool {
    let bytes = value.as_bytes();
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LB: &str = "urn:infratographer:loadbalancer:0e919c70-6d04-4050-a474-073ab8b58ffe";

    #[test]
    fn parses_the_four_parts() {
        let urn = Urn::parse(LB).unwrap();
        assert_eq!(urn.namespace(), "infratographer");
        assert_eq!(urn.resource_type(), "loadbalancer");
        assert_eq!(
            urn.id(),
            &ResourceId::Uuid("0e919c70-6d04-4050-a474-073ab8b58ffe".into())
        );
        assert_eq!(urn.to_string(), LB);
    }

    #[test]
    fn canonical_form_is_lower_case() {
        let urn =
            Urn::parse("URN:Infratographer:LoadBalancer:0E919C70-6D04-4050-A474-073AB8B58FFE")
                .unwrap();
        assert_eq!(urn.to_string(), LB);
        assert_eq!(urn, Urn::parse(LB).unwrap());
    }

    #[test]
    fn five_parts_are_refused() {
        let err = Urn::parse(&format!("{LB}:extra")).unwrap_err();
        assert!(matches!(err, UrnError::PartCount { parts: 5, .. }), "{err}");
        assert!(err.to_string().contains("exactly four"), "{err}");
    }

    #[test]
    fn three_parts_are_refused() {
        let err =
            Urn::parse("urn:infratographer:0e919c70-6d04-4050-a474-073ab8b58ffe").unwrap_err();
        assert!(matches!(err, UrnError::PartCount { parts: 3, .. }));
    }

    #[test]
    fn empty_is_refused() {
        assert_eq!(Urn::parse(""), Err(UrnError::Empty));
    }

    #[test]
    fn other_schemes_are_refused() {
        let err =
            Urn::parse("uri:infratographer:loadbalancer:0e919c70-6d04-4050-a474-073ab8b58ffe")
                .unwrap_err();
        assert!(matches!(err, UrnError::Scheme { .. }));
    }

    #[test]
    fn non_uuid_ids_are_refused() {
        for id in [
            "not-a-uuid",
            "0e919c70-6d04-4050-a474-073ab8b58ff", // one digit short
            "0e919c70-6d04-4050-a474-073ab8b58ffee", // one too many
            "0e919c706d0440504a474073ab8b58ffe000", // no dashes
            "0e919c70-6d04-4050-a474_073ab8b58ffe", // wrong separator
            "ge919c70-6d04-4050-a474-073ab8b58ffe", // not hex
            "{0e919c70-6d04-4050-a474-073ab8b58ff}",
            "",
        ] {
            let err = Urn::parse(&format!("urn:infratographer:loadbalancer:{id}")).unwrap_err();
            assert!(matches!(err, UrnError::Id { .. }), "{id}: {err}");
        }
    }

    #[test]
    fn namespace_is_1_to_30_of_the_allowed_characters() {
        let id = "0e919c70-6d04-4050-a474-073ab8b58ffe";
        assert!(Urn::parse(&format!("urn:{}:t:{id}", "a".repeat(30))).is_ok());
        for ns in [
            "a".repeat(31),
            String::new(),
            "in_fra".into(),
            "in fra".into(),
        ] {
            let err = Urn::parse(&format!("urn:{ns}:t:{id}")).unwrap_err();
            assert!(matches!(err, UrnError::Namespace { .. }), "{ns}: {err}");
        }
    }

    #[test]
    fn resource_type_is_1_to_255_of_the_allowed_characters() {
        let id = "0e919c70-6d04-4050-a474-073ab8b58ffe";
        assert!(Urn::parse(&format!("urn:ns:{}:{id}", "t".repeat(255))).is_ok());
        for t in ["t".repeat(256), String::new(), "load.balancer".into()] {
            let err = Urn::parse(&format!("urn:ns:{t}:{id}")).unwrap_err();
            assert!(matches!(err, UrnError::ResourceType { .. }), "{t}: {err}");
        }
    }

    #[test]
    fn long_input_is_shortened_in_messages() {
        let err = Urn::parse(&"x".repeat(10_000)).unwrap_err();
        assert!(err.to_string().len() < 300, "{err}");
    }

    #[test]
    fn parse_refuses_a_prefixed_id_but_parse_stored_reads_it_back() {
        let stored = "urn:infratographer:loadbalancer:loadbal-UCN7pxJO57BV_5pNiV95B";
        assert!(matches!(Urn::parse(stored), Err(UrnError::Id { .. })));
        let urn = Urn::parse_stored(stored).unwrap();
        assert_eq!(urn.to_string(), stored, "the prefixed id keeps its case");
        assert_eq!(Urn::parse_stored(LB).unwrap(), Urn::parse(LB).unwrap());
        assert!(matches!(
            Urn::parse_stored("urn:a:b:not-a-uuid"),
            Err(UrnError::StoredId(_))
        ));
    }

    #[test]
    fn serde_uses_the_string_form() {
        let urn = Urn::parse(LB).unwrap();
        let json = serde_json::to_string(&urn).unwrap();
        assert_eq!(json, format!("\"{LB}\""));
        assert_eq!(serde_json::from_str::<Urn>(&json).unwrap(), urn);
        assert!(serde_json::from_str::<Urn>("\"urn:a:b\"").is_err());
    }
}
