//! Kubernetes field selectors (`?fieldSelector=`), as parsed by
//! `k8s.io/apimachinery/pkg/fields.ParseSelector`.
//!
//! A selector is comma-separated terms `field=value`, `field==value` or
//! `field!=value`; empty terms are skipped, so the empty string selects
//! everything. In a value, `\,` `\=` `\\` (and `\!`) stand for the character
//! itself; a bare `=` is an error. The field name is taken up to the first
//! operator and is not unescaped, as in Kubernetes; surrounding whitespace is
//! trimmed from it (Kubernetes keeps it, which only ever yields an unknown
//! field). Which fields exist is for the caller to decide.

use std::fmt;

pub use crate::label_selector::SelectorError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldOperator {
    /// `=` or `==`
    Equals,
    /// `!=`
    NotEquals,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRequirement {
    pub field: String,
    pub operator: FieldOperator,
    /// Unescaped.
    pub value: String,
}

/// All requirements must hold. No requirements matches everything.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldSelector {
    /// In the order written.
    pub requirements: Vec<FieldRequirement>,
}

/// Operators in the order they are tried at each position: `!=` and `==`
/// before `=`, so that neither leaves a stray `!`/`=` in the field or value.
const OPERATORS: [(&str, FieldOperator); 3] = [
    ("!=", FieldOperator::NotEquals),
    ("==", FieldOperator::Equals),
    ("=", FieldOperator::Equals),
];

impl FieldSelector {
    pub fn parse(input: &str) -> Result<Self, SelectorError> {
        let requirements = split_terms(input)
            .into_iter()
            .filter(|term| !term.is_empty())
            .map(|term| parse_term(&term))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { requirements })
    }

    /// Whether every requirement holds; `value_of` gives an object's value
    /// for a field, and a field it does not have compares as `""`.
    pub fn matches(&self, value_of: impl Fn(&str) -> Option<String>) -> bool {
        self.requirements
            .iter()
            .all(|r| r.matches(&value_of(&r.field).unwrap_or_default()))
    }

    /// The fields the selector mentions, for the caller to check against the
    /// fields it supports.
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.requirements.iter().map(|r| r.field.as_str())
    }

    /// True when the selector selects everything.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }
}

impl FieldRequirement {
    pub fn matches(&self, actual: &str) -> bool {
        match self.operator {
            FieldOperator::Equals => actual == self.value,
            FieldOperator::NotEquals => actual != self.value,
        }
    }
}

/// The selector string, values escaped; it parses back to an equal selector.
impl fmt::Display for FieldSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, requirement) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{requirement}")?;
        }
        Ok(())
    }
}

impl fmt::Display for FieldRequirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let operator = match self.operator {
            FieldOperator::Equals => "=",
            FieldOperator::NotEquals => "!=",
        };
        write!(f, "{}{operator}{}", self.field, escape(&self.value))
    }
}

/// Splits at commas not preceded by an escaping backslash. The backslashes
/// stay in the terms; [`unescape`] removes them from the value.
fn split_terms(input: &str) -> Vec<String> {
    let mut terms = Vec::new();
    let mut current = String::new();
    let mut escaped = false;
    for c in input.chars() {
        if c == ',' && !escaped {
            terms.push(std::mem::take(&mut current));
        } else {
            current.push(c);
        }
        escaped = c == '\\' && !escaped;
    }
    terms.push(current);
    terms
}

fn parse_term(term: &str) -> Result<FieldRequirement, SelectorError> {
    let Some((field, operator, raw_value)) = split_at_operator(term) else {
        return Err(SelectorError::MissingFieldOperator {
            term: term.to_string(),
        });
    };
    let field = field.trim();
    if field.is_empty() {
        return Err(SelectorError::EmptyFieldName {
            term: term.to_string(),
        });
    }
    let value = unescape(term, raw_value)?;
    Ok(FieldRequirement {
        field: field.to_string(),
        operator,
        value,
    })
}

/// `(field, operator, raw value)` split at the first operator in `term`.
fn split_at_operator(term: &str) -> Option<(&str, FieldOperator, &str)> {
    term.char_indices().find_map(|(i, _)| {
        let (field, rest) = term.split_at_checked(i)?;
        OPERATORS.iter().find_map(|(symbol, operator)| {
            rest.strip_prefix(symbol)
                .map(|value| (field, *operator, value))
        })
    })
}

