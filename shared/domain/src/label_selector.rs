//! Kubernetes label selectors (`?labelSelector=`), as parsed by
//! `k8s.io/apimachinery/pkg/labels.Parse`.
//!
//! ```text
//! selector    ::= "" | requirement ("," requirement)*
//! requirement ::= KEY                              exists
//!               | "!" KEY                          does not exist
//!               | KEY ("=" | "==" | "!=") VALUE    (VALUE may be empty)
//!               | KEY ("in" | "notin") "(" VALUE ("," VALUE)* ")"
//! ```
//!
//! Whitespace (space, tab, CR, LF) may surround any token. `in` and `notin`
//! are keywords only where an operator is expected, so they are valid keys
//! and values. As in Kubernetes, `x in ()` is the set holding the empty
//! value, not an empty set. Kubernetes' `>` and `<` are rejected with an
//! error that says so. Keys must be qualified names and values label values
//! (see [`crate::metadata_rules`]).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::metadata_rules::{label_value_errors, qualified_name_errors};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operator {
    /// `=` or `==`
    Equals,
    /// `!=`: also matches objects without the key.
    NotEquals,
    In,
    /// `notin`: also matches objects without the key.
    NotIn,
    /// a bare `key`
    Exists,
    /// `!key`
    DoesNotExist,
}

/// One condition of a selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub key: String,
    pub operator: Operator,
    /// Exactly one value for `Equals`/`NotEquals`; sorted and deduplicated
    /// for `In`/`NotIn`; none for `Exists`/`DoesNotExist`.
    pub values: Vec<String>,
}

/// All requirements must hold. No requirements matches everything.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LabelSelector {
    /// Sorted by key (stable), as Kubernetes does, so equal selectors print
    /// the same.
    pub requirements: Vec<Requirement>,
}

/// Why a label or field selector was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// The label selector does not follow the grammar.
    #[error("unable to parse requirement at column {column}: found {}, expected: {expected}", describe_found(.found))]
    Syntax {
        /// 1-based character position of the offending token.
        column: usize,
        /// The offending token; `None` for the end of the input.
        found: Option<String>,
        expected: &'static str,
    },
    #[error("unable to parse requirement at column {column}: operator '{operator}' is not supported; use =, ==, !=, in, notin, 'key' (exists) or '!key' (does not exist)")]
    UnsupportedOperator { column: usize, operator: String },
    #[error("invalid label key {key:?}: {}", .reasons.join("; "))]
    InvalidKey { key: String, reasons: Vec<String> },
    #[error("invalid value {value:?} for label key {key:?}: {}", .reasons.join("; "))]
    InvalidValue {
        key: String,
        value: String,
        reasons: Vec<String>,
    },
    #[error(
        "invalid field selector term {term:?}: expected field=value, field==value or field!=value"
    )]
    MissingFieldOperator { term: String },
    #[error("invalid field selector term {term:?}: the field name is empty")]
    EmptyFieldName { term: String },
    #[error("invalid field selector term {term:?}: a '=' in a value must be escaped as '\\='")]
    UnescapedEquals { term: String },
    #[error("invalid field selector term {term:?}: invalid escape sequence '{sequence}' (only '\\\\', '\\,', '\\=' and '\\!' are allowed)")]
    InvalidFieldEscape { term: String, sequence: String },
}

fn describe_found(found: &Option<String>) -> String {
    match found {
        Some(text) => format!("'{text}'"),
        None => "end of string".to_string(),
    }
}

impl LabelSelector {
    /// Parses the string form; the empty string (or only whitespace) selects
    /// everything.
    pub fn parse(input: &str) -> Result<Self, SelectorError> {
        let mut requirements = Parser::new(input).selector()?;
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(Self { requirements })
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }

    /// A selector from requirements built elsewhere (the structured
    /// `matchLabels`/`matchExpressions` form of a `metav1.LabelSelector`):
    /// sorted by key and their values sorted and deduplicated, as `parse`
    /// leaves them. The caller checks keys and values.
    pub fn from_requirements(mut requirements: Vec<Requirement>) -> Self {
        for r in &mut requirements {
            r.values.sort();
            r.values.dedup();
        }
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Self { requirements }
    }

