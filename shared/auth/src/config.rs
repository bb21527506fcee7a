//! Authentication settings, read once per Lambda instance from the environment.

use std::fmt;

use jsonwebtoken::jwk::JwkSet;

/// Environment variable naming the trusted token issuer (`iss`).
pub const ENV_ISSUER: &str = "AUTH_ISSUER";
/// Environment variable naming this service's audience (`aud`).
pub const ENV_AUDIENCE: &str = "AUTH_AUDIENCE";
/// Environment variable holding the HS256 shared secret (local development).
pub const ENV_HS256_SECRET: &str = "AUTH_HS256_SECRET";
/// Environment variable holding a JWKS document as JSON text.
pub const ENV_JWKS: &str = "AUTH_JWKS";
/// Environment variable holding the path of a JWKS JSON file.
pub const ENV_JWKS_FILE: &str = "AUTH_JWKS_FILE";
/// Environment variable holding the clock-skew leeway in seconds (optional).
pub const ENV_LEEWAY_SECONDS: &str = "AUTH_LEEWAY_SECONDS";
/// Environment variable naming the claim that identifies the user (optional).
pub const ENV_USER_CLAIM: &str = "AUTH_USER_CLAIM";
/// Environment variable naming the claim that lists the user's groups (optional).
pub const ENV_GROUPS_CLAIM: &str = "AUTH_GROUPS_CLAIM";
/// The user is the token's subject unless configured otherwise.
pub const DEFAULT_USER_CLAIM: &str = "sub";
/// The groups are the token's `groups` claim unless configured otherwise.
pub const DEFAULT_GROUPS_CLAIM: &str = "groups";

/// Clock-skew leeway applied to `exp` and `nbf` unless configured otherwise.
pub const DEFAULT_LEEWAY_SECONDS: u64 = 30;
/// Largest accepted leeway: more would make expiry meaningless.
pub const MAX_LEEWAY_SECONDS: u64 = 300;
/// Shortest accepted HS256 secret, in bytes (RFC 7518 §3.2: at least the hash size).
pub const MIN_HS256_SECRET_BYTES: usize = 32;

/// What tokens are trusted: issuer, audience and the keys that may sign them.
///
/// `Debug` is written by hand so that the HS256 secret never reaches a log.
#[derive(Clone)]
pub struct AuthConfig {
    /// Expected `iss` claim.
    pub issuer: String,
    /// Expected `aud` claim (the token's `aud` may be this string or an array containing it).
    pub audience: String,
    /// Shared secret for HS256 tokens (local development); `None` refuses HS256.
    pub hs256_secret: Option<String>,
    /// Public keys for RS256/ES256 tokens (deployments); `None` refuses both.
    pub jwks: Option<JwkSet>,
    /// Clock-skew allowance for `exp` and `nbf`, in seconds.
    pub leeway_seconds: u64,
    /// The claim whose value is the user (IAM's User name; `sub` by
    /// default, e.g. `email` or `preferred_username` for some providers).
    pub user_claim: String,
    /// The claim listing the user's groups (a string or an array).
    pub groups_claim: String,
}

/// Why the authentication settings cannot be used. Messages name the variable to fix.
#[derive(Debug, thiserror::Error)]
pub enum AuthConfigError {
    #[error("{var} is not set: it must hold the {what}")]
    Missing {
        var: &'static str,
        what: &'static str,
    },
    #[error(
        "no token verification key is configured: set {ENV_HS256_SECRET} (local development) \
         or {ENV_JWKS} / {ENV_JWKS_FILE} (deployments)"
    )]
    NoKeySource,
    #[error("{ENV_JWKS} and {ENV_JWKS_FILE} are both set: set only one of them")]
    ConflictingJwks,
    #[error("cannot read {ENV_JWKS_FILE} {path:?}: {source}")]
    JwksFile {
        path: String,
        source: std::io::Error,
    },
    #[error("{origin} is not a valid JWKS document: {reason}")]
    InvalidJwks { origin: String, reason: String },
    #[error("JWKS key {kid} cannot be used: {reason}")]
    InvalidKey { kid: String, reason: String },
    #[error("JWKS key id {0:?} appears more than once")]
    DuplicateKeyId(String),
    #[error("the JWKS holds no usable signing key (supported: RSA for RS256, EC P-256 for ES256)")]
    NoUsableJwksKey,
    #[error(
        "{ENV_HS256_SECRET} is too short: use at least {MIN_HS256_SECRET_BYTES} bytes \
         (for example the output of `openssl rand -hex 32`)"
    )]
    WeakSecret,
    #[error("{ENV_LEEWAY_SECONDS} must be a whole number of seconds from 0 to {MAX_LEEWAY_SECONDS}, got {0:?}")]
    InvalidLeeway(String),
}

