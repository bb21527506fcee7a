//! Bearer-token verification and the principal it yields.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::config::{AuthConfig, AuthConfigError, MAX_LEEWAY_SECONDS, MIN_HS256_SECRET_BYTES};

/// Longest token accepted; real tokens are far shorter.
const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// Longest claim value echoed back in an error message.
const MAX_ECHO_CHARS: usize = 64;

/// Who made the request, as vouched for by a verified token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// The token's `sub` claim.
    pub subject: String,
    /// The token's `iss` claim.
    pub issuer: String,
    /// The token's `groups` claim (a string or an array of strings), empty if absent.
    pub groups: Vec<String>,
    /// The token's `email` claim, if any.
    pub email: Option<String>,
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.subject)
    }
}

/// Why a request is not authenticated. Every variant means HTTP 401.
///
/// Messages say what to fix; they never contain the token or a secret. Claim
/// values from a verified token may be quoted, shortened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no bearer token: send an `Authorization: Bearer <token>` header")]
    MissingToken,
    #[error("malformed Authorization header: expected `Bearer <token>`")]
    MalformedHeader,
    #[error("invalid bearer token: {0}")]
    InvalidToken(String),
    #[error("bearer token signature is invalid")]
    BadSignature,
    #[error("bearer token has expired")]
    Expired,
    #[error("bearer token is not valid yet (its `nbf` is in the future)")]
    NotYetValid,
    #[error("token issuer {0:?} is not trusted")]
    WrongIssuer(String),
    #[error("token audience {0:?} does not include this service")]
    WrongAudience(Vec<String>),
    #[error("token signing key {0:?} is not among the trusted keys")]
    UnknownKey(String),
    #[error("token has no key id (`kid`), which is needed to choose among the trusted keys")]
    MissingKeyId,
    #[error("token algorithm {0:?} is not accepted by this service")]
    UnsupportedAlgorithm(String),
    #[error("cannot mint token: {0}")]
    Mint(String),
}

/// A trusted public key from the JWKS, ready to verify with.
struct TrustedKey {
    kid: Option<String>,
    algorithm: Algorithm,
    key: DecodingKey,
}

/// Checks bearer tokens against one [`AuthConfig`]. Build it once per Lambda
/// instance: keys are decoded up front.
pub struct Verifier {
    issuer: String,
    audience: String,
    leeway_seconds: u64,
    user_claim: String,
    groups_claim: String,
    hs256: Option<DecodingKey>,
    jwks: Vec<TrustedKey>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: Vec<String> = self
            .jwks
            .iter()
            .map(|k| {
                format!(
                    "{:?} {:?}",
                    k.algorithm,
                    k.kid.as_deref().unwrap_or("<no kid>")
                )
            })
            .collect();
        f.debug_struct("Verifier")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("leeway_seconds", &self.leeway_seconds)
            .field("hs256_secret", &self.hs256.as_ref().map(|_| "<redacted>"))
            .field("jwks", &keys)
            .finish()
    }
}

/// The part of the token header needed to choose a key.
#[derive(Deserialize)]
struct RawHeader {
    alg: String,
    kid: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(value) => vec![value],
            OneOrMany::Many(values) => values,
        }
    }
}

/// Claims read from a token whose signature, `exp` and `nbf` have been
/// checked; the user and groups are read from the configured claims.
#[derive(Deserialize)]
struct Claims {
    iss: Option<String>,
    aud: Option<OneOrMany>,
    email: Option<String>,
    #[serde(flatten)]
    others: std::collections::HashMap<String, serde_json::Value>,
}