    /// True when the selector selects everything.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }
}

impl Requirement {
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.key);
        let listed = value.is_some_and(|v| self.values.contains(v));
        match self.operator {
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
            Operator::Equals | Operator::In => listed,
            // An object without the key is "not equal" to any value.
            Operator::NotEquals | Operator::NotIn => !listed,
        }
    }
}

/// The canonical form, e.g. `a in (x,y),!b,c=1`. A parsed selector prints to
/// a string that parses back to an equal selector.
impl fmt::Display for LabelSelector {
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

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = &self.key;
        let first = self.values.first().map_or("", String::as_str);
        let all = self.values.join(",");
        match self.operator {
            Operator::Exists => write!(f, "{key}"),
            Operator::DoesNotExist => write!(f, "!{key}"),
            Operator::Equals => write!(f, "{key}={first}"),
            Operator::NotEquals => write!(f, "{key}!={first}"),
            Operator::In => write!(f, "{key} in ({all})"),
            Operator::NotIn => write!(f, "{key} notin ({all})"),
        }
    }
}

// ---------------------------------------------------------------------------
// Lexer
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// A key, a value, or the keywords `in` / `notin` (the parser decides).
    Word(String),
    Not,
    Equals,
    DoubleEquals,
    NotEquals,
    GreaterThan,
    LessThan,
    OpenParen,
    CloseParen,
    Comma,
    End,
}

#[derive(Debug, Clone)]
struct Lexeme {
    token: Token,
    /// 1-based character position, for error messages.
    column: usize,
}

impl Lexeme {
    fn text(&self) -> Option<String> {
        let text = match &self.token {
            Token::Word(word) => word,
            Token::Not => "!",
            Token::Equals => "=",
            Token::DoubleEquals => "==",
            Token::NotEquals => "!=",
            Token::GreaterThan => ">",
            Token::LessThan => "<",
            Token::OpenParen => "(",
            Token::CloseParen => ")",
            Token::Comma => ",",
            Token::End => return None,
        };
        Some(text.to_string())
    }
}

fn is_whitespace(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// The operator or punctuation starting with `c` (and its width), if any.
/// Two-character symbols win over one-character ones, as in Kubernetes.
fn symbol(c: char, next: Option<char>) -> Option<(Token, usize)> {
    let token = match (c, next) {
        ('=', Some('=')) => return Some((Token::DoubleEquals, 2)),
        ('!', Some('=')) => return Some((Token::NotEquals, 2)),
        ('=', _) => Token::Equals,
        ('!', _) => Token::Not,
        ('>', _) => Token::GreaterThan,
        ('<', _) => Token::LessThan,
        ('(', _) => Token::OpenParen,
        (')', _) => Token::CloseParen,
        (',', _) => Token::Comma,
        _ => return None,
    };
    Some((token, 1))
}

/// Splits the input into tokens; a word runs until whitespace or a symbol.
/// Anything else (e.g. `~`) lands in a word and fails key/value validation.
fn tokenize(input: &str) -> (Vec<Lexeme>, Lexeme) {
    let chars: Vec<char> = input.chars().collect();
    let mut lexemes = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        if is_whitespace(c) {
            i += 1;
            continue;
        }
        let column = i + 1;
        let (token, width) = symbol(c, chars.get(i + 1).copied()).unwrap_or_else(|| {
            let word: String = chars
                .iter()
                .skip(i)
                .take_while(|&&c| !is_whitespace(c) && symbol(c, None).is_none())
                .collect();
            let width = word.chars().count();
            (Token::Word(word), width)
        });
        lexemes.push(Lexeme { token, column });
        i += width;
    }
    let end = Lexeme {
        token: Token::End,
        column: chars.len() + 1,
    };
    (lexemes, end)
}

// ---------------------------------------------------------------------------
// Parser (recursive descent over the token list)
// ---------------------------------------------------------------------------