impl AuthConfig {
    /// Settings for HS256 tokens only (local development and tests).
    pub fn hs256(issuer: &str, audience: &str, secret: &str) -> Self {
        AuthConfig {
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            hs256_secret: Some(secret.to_owned()),
            jwks: None,
            leeway_seconds: DEFAULT_LEEWAY_SECONDS,
            user_claim: DEFAULT_USER_CLAIM.to_owned(),
            groups_claim: DEFAULT_GROUPS_CLAIM.to_owned(),
        }
    }

    /// Reads `AUTH_ISSUER`, `AUTH_AUDIENCE` (required), `AUTH_HS256_SECRET`,
    /// `AUTH_JWKS` or `AUTH_JWKS_FILE` (at least one key source) and
    /// `AUTH_LEEWAY_SECONDS` (optional, default 30), `AUTH_USER_CLAIM`
    /// (default `sub`) and `AUTH_GROUPS_CLAIM` (default `groups`). Empty
    /// values count as unset.
    pub fn from_env() -> Result<Self, AuthConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`AuthConfig::from_env`], with variables looked up through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, AuthConfigError> {
        let get = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());

        let issuer = get(ENV_ISSUER).ok_or(AuthConfigError::Missing {
            var: ENV_ISSUER,
            what: "trusted token issuer (the `iss` claim)",
        })?;
        let audience = get(ENV_AUDIENCE).ok_or(AuthConfigError::Missing {
            var: ENV_AUDIENCE,
            what: "audience of this service (the `aud` claim)",
        })?;
        let hs256_secret = get(ENV_HS256_SECRET);

        let jwks = match (get(ENV_JWKS), get(ENV_JWKS_FILE)) {
            (Some(_), Some(_)) => return Err(AuthConfigError::ConflictingJwks),
            (Some(text), None) => Some(parse_jwks(&text, ENV_JWKS)?),
            (None, Some(path)) => {
                let text =
                    std::fs::read_to_string(&path).map_err(|source| AuthConfigError::JwksFile {
                        path: path.clone(),
                        source,
                    })?;
                Some(parse_jwks(&text, &format!("{ENV_JWKS_FILE} {path:?}"))?)
            }
            (None, None) => None,
        };
        if hs256_secret.is_none() && jwks.is_none() {
            return Err(AuthConfigError::NoKeySource);
        }

        let leeway_seconds = match get(ENV_LEEWAY_SECONDS) {
            None => DEFAULT_LEEWAY_SECONDS,
            Some(text) => text
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|seconds| *seconds <= MAX_LEEWAY_SECONDS)
                .ok_or(AuthConfigError::InvalidLeeway(text))?,
        };

        Ok(AuthConfig {
            issuer: issuer.trim().to_owned(),
            audience: audience.trim().to_owned(),
            hs256_secret,
            jwks,
            leeway_seconds,
            user_claim: get(ENV_USER_CLAIM).map_or_else(
                || DEFAULT_USER_CLAIM.to_owned(),
                |claim| claim.trim().to_owned(),
            ),
            groups_claim: get(ENV_GROUPS_CLAIM).map_or_else(
                || DEFAULT_GROUPS_CLAIM.to_owned(),
                |claim| claim.trim().to_owned(),
            ),
        })
    }
}

fn parse_jwks(text: &str, origin: &str) -> Result<JwkSet, AuthConfigError> {
    serde_json::from_str(text).map_err(|err| AuthConfigError::InvalidJwks {
        origin: origin.to_owned(),
        reason: err.to_string(),
    })
}

