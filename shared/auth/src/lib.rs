//! Bearer-token authentication for the resource API.
//!
//! Every request carries `Authorization: Bearer <JWT>`. A [`Verifier`], built
//! once per Lambda instance from an [`AuthConfig`] (usually
//! [`AuthConfig::from_env`]), checks it:
//!
//! - HS256 with a shared secret (`AUTH_HS256_SECRET`, local development; the
//!   dev token is made with [`mint_hs256`]);
//! - RS256 / ES256 against public keys from a JWKS (`AUTH_JWKS` or
//!   `AUTH_JWKS_FILE`, deployments), chosen by the token's `kid`;
//! - `exp` (required), `nbf` (if present), `iss` and `aud` (string or array).
//!
//! The algorithm must fit the key: HS256 is refused unless a secret is
//! configured, `none` is always refused. Success yields a [`Principal`];
//! every [`AuthError`] means HTTP 401. Neither the token nor the secret ever
//! appears in a message or in `Debug` output.

mod config;
mod verify;

pub use config::{
    AuthConfig, AuthConfigError, DEFAULT_LEEWAY_SECONDS, ENV_AUDIENCE, ENV_HS256_SECRET,
    ENV_ISSUER, ENV_JWKS, ENV_JWKS_FILE, ENV_LEEWAY_SECONDS, MAX_LEEWAY_SECONDS,
    MIN_HS256_SECRET_BYTES,
};
pub use jsonwebtoken::jwk::JwkSet;
pub use verify::{mint_hs256, AuthError, Principal, Verifier};

#[cfg(test)]
mod tests;