impl Verifier {
    /// Prepares the keys of `config`. Fails if no key is usable, the HS256
    /// secret is too short or a JWKS key is broken. JWKS keys for other uses
    /// or algorithms (encryption keys, PS256, P-384, ...) are skipped.
    pub fn new(config: AuthConfig) -> Result<Self, AuthConfigError> {
        // Makes the crypto backend explicit even if feature unification enables
        // another one; an error only means a provider was installed already.
        let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();

        if config.issuer.trim().is_empty() {
            return Err(AuthConfigError::Missing {
                var: crate::config::ENV_ISSUER,
                what: "trusted token issuer (the `iss` claim)",
            });
        }
        if config.audience.trim().is_empty() {
            return Err(AuthConfigError::Missing {
                var: crate::config::ENV_AUDIENCE,
                what: "audience of this service (the `aud` claim)",
            });
        }
        if config.leeway_seconds > MAX_LEEWAY_SECONDS {
            return Err(AuthConfigError::InvalidLeeway(
                config.leeway_seconds.to_string(),
            ));
        }

        let hs256 = match &config.hs256_secret {
            Some(secret) if secret.len() < MIN_HS256_SECRET_BYTES => {
                return Err(AuthConfigError::WeakSecret)
            }
            Some(secret) => Some(DecodingKey::from_secret(secret.as_bytes())),
            None => None,
        };

        let mut jwks: Vec<TrustedKey> = Vec::new();
        if let Some(set) = &config.jwks {
            for jwk in &set.keys {
                let Some(trusted) = trusted_key(jwk)? else {
                    continue;
                };
                if let Some(kid) = &trusted.kid {
                    if jwks.iter().any(|k| k.kid.as_ref() == Some(kid)) {
                        return Err(AuthConfigError::DuplicateKeyId(kid.clone()));
                    }
                }
                jwks.push(trusted);
            }
            if jwks.is_empty() {
                return Err(AuthConfigError::NoUsableJwksKey);
            }
        }
        if hs256.is_none() && jwks.is_empty() {
            return Err(AuthConfigError::NoKeySource);
        }

        Ok(Verifier {
            issuer: config.issuer.trim().to_owned(),
            audience: config.audience.trim().to_owned(),
            leeway_seconds: config.leeway_seconds,
            user_claim: config.user_claim.clone(),
            groups_claim: config.groups_claim.clone(),
            hs256,
            jwks,
        })
    }

    /// Verifies the value of an `Authorization` header and returns who sent it.
    pub fn verify_bearer(
        &self,
        authorization_header: Option<&str>,
    ) -> Result<Principal, AuthError> {
        let token = bearer_token(authorization_header)?;
        self.verify_token(token)
    }