fn unescape(term: &str, raw: &str) -> Result<String, SelectorError> {
    let invalid_escape = |sequence: String| SelectorError::InvalidFieldEscape {
        term: term.to_string(),
        sequence,
    };
    let mut value = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(escaped @ ('\\' | ',' | '=' | '!')) => value.push(escaped),
                Some(other) => return Err(invalid_escape(format!("\\{other}"))),
                None => return Err(invalid_escape("\\".to_string())),
            },
            // Unescaped, it would be ambiguous with the operator.
            '=' => {
                return Err(SelectorError::UnescapedEquals {
                    term: term.to_string(),
                })
            }
            _ => value.push(c),
        }
    }
    Ok(value)
}

/// Kubernetes' `fields.EscapeValue`.
fn escape(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '\\' | ',' | '=') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn req(field: &str, operator: FieldOperator, value: &str) -> FieldRequirement {
        FieldRequirement {
            field: field.into(),
            operator,
            value: value.into(),
        }
    }

    fn parse(input: &str) -> FieldSelector {
        FieldSelector::parse(input).unwrap_or_else(|e| panic!("{input:?} should parse: {e}"))
    }

    fn object(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let fields: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |field: &str| fields.get(field).cloned()
    }

    #[test]
    fn empty_selects_everything() {
        for input in ["", ",", ",,"] {
            let selector = parse(input);
            assert!(selector.is_empty(), "{input:?}");
            assert!(selector.matches(object(&[])));
        }
    }

    #[test]
    fn parses_the_three_operators() {
        assert_eq!(
            parse("metadata.name=a,spec.type==b,status.phase!=c").requirements,
            vec![
                req("metadata.name", FieldOperator::Equals, "a"),
                req("spec.type", FieldOperator::Equals, "b"),
                req("status.phase", FieldOperator::NotEquals, "c"),
            ]
        );
    }

    #[test]
    fn empty_terms_are_skipped_and_order_is_kept() {
        let selector = parse(",b=1,,a=2,");
        assert_eq!(selector.fields().collect::<Vec<_>>(), vec!["b", "a"]);
    }

    #[test]
    fn empty_value_is_allowed() {
        assert_eq!(
            parse("a=").requirements,
            vec![req("a", FieldOperator::Equals, "")]
        );
        assert_eq!(
            parse("a!=").requirements,
            vec![req("a", FieldOperator::NotEquals, "")]
        );
    }

    #[test]
    fn the_first_operator_splits_the_term() {
        assert_eq!(
            parse("a=!b").requirements,
            vec![req("a", FieldOperator::Equals, "!b")]
        );
        assert_eq!(
            parse("a!=!b").requirements,
            vec![req("a", FieldOperator::NotEquals, "!b")]
        );
        assert_eq!(
            parse("a==\\=b").requirements,
            vec![req("a", FieldOperator::Equals, "=b")]
        );
    }

    #[test]
    fn field_names_are_trimmed_but_values_are_not() {
        assert_eq!(
            parse(" a = b ").requirements,
            vec![req("a", FieldOperator::Equals, " b ")]
        );
    }

    #[test]
    fn backslash_escapes_in_values() {
        assert_eq!(
            parse(r"a=x\,y").requirements,
            vec![req("a", FieldOperator::Equals, "x,y")]
        );
        assert_eq!(
            parse(r"a=x\=y").requirements,
            vec![req("a", FieldOperator::Equals, "x=y")]
        );
        assert_eq!(
            parse(r"a=x\\y").requirements,
            vec![req("a", FieldOperator::Equals, r"x\y")]
        );
        assert_eq!(
            parse(r"a=x\!y").requirements,
            vec![req("a", FieldOperator::Equals, "x!y")]
        );
        assert_eq!(
            parse(r"a=x!y").requirements,
            vec![req("a", FieldOperator::Equals, "x!y")]
        );
        // An escaped backslash does not escape the comma after it.
        assert_eq!(
            parse(r"a=x\\,b=y").requirements,
            vec![
                req("a", FieldOperator::Equals, r"x\"),
                req("b", FieldOperator::Equals, "y")
            ]
        );
    }

    #[test]
    fn rejects_terms_without_an_operator() {
        let e = FieldSelector::parse("a=b,c").unwrap_err();
        assert_eq!(e, SelectorError::MissingFieldOperator { term: "c".into() });
        assert_eq!(
            e.to_string(),
            "invalid field selector term \"c\": expected field=value, field==value or field!=value"
        );
    }

    #[test]
    fn rejects_an_empty_field_name() {
        let e = FieldSelector::parse(" =b").unwrap_err();
        assert_eq!(e, SelectorError::EmptyFieldName { term: " =b".into() });
        assert!(e.to_string().ends_with("the field name is empty"));
    }

    #[test]
    fn rejects_an_unescaped_equals_in_a_value() {
        let e = FieldSelector::parse("a=b=c").unwrap_err();
        assert_eq!(
            e,
            SelectorError::UnescapedEquals {
                term: "a=b=c".into()
            }
        );
        assert_eq!(
            e.to_string(),
            "invalid field selector term \"a=b=c\": a '=' in a value must be escaped as '\\='"
        );
    }

    #[test]
    fn rejects_unknown_and_dangling_escapes() {
        let e = FieldSelector::parse(r"a=b\n").unwrap_err();
        assert_eq!(
            e,
            SelectorError::InvalidFieldEscape {
                term: r"a=b\n".into(),
                sequence: r"\n".into()
            }
        );
        assert!(
            e.to_string().contains(r"invalid escape sequence '\n'"),
            "{e}"
        );
        let e = FieldSelector::parse(r"a=b\").unwrap_err();
        assert_eq!(
            e,
            SelectorError::InvalidFieldEscape {
                term: r"a=b\".into(),
                sequence: r"\".into()
            }
        );
    }

    #[test]
    fn matching_compares_values() {
        let selector = parse("metadata.name=a,spec.type!=b");
        assert!(selector.matches(object(&[("metadata.name", "a"), ("spec.type", "c")])));
        assert!(!selector.matches(object(&[("metadata.name", "a"), ("spec.type", "b")])));
        assert!(!selector.matches(object(&[("metadata.name", "x")])));
    }

    #[test]
    fn an_absent_field_compares_as_empty() {
        assert!(parse("spec.x=").matches(object(&[])));
        assert!(!parse("spec.x!=").matches(object(&[])));
        assert!(parse("spec.x!=a").matches(object(&[])));
        assert!(!parse("spec.x=a").matches(object(&[])));
    }

    #[test]
    fn prints_with_escaped_values() {
        let selector = FieldSelector {
            requirements: vec![
                req("a", FieldOperator::Equals, r"x,y=z\"),
                req("b", FieldOperator::NotEquals, ""),
            ],
        };
        assert_eq!(selector.to_string(), r"a=x\,y\=z\\,b!=");
    }

    proptest! {
        #[test]
        fn display_round_trips(
            terms in proptest::collection::vec(
                ("[a-z][a-z.]{0,10}", any::<bool>(), "[ -~]{0,12}"),
                0..4,
            )
        ) {
            let requirements = terms
                .into_iter()
                .map(|(field, not, value)| FieldRequirement {
                    field,
                    operator: if not { FieldOperator::NotEquals } else { FieldOperator::Equals },
                    value,
                })
                .collect();
            let selector = FieldSelector { requirements };
            let printed = selector.to_string();
            prop_assert_eq!(FieldSelector::parse(&printed), Ok(selector), "printed as {:?}", printed);
        }

        #[test]
        fn parse_never_panics(input in "[ -~]{0,24}") {
            let _ = FieldSelector::parse(&input);
        }

        #[test]
        fn equals_and_not_equals_are_complements(field in "[a-z]{1,5}", value in "[a-z]{0,3}", actual in proptest::option::of("[a-z]{0,3}")) {
            let lookup = |_: &str| actual.clone();
            let eq = FieldSelector { requirements: vec![req(&field, FieldOperator::Equals, &value)] };
            let ne = FieldSelector { requirements: vec![req(&field, FieldOperator::NotEquals, &value)] };
            prop_assert_ne!(eq.matches(lookup), ne.matches(lookup));
        }
    }
}