impl fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key_ids: Option<Vec<&str>> = self.jwks.as_ref().map(|set| {
            set.keys
                .iter()
                .map(|key| key.common.key_id.as_deref().unwrap_or("<no kid>"))
                .collect()
        });
        f.debug_struct("AuthConfig")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field(
                "hs256_secret",
                &self.hs256_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("jwks_key_ids", &key_ids)
            .field("leeway_seconds", &self.leeway_seconds)
            .field("user_claim", &self.user_claim)
            .field("groups_claim", &self.groups_claim)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef-very-secret";
    const JWKS: &str = r#"{"keys":[{"kty":"EC","crv":"P-256","kid":"k1",
        "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
        "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn reads_hs256_settings() {
        let config = AuthConfig::from_lookup(lookup(&[
            (ENV_ISSUER, "https://issuer.test"),
            (ENV_AUDIENCE, "resources"),
            (ENV_HS256_SECRET, SECRET),
        ]))
        .unwrap();
        assert_eq!(config.issuer, "https://issuer.test");
        assert_eq!(config.audience, "resources");
        assert_eq!(config.hs256_secret.as_deref(), Some(SECRET));
        assert!(config.jwks.is_none());
        assert_eq!(config.leeway_seconds, DEFAULT_LEEWAY_SECONDS);
    }

    #[test]
    fn reads_jwks_text_and_leeway() {
        let config = AuthConfig::from_lookup(lookup(&[
            (ENV_ISSUER, "iss"),
            (ENV_AUDIENCE, "aud"),
            (ENV_JWKS, JWKS),
            (ENV_HS256_SECRET, ""),
            (ENV_LEEWAY_SECONDS, "5"),
        ]))
        .unwrap();
        assert_eq!(config.jwks.unwrap().keys.len(), 1);
        assert!(
            config.hs256_secret.is_none(),
            "empty secret counts as unset"
        );
        assert_eq!(config.leeway_seconds, 5);
    }

    #[test]
    fn reads_jwks_file() {
        let path = std::env::temp_dir().join(format!("auth-jwks-{}.json", std::process::id()));
        std::fs::write(&path, JWKS).unwrap();
        let result = AuthConfig::from_lookup(lookup(&[
            (ENV_ISSUER, "iss"),
            (ENV_AUDIENCE, "aud"),
            (ENV_JWKS_FILE, path.to_str().unwrap()),
        ]));
        std::fs::remove_file(&path).unwrap();
        let jwks = result.unwrap().jwks.unwrap();
        assert_eq!(jwks.keys[0].common.key_id.as_deref(), Some("k1"));
    }

    #[test]
    fn explains_what_is_missing_or_wrong() {
        let err = AuthConfig::from_lookup(lookup(&[(ENV_AUDIENCE, "aud")])).unwrap_err();
        assert!(
            err.to_string().starts_with("AUTH_ISSUER is not set"),
            "{err}"
        );

        let err = AuthConfig::from_lookup(lookup(&[(ENV_ISSUER, "iss")])).unwrap_err();
        assert!(
            err.to_string().starts_with("AUTH_AUDIENCE is not set"),
            "{err}"
        );

        let err = AuthConfig::from_lookup(lookup(&[(ENV_ISSUER, "iss"), (ENV_AUDIENCE, "aud")]))
            .unwrap_err();
        assert!(matches!(err, AuthConfigError::NoKeySource), "{err}");
        assert!(err.to_string().contains("AUTH_HS256_SECRET"), "{err}");

        let both = [
            (ENV_ISSUER, "iss"),
            (ENV_AUDIENCE, "aud"),
            (ENV_JWKS, JWKS),
            (ENV_JWKS_FILE, "/x.json"),
        ];
        let err = AuthConfig::from_lookup(lookup(&both)).unwrap_err();
        assert!(matches!(err, AuthConfigError::ConflictingJwks), "{err}");

        let bad = [(ENV_ISSUER, "iss"), (ENV_AUDIENCE, "aud"), (ENV_JWKS, "{")];
        let err = AuthConfig::from_lookup(lookup(&bad)).unwrap_err();
        assert!(
            err.to_string().starts_with("AUTH_JWKS is not a valid JWKS"),
            "{err}"
        );

        let gone = [
            (ENV_ISSUER, "iss"),
            (ENV_AUDIENCE, "aud"),
            (ENV_JWKS_FILE, "/nonexistent/jwks.json"),
        ];
        let err = AuthConfig::from_lookup(lookup(&gone)).unwrap_err();
        assert!(matches!(err, AuthConfigError::JwksFile { .. }), "{err}");
        assert!(err.to_string().contains("/nonexistent/jwks.json"), "{err}");

        let leeway = [
            (ENV_ISSUER, "iss"),
            (ENV_AUDIENCE, "aud"),
            (ENV_HS256_SECRET, SECRET),
            (ENV_LEEWAY_SECONDS, "3600"),
        ];
        let err = AuthConfig::from_lookup(lookup(&leeway)).unwrap_err();
        assert!(matches!(err, AuthConfigError::InvalidLeeway(_)), "{err}");
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let mut config = AuthConfig::hs256("iss", "aud", SECRET);
        config.jwks = Some(serde_json::from_str(JWKS).unwrap());
        let debug = format!("{config:?}");
        assert!(!debug.contains(SECRET), "{debug}");
        assert!(!debug.contains("very-secret"), "{debug}");
        assert!(debug.contains("<redacted>"), "{debug}");
        assert!(debug.contains("k1"), "{debug}");
        let pretty = format!("{config:#?}");
        assert!(!pretty.contains(SECRET), "{pretty}");
    }
}