    /// Verifies a bare JWT (no `Bearer ` prefix).
    pub fn verify_token(&self, token: &str) -> Result<Principal, AuthError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::InvalidToken("token is too long".into()));
        }
        let header = read_header(token)?;
        let (algorithm, key) = self.select_key(&header)?;

        let mut validation = Validation::new(algorithm);
        validation.leeway = self.leeway_seconds;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp"]);
        // Issuer and audience are compared below, so the errors can say what was found.
        validation.iss = None;
        validation.validate_aud = false;

        let claims = jsonwebtoken::decode::<Claims>(token, key, &validation)
            .map_err(|err| map_decode_error(err.kind(), &header.alg))?
            .claims;
        self.principal(claims)
    }

    /// Chooses the key for the token's algorithm: HS256 only with the
    /// configured secret, RS256/ES256 only with a JWKS key of that algorithm.
    fn select_key(&self, header: &RawHeader) -> Result<(Algorithm, &DecodingKey), AuthError> {
        let unsupported = || AuthError::UnsupportedAlgorithm(shorten(&header.alg));
        let algorithm = match header.alg.as_str() {
            "HS256" => Algorithm::HS256,
            "RS256" => Algorithm::RS256,
            "ES256" => Algorithm::ES256,
            _ => return Err(unsupported()),
        };
        if algorithm == Algorithm::HS256 {
            return self
                .hs256
                .as_ref()
                .map(|key| (algorithm, key))
                .ok_or_else(unsupported);
        }
        if !self.jwks.iter().any(|k| k.algorithm == algorithm) {
            return Err(unsupported());
        }
        let trusted = match &header.kid {
            Some(kid) => self
                .jwks
                .iter()
                .find(|k| k.kid.as_ref() == Some(kid))
                .ok_or_else(|| AuthError::UnknownKey(shorten(kid)))?,
            None => match self.jwks.as_slice() {
                [only] => only,
                _ => return Err(AuthError::MissingKeyId),
            },
        };
        if trusted.algorithm != algorithm {
            return Err(AuthError::InvalidToken(format!(
                "token algorithm {:?} does not match its signing key (a {:?} key)",
                header.alg, trusted.algorithm
            )));
        }
        Ok((algorithm, &trusted.key))
    }

    fn principal(&self, claims: Claims) -> Result<Principal, AuthError> {
        let issuer = claims
            .iss
            .ok_or_else(|| AuthError::InvalidToken("token has no issuer (`iss`) claim".into()))?;
        if issuer != self.issuer {
            return Err(AuthError::WrongIssuer(shorten(&issuer)));
        }
        let audience = claims
            .aud
            .ok_or_else(|| AuthError::InvalidToken("token has no audience (`aud`) claim".into()))?
            .into_vec();
        if !audience.contains(&self.audience) {
            return Err(AuthError::WrongAudience(
                audience.iter().take(5).map(|aud| shorten(aud)).collect(),
            ));
        }
        let subject = claims
            .others
            .get(&self.user_claim)
            .and_then(|v| v.as_str())
            .filter(|user| !user.trim().is_empty())
            .map(str::to_owned)
            .ok_or_else(|| {
                AuthError::InvalidToken(format!(
                    "token has no `{}` claim, which names the user here ({} sets which claim does)",
                    self.user_claim,
                    crate::config::ENV_USER_CLAIM
                ))
            })?;
        let groups = match claims.others.get(&self.groups_claim) {
            None | Some(serde_json::Value::Null) => Vec::new(),
            Some(serde_json::Value::String(group)) => vec![group.clone()],
            Some(serde_json::Value::Array(items)) => items
                .iter()
                .map(|g| g.as_str().map(str::to_owned))
                .collect::<Option<Vec<String>>>()
                .ok_or_else(|| {
                    AuthError::InvalidToken(format!(
                        "token's `{}` claim lists something that is not a group name",
                        self.groups_claim
                    ))
                })?,
            Some(_) => {
                return Err(AuthError::InvalidToken(format!(
                    "token's `{}` claim is neither a group name nor a list of them",
                    self.groups_claim
                )))
            }
        };
        Ok(Principal {
            subject,
            issuer,
            groups,
            email: claims.email,
        })
    }
}

/// Turns a JWKS entry into a trusted key, or `None` if it is not for RS256/ES256 signatures.
fn trusted_key(jwk: &Jwk) -> Result<Option<TrustedKey>, AuthConfigError> {
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
        return Ok(None);
    }
    let kid = jwk.common.key_id.clone();
    let declared = jwk.common.key_algorithm;
    let invalid = |reason: String| AuthConfigError::InvalidKey {
        kid: format!("{:?}", kid.as_deref().unwrap_or("<no kid>")),
        reason,
    };
    let (algorithm, key) = match &jwk.algorithm {
        AlgorithmParameters::RSA(params)
            if matches!(declared, None | Some(KeyAlgorithm::RS256)) =>
        {
            let key = DecodingKey::from_rsa_components(&params.n, &params.e)
                .map_err(|err| invalid(format!("bad RSA modulus or exponent ({err})")))?;
            (Algorithm::RS256, key)
        }
        AlgorithmParameters::EllipticCurve(params)
            if params.curve == EllipticCurve::P256
                && matches!(declared, None | Some(KeyAlgorithm::ES256)) =>
        {
            for (name, coordinate) in [("x", &params.x), ("y", &params.y)] {
                let bytes = URL_SAFE_NO_PAD
                    .decode(coordinate)
                    .map_err(|err| invalid(format!("bad P-256 {name} coordinate ({err})")))?;
                if bytes.len() != 32 {
                    return Err(invalid(format!(
                        "P-256 {name} coordinate must be 32 bytes, found {}",
                        bytes.len()
                    )));
                }
            }
            let key = DecodingKey::from_ec_components(&params.x, &params.y)
                .map_err(|err| invalid(format!("bad P-256 point ({err})")))?;
            (Algorithm::ES256, key)
        }
        _ => return Ok(None),
    };
    Ok(Some(TrustedKey {
        kid,
        algorithm,
        key,
    }))
}