struct Parser {
    lexemes: Vec<Lexeme>,
    /// Returned for every read past the last token.
    end: Lexeme,
    position: usize,
}

impl Parser {
    fn new(input: &str) -> Self {
        let (lexemes, end) = tokenize(input);
        Self {
            lexemes,
            end,
            position: 0,
        }
    }

    fn peek(&self) -> &Lexeme {
        self.lexemes.get(self.position).unwrap_or(&self.end)
    }

    fn next(&mut self) -> Lexeme {
        let lexeme = self.peek().clone();
        self.position += 1;
        lexeme
    }

    fn selector(&mut self) -> Result<Vec<Requirement>, SelectorError> {
        let mut requirements = Vec::new();
        match self.peek().token {
            Token::End => return Ok(requirements),
            Token::Word(_) | Token::Not => {}
            _ => return Err(unexpected(self.peek(), "!, identifier, or end of string")),
        }
        loop {
            requirements.push(self.requirement()?);
            let separator = self.next();
            match separator.token {
                Token::End => return Ok(requirements),
                Token::Comma if matches!(self.peek().token, Token::Word(_) | Token::Not) => {}
                Token::Comma => return Err(unexpected(self.peek(), "identifier after ','")),
                _ => return Err(unexpected(&separator, "',' or end of string")),
            }
        }
    }

    fn requirement(&mut self) -> Result<Requirement, SelectorError> {
        let negated = self.peek().token == Token::Not;
        if negated {
            self.position += 1;
        }
        let key = self.key(negated)?;
        if negated {
            return Ok(Requirement {
                key,
                operator: Operator::DoesNotExist,
                values: vec![],
            });
        }
        if matches!(self.peek().token, Token::End | Token::Comma) {
            return Ok(Requirement {
                key,
                operator: Operator::Exists,
                values: vec![],
            });
        }
        let operator = self.operator()?;
        let values = match operator {
            Operator::In | Operator::NotIn => self.value_set()?,
            _ => vec![self.exact_value()?],
        };
        for value in &values {
            let reasons = label_value_errors(value);
            if !reasons.is_empty() {
                return Err(SelectorError::InvalidValue {
                    key,
                    value: value.clone(),
                    reasons,
                });
            }
        }
        Ok(Requirement {
            key,
            operator,
            values,
        })
    }

    fn key(&mut self, after_not: bool) -> Result<String, SelectorError> {
        let lexeme = self.next();
        let Token::Word(key) = lexeme.token else {
            let expected = if after_not {
                "identifier after '!'"
            } else {
                "identifier"
            };
            return Err(unexpected(&lexeme, expected));
        };
        let reasons = qualified_name_errors(&key);
        if reasons.is_empty() {
            Ok(key)
        } else {
            Err(SelectorError::InvalidKey { key, reasons })
        }
    }

    fn operator(&mut self) -> Result<Operator, SelectorError> {
        let lexeme = self.next();
        match &lexeme.token {
            Token::Word(word) if word == "in" => Ok(Operator::In),
            Token::Word(word) if word == "notin" => Ok(Operator::NotIn),
            Token::Equals | Token::DoubleEquals => Ok(Operator::Equals),
            Token::NotEquals => Ok(Operator::NotEquals),
            Token::GreaterThan | Token::LessThan => Err(SelectorError::UnsupportedOperator {
                column: lexeme.column,
                operator: lexeme.text().unwrap_or_default(),
            }),
            _ => Err(unexpected(&lexeme, "in, notin, =, == or !=")),
        }
    }

    /// `VALUE` after `=`, `==` or `!=`; absent means the empty value (`x=`).
    fn exact_value(&mut self) -> Result<String, SelectorError> {
        if matches!(self.peek().token, Token::End | Token::Comma) {
            return Ok(String::new());
        }
        let lexeme = self.next();
        match lexeme.token {
            Token::Word(value) => Ok(value),
            _ => Err(unexpected(&lexeme, "value")),
        }
    }