/// Extracts the token from `Bearer <token>` (scheme case-insensitive).
fn bearer_token(authorization_header: Option<&str>) -> Result<&str, AuthError> {
    let value = authorization_header.map(str::trim).unwrap_or_default();
    if value.is_empty() {
        return Err(AuthError::MissingToken);
    }
    let (scheme, token) = value.split_once(' ').ok_or(AuthError::MalformedHeader)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer")
        || token.is_empty()
        || token.contains(char::is_whitespace)
    {
        return Err(AuthError::MalformedHeader);
    }
    Ok(token)
}

fn read_header(token: &str) -> Result<RawHeader, AuthError> {
    let malformed = || AuthError::InvalidToken("token is not a well-formed JWT".into());
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed());
    };
    let bytes = URL_SAFE_NO_PAD.decode(header).map_err(|_| malformed())?;
    serde_json::from_slice(&bytes).map_err(|_| malformed())
}

fn map_decode_error(kind: &ErrorKind, alg: &str) -> AuthError {
    match kind {
        ErrorKind::InvalidSignature => AuthError::BadSignature,
        ErrorKind::ExpiredSignature => AuthError::Expired,
        ErrorKind::ImmatureSignature => AuthError::NotYetValid,
        ErrorKind::InvalidAlgorithm => AuthError::UnsupportedAlgorithm(shorten(alg)),
        ErrorKind::MissingRequiredClaim(claim) => {
            AuthError::InvalidToken(format!("token has no `{claim}` claim"))
        }
        ErrorKind::InvalidClaimFormat(claim) => {
            AuthError::InvalidToken(format!("token claim `{claim}` has the wrong type"))
        }
        ErrorKind::Json(_) => AuthError::InvalidToken("token claims are not valid".into()),
        _ => AuthError::InvalidToken("token is not a well-formed JWT".into()),
    }
}

/// Caps a token-supplied value before it is quoted in an error message.
fn shorten(value: &str) -> String {
    if value.chars().count() <= MAX_ECHO_CHARS {
        value.to_owned()
    } else {
        let mut short: String = value.chars().take(MAX_ECHO_CHARS).collect();
        short.push('…');
        short
    }
}

#[derive(Serialize)]
struct MintClaims<'a> {
    iss: &'a str,
    aud: &'a str,
    sub: &'a str,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    groups: &'a [String],
    iat: u64,
    exp: u64,
}

/// Signs an HS256 token valid for `ttl_seconds` from now (local development and tests).
pub fn mint_hs256(
    secret: &str,
    issuer: &str,
    audience: &str,
    subject: &str,
    groups: &[String],
    ttl_seconds: u64,
) -> Result<String, AuthError> {
    if secret.len() < MIN_HS256_SECRET_BYTES {
        return Err(AuthError::Mint(format!(
            "the HS256 secret must be at least {MIN_HS256_SECRET_BYTES} bytes"
        )));
    }
    if subject.trim().is_empty() {
        return Err(AuthError::Mint("the subject must not be empty".into()));
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|_| AuthError::Mint("the system clock is before 1970".into()))?
        .as_secs();
    let claims = MintClaims {
        iss: issuer,
        aud: audience,
        sub: subject,
        groups,
        iat: now,
        exp: now.saturating_add(ttl_seconds),
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .map_err(|err| AuthError::Mint(err.to_string()))
}