    /// `( v1, v2, ... )` where any value may be empty: `(a,,b)` holds `""`.
    fn value_set(&mut self) -> Result<Vec<String>, SelectorError> {
        let open = self.next();
        if open.token != Token::OpenParen {
            return Err(unexpected(&open, "'('"));
        }
        let mut values = BTreeSet::new();
        loop {
            let value = match &self.peek().token {
                Token::Word(word) => {
                    let word = word.clone();
                    self.position += 1;
                    word
                }
                _ => String::new(),
            };
            values.insert(value);
            let separator = self.next();
            match separator.token {
                Token::Comma => continue,
                Token::CloseParen => return Ok(values.into_iter().collect()),
                _ => return Err(unexpected(&separator, "',' or ')'")),
            }
        }
    }
}

fn unexpected(lexeme: &Lexeme, expected: &'static str) -> SelectorError {
    SelectorError::Syntax {
        column: lexeme.column,
        found: lexeme.text(),
        expected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn req(key: &str, operator: Operator, values: &[&str]) -> Requirement {
        Requirement {
            key: key.into(),
            operator,
            values: values.iter().map(|v| v.to_string()).collect(),
        }
    }

    fn parse(input: &str) -> LabelSelector {
        LabelSelector::parse(input).unwrap_or_else(|e| panic!("{input:?} should parse: {e}"))
    }

    fn error(input: &str) -> SelectorError {
        match LabelSelector::parse(input) {
            Ok(selector) => panic!("{input:?} should not parse, got {selector:?}"),
            Err(e) => e,
        }
    }

    // --- parsing -----------------------------------------------------------------

    #[test]
    fn empty_and_blank_select_everything() {
        for input in ["", " ", "\t\r\n "] {
            let selector = parse(input);
            assert!(selector.is_empty());
            assert!(selector.matches(&labels(&[])));
            assert!(selector.matches(&labels(&[("a", "b")])));
        }
    }

    #[test]
    fn parses_every_operator() {
        let cases = [
            ("x=a", req("x", Operator::Equals, &["a"])),
            ("x==a", req("x", Operator::Equals, &["a"])),
            ("x!=a", req("x", Operator::NotEquals, &["a"])),
            ("x in (b,a)", req("x", Operator::In, &["a", "b"])),
            ("x notin (a)", req("x", Operator::NotIn, &["a"])),
            ("x", req("x", Operator::Exists, &[])),
            ("!x", req("x", Operator::DoesNotExist, &[])),
        ];
        for (input, expected) in cases {
            assert_eq!(parse(input).requirements, vec![expected], "{input:?}");
        }
    }

    #[test]
    fn tolerates_whitespace_like_kubernetes() {
        let expected = parse("a=1,b!=2,c in (x,y),!d,e");
        for input in [
            " a = 1 , b != 2 , c in ( x , y ) , ! d , e ",
            "a=1,b!=2,c in(x,y),!d,e",
            "a\t=\t1,\nb!=2,\r\nc  in  (x,y),!d,e\n",
        ] {
            assert_eq!(parse(input), expected, "{input:?}");
        }
    }

    #[test]
    fn empty_values_are_allowed() {
        assert_eq!(
            parse("x=").requirements,
            vec![req("x", Operator::Equals, &[""])]
        );
        assert_eq!(parse("x=,z= ").requirements.len(), 2);
        assert_eq!(
            parse("x!=").requirements,
            vec![req("x", Operator::NotEquals, &[""])]
        );
        assert_eq!(
            parse("x in (a,,b)").requirements,
            vec![req("x", Operator::In, &["", "a", "b"])]
        );
        assert_eq!(
            parse("x in (,a)").requirements,
            vec![req("x", Operator::In, &["", "a"])]
        );
        assert_eq!(
            parse("x in (a,)").requirements,
            vec![req("x", Operator::In, &["", "a"])]
        );
    }

    #[test]
    fn empty_parentheses_are_the_empty_value_as_in_kubernetes() {
        // labels.Parse("z notin ()") is documented as valid and means {""}.
        assert_eq!(
            parse("x in ()").requirements,
            vec![req("x", Operator::In, &[""])]
        );
        assert_eq!(
            parse("x notin ()").requirements,
            vec![req("x", Operator::NotIn, &[""])]
        );
        assert!(parse("x in ()").matches(&labels(&[("x", "")])));
        assert!(!parse("x in ()").matches(&labels(&[("x", "a")])));
    }

    #[test]
    fn set_values_are_sorted_and_deduplicated() {
        assert_eq!(
            parse("x in (c,a,b,a,c)").requirements[0].values,
            vec!["a", "b", "c"]
        );
    }

    #[test]
    fn in_and_notin_are_keywords_only_in_operator_position() {
        assert_eq!(
            parse("in in (in,notin)").requirements,
            vec![req("in", Operator::In, &["in", "notin"])]
        );
        assert_eq!(
            parse("notin=in").requirements,
            vec![req("notin", Operator::Equals, &["in"])]
        );
        assert_eq!(
            parse("in").requirements,
            vec![req("in", Operator::Exists, &[])]
        );
        assert_eq!(
            parse("!notin").requirements,
            vec![req("notin", Operator::DoesNotExist, &[])]
        );
    }

    #[test]
    fn prefixed_keys_are_accepted() {
        let selector = parse("example.com/tier=web,app.kubernetes.io/name notin (db)");
        assert_eq!(selector.requirements[0].key, "app.kubernetes.io/name");
        assert_eq!(selector.requirements[1].key, "example.com/tier");
    }

    #[test]
    fn requirements_are_sorted_by_key_keeping_duplicates_in_order() {
        let selector = parse("b=1,a=2,b=3");
        let keys: Vec<_> = selector
            .requirements
            .iter()
            .map(|r| (r.key.as_str(), r.values[0].as_str()))
            .collect();
        assert_eq!(keys, vec![("a", "2"), ("b", "1"), ("b", "3")]);
    }

    // --- errors -------------------------------------------------------------------

    #[test]
    fn rejects_malformed_selectors() {
        for input in [
            ",",
            ",x",
            "x,",
            "x,,y",
            "x=a||y=b",
            "x==a==b",
            "!x=a",
            "x=a b",
            "x in (a",
            "x in (a,b",
            "x in a",
            "x in (a b)",
            "x in (=)",
            "x notin",
            "x=(",
            "x=!",
            "!",
            "!!x",
            "=a",
            "x y",
            "(x)",
            "x in (a))",
            "x~=a",
        ] {
            assert!(
                LabelSelector::parse(input).is_err(),
                "{input:?} should be rejected"
            );
        }
    }

    #[test]
    fn syntax_errors_say_what_was_found_what_was_expected_and_where() {
        assert_eq!(
            error("!!x").to_string(),
            "unable to parse requirement at column 2: found '!', expected: identifier after '!'"
        );
        assert_eq!(
            error("x,").to_string(),
            "unable to parse requirement at column 3: found end of string, expected: identifier after ','"
        );
        assert_eq!(
            error("x in (a b)").to_string(),
            "unable to parse requirement at column 9: found 'b', expected: ',' or ')'"
        );
        assert_eq!(
            error("x=a y").to_string(),
            "unable to parse requirement at column 5: found 'y', expected: ',' or end of string"
        );
        assert_eq!(
            error("a,=b").to_string(),
            "unable to parse requirement at column 3: found '=', expected: identifier after ','"
        );
        assert_eq!(
            error("x in a").to_string(),
            "unable to parse requirement at column 6: found 'a', expected: '('"
        );
        assert_eq!(
            error("x y").to_string(),
            "unable to parse requirement at column 3: found 'y', expected: in, notin, =, == or !="
        );
    }

    #[test]
    fn greater_and_less_than_are_refused_by_name() {
        for (input, op) in [("x>1", ">"), ("x < 1", "<")] {
            let e = error(input);
            assert!(
                matches!(&e, SelectorError::UnsupportedOperator { operator, .. } if operator == op),
                "{e:?}"
            );
            assert!(e
                .to_string()
                .contains(&format!("operator '{op}' is not supported")));
        }
    }

    #[test]
    fn invalid_keys_are_rejected_with_the_reason() {
        let e = error("-x=a");
        assert!(
            matches!(&e, SelectorError::InvalidKey { key, .. } if key == "-x"),
            "{e:?}"
        );
        assert!(
            e.to_string()
                .starts_with("invalid label key \"-x\": name part must consist of"),
            "{e}"
        );
        assert!(matches!(error("a/b/c"), SelectorError::InvalidKey { .. }));
        assert!(matches!(
            error(&"k".repeat(64)),
            SelectorError::InvalidKey { .. }
        ));
        assert!(matches!(
            error("Bad_Prefix/x"),
            SelectorError::InvalidKey { .. }
        ));
        assert!(matches!(error("x~"), SelectorError::InvalidKey { .. }));
    }

    #[test]
    fn invalid_values_are_rejected_naming_key_and_value() {
        let e = error("app in (ok,-bad)");
        assert_eq!(
            e,
            SelectorError::InvalidValue {
                key: "app".into(),
                value: "-bad".into(),
                reasons: label_value_errors("-bad"),
            }
        );
        assert!(e
            .to_string()
            .starts_with("invalid value \"-bad\" for label key \"app\": a valid label"));
        assert!(matches!(
            error(&format!("x={}", "v".repeat(64))),
            SelectorError::InvalidValue { .. }
        ));
        assert!(matches!(error("x=a/b"), SelectorError::InvalidValue { .. }));
    }

    // --- matching -------------------------------------------------------------------

    #[test]
    fn equality_requires_the_key() {
        let selector = parse("env=prod");
        assert!(selector.matches(&labels(&[("env", "prod"), ("x", "y")])));
        assert!(!selector.matches(&labels(&[("env", "dev")])));
        assert!(!selector.matches(&labels(&[])));
    }

    #[test]
    fn inequality_and_notin_match_when_the_key_is_absent() {
        for input in ["env!=prod", "env notin (prod,staging)"] {
            let selector = parse(input);
            assert!(selector.matches(&labels(&[])), "{input}");
            assert!(selector.matches(&labels(&[("env", "dev")])), "{input}");
            assert!(!selector.matches(&labels(&[("env", "prod")])), "{input}");
        }
    }

    #[test]
    fn set_membership() {
        let selector = parse("env in (prod,staging)");
        assert!(selector.matches(&labels(&[("env", "staging")])));
        assert!(!selector.matches(&labels(&[("env", "dev")])));
        assert!(!selector.matches(&labels(&[])));
    }

    #[test]
    fn existence() {
        assert!(parse("env").matches(&labels(&[("env", "")])));
        assert!(!parse("env").matches(&labels(&[("other", "x")])));
        assert!(parse("!env").matches(&labels(&[("other", "x")])));
        assert!(!parse("!env").matches(&labels(&[("env", "")])));
    }

    #[test]
    fn empty_value_equality_needs_the_key_present() {
        assert!(parse("env=").matches(&labels(&[("env", "")])));
        assert!(!parse("env=").matches(&labels(&[])));
    }

    #[test]
    fn all_requirements_must_hold() {
        let selector = parse("app=web,tier in (front,back),!canary");
        assert!(selector.matches(&labels(&[("app", "web"), ("tier", "front")])));
        assert!(!selector.matches(&labels(&[
            ("app", "web"),
            ("tier", "front"),
            ("canary", "1")
        ])));
        assert!(!selector.matches(&labels(&[("app", "db"), ("tier", "front")])));
        assert!(!selector.matches(&labels(&[("app", "web")])));
    }

    #[test]
    fn contradictory_requirements_match_nothing() {
        let selector = parse("a=1,a=2");
        assert!(!selector.matches(&labels(&[("a", "1")])));
        assert!(!selector.matches(&labels(&[("a", "2")])));
    }

    // --- printing ---------------------------------------------------------------------

    #[test]
    fn prints_the_canonical_form() {
        assert_eq!(
            parse(" c == 1 , !b , a notin ( y , x ) , d , e in () ").to_string(),
            "a notin (x,y),!b,c=1,d,e in ()"
        );
        assert_eq!(parse("x!=").to_string(), "x!=");
        assert_eq!(parse("").to_string(), "");
    }

    // --- properties ------------------------------------------------------------------

    fn key() -> impl Strategy<Value = String> {
        let name = "[A-Za-z0-9]([-A-Za-z0-9_.]{0,8}[A-Za-z0-9])?";
        prop_oneof![
            3 => name.prop_map(String::from),
            1 => ("[a-z0-9]{1,5}(\\.[a-z0-9]{1,5}){0,2}", name).prop_map(|(p, n)| format!("{p}/{n}")),
            1 => prop_oneof![Just("in".to_string()), Just("notin".to_string())],
        ]
    }

    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => "([A-Za-z0-9]([-A-Za-z0-9_.]{0,6}[A-Za-z0-9])?)?".prop_map(String::from),
            1 => prop_oneof![Just("in".to_string()), Just("notin".to_string())],
        ]
    }

    fn requirement() -> impl Strategy<Value = Requirement> {
        let operator = prop_oneof![
            Just(Operator::Equals),
            Just(Operator::NotEquals),
            Just(Operator::In),
            Just(Operator::NotIn),
            Just(Operator::Exists),
            Just(Operator::DoesNotExist),
        ];
        (
            key(),
            operator,
            proptest::collection::btree_set(value(), 1..4),
        )
            .prop_map(|(key, operator, set)| {
                let values: Vec<String> = match operator {
                    Operator::Exists | Operator::DoesNotExist => vec![],
                    Operator::Equals | Operator::NotEquals => set.into_iter().take(1).collect(),
                    Operator::In | Operator::NotIn => set.into_iter().collect(),
                };
                Requirement {
                    key,
                    operator,
                    values,
                }
            })
    }

    /// Selectors in the normal form `parse` produces.
    fn selector() -> impl Strategy<Value = LabelSelector> {
        proptest::collection::vec(requirement(), 0..5).prop_map(|mut requirements| {
            requirements.sort_by(|a, b| a.key.cmp(&b.key));
            LabelSelector { requirements }
        })
    }

    fn label_set() -> impl Strategy<Value = BTreeMap<String, String>> {
        proptest::collection::btree_map(key(), value(), 0..5)
    }

    proptest! {
        #[test]
        fn display_round_trips(selector in selector()) {
            let printed = selector.to_string();
            let reparsed = LabelSelector::parse(&printed);
            prop_assert_eq!(reparsed, Ok(selector), "printed as {:?}", printed);
        }

        #[test]
        fn matching_is_the_conjunction_of_requirements(selector in selector(), labels in label_set()) {
            let each = selector.requirements.iter().all(|r| r.matches(&labels));
            prop_assert_eq!(selector.matches(&labels), each);
        }

        #[test]
        fn negated_operators_are_complements(
            key in key(),
            values in proptest::collection::btree_set(value(), 1..4),
            labels in label_set(),
        ) {
            let values: Vec<String> = values.into_iter().collect();
            let make = |operator, values: &[String]| Requirement { key: key.clone(), operator, values: values.to_vec() };
            let pairs = [
                (make(Operator::In, &values), make(Operator::NotIn, &values)),
                (make(Operator::Equals, &values[..1]), make(Operator::NotEquals, &values[..1])),
                (make(Operator::Exists, &[]), make(Operator::DoesNotExist, &[])),
            ];
            for (positive, negative) in pairs {
                prop_assert_ne!(positive.matches(&labels), negative.matches(&labels));
            }
        }

        #[test]
        fn parse_never_panics(input in "[-a-z0-9 !=(),<>._/]{0,24}") {
            let _ = LabelSelector::parse(&input);
        }

        #[test]
        fn anything_parsed_prints_to_an_equivalent_selector(input in "[a-c!=(), ]{0,16}") {
            if let Ok(selector) = LabelSelector::parse(&input) {
                prop_assert_eq!(LabelSelector::parse(&selector.to_string()), Ok(selector));
            }
        }
    }
}
