//! Verification tests. Every key is generated here; nothing is read from disk.

use std::sync::OnceLock;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{json, Value};

use crate::{mint_hs256, AuthConfig, AuthConfigError, AuthError, JwkSet, Verifier};

const ISSUER: &str = "https://issuer.test";
const AUDIENCE: &str = "resources-api";
const SECRET: &str = "dev-secret-0123456789abcdef0123456789";

struct TestKey {
    signing: EncodingKey,
    jwk: Jwk,
    /// SPKI PEM of the public key (what an attacker might HMAC with).
    public_pem: String,
}

fn pem(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|chunk| std::str::from_utf8(chunk).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn make_rsa_key(kid: &str) -> TestKey {
    let pair = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
    let pkcs8 = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&pair).unwrap();
    let signing = EncodingKey::from_rsa_pem(pem("PRIVATE KEY", pkcs8.as_ref()).as_bytes()).unwrap();
    let public = pair.public_key();
    let spki = AsDer::<aws_lc_rs::encoding::PublicKeyX509Der>::as_der(public).unwrap();
    let jwk = serde_json::from_value(json!({
        "kty": "RSA",
        "kid": kid,
        "use": "sig",
        "alg": "RS256",
        "n": b64(public.modulus().big_endian_without_leading_zero()),
        "e": b64(public.exponent().big_endian_without_leading_zero()),
    }))
    .unwrap();
    TestKey {
        signing,
        jwk,
        public_pem: pem("PUBLIC KEY", spki.as_ref()),
    }
}

fn make_ec_key(kid: &str) -> TestKey {
    let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let pkcs8 = pair.to_pkcs8v1().unwrap();
    let point = pair.public_key().as_ref().to_vec();
    assert_eq!(point.len(), 65, "uncompressed P-256 point");
    let jwk = serde_json::from_value(json!({
        "kty": "EC",
        "crv": "P-256",
        "kid": kid,
        "x": b64(&point[1..33]),
        "y": b64(&point[33..65]),
    }))
    .unwrap();
    TestKey {
        signing: EncodingKey::from_ec_der(pkcs8.as_ref()),
        jwk,
        public_pem: String::new(),
    }
}

fn rsa_a() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(|| make_rsa_key("rsa-a"))
}

fn rsa_b() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(|| make_rsa_key("rsa-b"))
}

fn ec_a() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(|| make_ec_key("ec-a"))
}

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

fn claims() -> Value {
    json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "alice",
        "exp": now() + 600,
        "groups": ["admins", "dev"],
        "email": "alice@example.test",
    })
}

fn with(mut claims: Value, name: &str, value: Value) -> Value {
    claims[name] = value;
    claims
}

fn sign(alg: Algorithm, kid: Option<&str>, key: &EncodingKey, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

fn sign_hs(claims: &Value) -> String {
    sign(
        Algorithm::HS256,
        None,
        &EncodingKey::from_secret(SECRET.as_bytes()),
        claims,
    )
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn hs_verifier() -> Verifier {
    Verifier::new(AuthConfig::hs256(ISSUER, AUDIENCE, SECRET)).unwrap()
}

fn jwks_config(keys: &[&TestKey], secret: Option<&str>) -> AuthConfig {
    AuthConfig {
        issuer: ISSUER.into(),
        audience: AUDIENCE.into(),
        hs256_secret: secret.map(str::to_owned),
        jwks: Some(JwkSet {
            keys: keys.iter().map(|key| key.jwk.clone()).collect(),
        }),
        leeway_seconds: 30,
        user_claim: crate::config::DEFAULT_USER_CLAIM.into(),
        groups_claim: crate::config::DEFAULT_GROUPS_CLAIM.into(),
    }
}

fn jwks_verifier(keys: &[&TestKey]) -> Verifier {
    Verifier::new(jwks_config(keys, None)).unwrap()
}

/// Replaces the payload of a signed token, keeping header and signature.
fn with_payload(token: &str, claims: &Value) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let payload = b64(serde_json::to_string(claims).unwrap().as_bytes());
    format!("{}.{payload}.{}", parts[0], parts[2])
}

#[test]
fn hs256_minted_token_is_accepted() {
    let groups = vec!["system:admins".to_string()];
    let token = mint_hs256(SECRET, ISSUER, AUDIENCE, "dev-admin", &groups, 3600).unwrap();
    let principal = hs_verifier().verify_bearer(Some(&bearer(&token))).unwrap();
    assert_eq!(principal.subject, "dev-admin");
    assert_eq!(principal.issuer, ISSUER);
    assert_eq!(principal.groups, groups);
    assert_eq!(principal.email, None);
    assert_eq!(principal.to_string(), "dev-admin");
}

#[test]
fn hs256_claims_reach_the_principal() {
    let principal = hs_verifier()
        .verify_bearer(Some(&bearer(&sign_hs(&claims()))))
        .unwrap();
    assert_eq!(principal.subject, "alice");
    assert_eq!(principal.groups, ["admins", "dev"]);
    assert_eq!(principal.email.as_deref(), Some("alice@example.test"));

    let single_group = with(claims(), "groups", json!("ops"));
    let principal = hs_verifier()
        .verify_bearer(Some(&bearer(&sign_hs(&single_group))))
        .unwrap();
    assert_eq!(principal.groups, ["ops"]);
}

#[test]
fn mint_refuses_a_short_secret() {
    let err = mint_hs256("tiny-s3cr3t", ISSUER, AUDIENCE, "x", &[], 60).unwrap_err();
    assert!(matches!(err, AuthError::Mint(_)), "{err:?}");
    assert!(!err.to_string().contains("tiny-s3cr3t"), "{err}");
}

#[test]
fn wrong_secret_is_a_bad_signature() {
    let other = EncodingKey::from_secret(b"another-secret-0123456789abcdef01234");
    let token = sign(Algorithm::HS256, None, &other, &claims());
    let err = hs_verifier()
        .verify_bearer(Some(&bearer(&token)))
        .unwrap_err();
    assert_eq!(err, AuthError::BadSignature);
}

#[test]
fn expired_token_is_rejected() {
    let token = sign_hs(&with(claims(), "exp", json!(now() - 3600)));
    let err = hs_verifier()
        .verify_bearer(Some(&bearer(&token)))
        .unwrap_err();
    assert_eq!(err, AuthError::Expired);
    assert_eq!(err.to_string(), "bearer token has expired");
}

#[test]
fn expiry_allows_a_small_leeway() {
    let token = sign_hs(&with(claims(), "exp", json!(now() - 5)));
    assert!(hs_verifier().verify_bearer(Some(&bearer(&token))).is_ok());

    let mut strict = AuthConfig::hs256(ISSUER, AUDIENCE, SECRET);
    strict.leeway_seconds = 0;
    let err = Verifier::new(strict)
        .unwrap()
        .verify_bearer(Some(&bearer(&token)))
        .unwrap_err();
    assert_eq!(err, AuthError::Expired);
}

#[test]
fn token_without_exp_is_rejected() {
    let mut no_exp = claims();
    no_exp.as_object_mut().unwrap().remove("exp");
    let err = hs_verifier()
        .verify_bearer(Some(&bearer(&sign_hs(&no_exp))))
        .unwrap_err();
    assert!(
        matches!(err, AuthError::InvalidToken(ref m) if m.contains("exp")),
        "{err:?}"
    );
}

#[test]
fn not_yet_valid_token_is_rejected() {
    let token = sign_hs(&with(claims(), "nbf", json!(now() + 3600)));
    let err = hs_verifier()
        .verify_bearer(Some(&bearer(&token)))
        .unwrap_err();
    assert_eq!(err, AuthError::NotYetValid);

    let token = sign_hs(&with(claims(), "nbf", json!(now() - 60)));
    assert!(hs_verifier().verify_bearer(Some(&bearer(&token))).is_ok());
}

#[test]
fn wrong_issuer_is_rejected() {
    let token = sign_hs(&with(claims(), "iss", json!("https://evil.test")));
    let err = hs_verifier()
        .verify_bearer(Some(&bearer(&token)))
        .unwrap_err();
    assert_eq!(err, AuthError::WrongIssuer("https://evil.test".into()));
    assert_eq!(
        err.to_string(),
        "token issuer \"https://evil.test\" is not trusted"
    );

    let mut no_iss = claims();
    no_iss.as_object_mut().unwrap().remove("iss");
    let err = hs_verifier()
        .verify_bearer(Some(&bearer(&sign_hs(&no_iss))))
        .unwrap_err();
    assert!(matches!(err, AuthError::InvalidToken(_)), "{err:?}");
}

#[test]
fn audience_must_include_ours() {
    let token = sign_hs(&with(claims(), "aud", json!("other-api")));
    let err = hs_verifier()
        .verify_bearer(Some(&bearer(&token)))
        .unwrap_err();
    assert_eq!(err, AuthError::WrongAudience(vec!["other-api".into()]));

    let token = sign_hs(&with(claims(), "aud", json!(["a", "b"])));
    let err = hs_verifier()
        .verify_bearer(Some(&bearer(&token)))
        .unwrap_err();
    assert!(matches!(err, AuthError::WrongAudience(_)), "{err:?}");

    let token = sign_hs(&with(claims(), "aud", json!(["other-api", AUDIENCE])));
    assert!(hs_verifier().verify_bearer(Some(&bearer(&token))).is_ok());

    let mut no_aud = claims();
    no_aud.as_object_mut().unwrap().remove("aud");
    let err = hs_verifier()
        .verify_bearer(Some(&bearer(&sign_hs(&no_aud))))
        .unwrap_err();
    assert!(matches!(err, AuthError::InvalidToken(_)), "{err:?}");
}

#[test]
fn missing_subject_is_rejected() {
    let token = sign_hs(&with(claims(), "sub", json!("")));
    let err = hs_verifier()
        .verify_bearer(Some(&bearer(&token)))
        .unwrap_err();
    assert!(
        matches!(err, AuthError::InvalidToken(ref m) if m.contains("sub")),
        "{err:?}"
    );
}

#[test]
fn missing_header_is_rejected() {
    let verifier = hs_verifier();
    assert_eq!(verifier.verify_bearer(None), Err(AuthError::MissingToken));
    assert_eq!(
        verifier.verify_bearer(Some("")),
        Err(AuthError::MissingToken)
    );
    assert_eq!(
        verifier.verify_bearer(Some("   ")),
        Err(AuthError::MissingToken)
    );
    assert_eq!(
        verifier.verify_bearer(Some("Bearer ")),
        Err(AuthError::MalformedHeader)
    );
}

#[test]
fn only_the_bearer_scheme_is_accepted() {
    let verifier = hs_verifier();
    let token = sign_hs(&claims());
    for header in [
        format!("Basic {token}"),
        format!("Token {token}"),
        token.clone(),
        format!("Bearer {token} extra"),
    ] {
        assert_eq!(
            verifier.verify_bearer(Some(&header)),
            Err(AuthError::MalformedHeader),
            "{header}"
        );
    }
    for header in [
        format!("bearer {token}"),
        format!("BEARER {token}"),
        format!("Bearer  {token} "),
    ] {
        assert!(verifier.verify_bearer(Some(&header)).is_ok(), "{header}");
    }
}

#[test]
fn garbage_tokens_are_rejected() {
    let verifier = hs_verifier();
    let valid = sign_hs(&claims());
    for garbage in [
        "garbage".to_string(),
        "a.b.c".to_string(),
        "a.b".to_string(),
        format!("{valid}.extra"),
        format!("!{valid}"),
        "x".repeat(20_000),
    ] {
        let err = verifier.verify_bearer(Some(&bearer(&garbage))).unwrap_err();
        assert!(
            matches!(err, AuthError::InvalidToken(_)),
            "{garbage}: {err:?}"
        );
    }
    // Well-formed header, claims that are not JSON.
    let parts: Vec<&str> = valid.split('.').collect();
    let bad_claims = format!("{}.{}.{}", parts[0], b64(b"not json"), parts[2]);
    assert!(verifier.verify_bearer(Some(&bearer(&bad_claims))).is_err());
}

#[test]
fn rs256_token_from_jwks_is_accepted() {
    let key = rsa_a();
    let token = sign(Algorithm::RS256, Some("rsa-a"), &key.signing, &claims());
    let principal = jwks_verifier(&[key])
        .verify_bearer(Some(&bearer(&token)))
        .unwrap();
    assert_eq!(principal.subject, "alice");
    assert_eq!(principal.groups, ["admins", "dev"]);

    // A JWKS with a single key also matches tokens without `kid`.
    let token = sign(Algorithm::RS256, None, &key.signing, &claims());
    assert!(jwks_verifier(&[key])
        .verify_bearer(Some(&bearer(&token)))
        .is_ok());
}

#[test]
fn rs256_token_from_another_key_is_rejected() {
    let verifier = jwks_verifier(&[rsa_a()]);
    // Signed by B, claiming to be A.
    let token = sign(Algorithm::RS256, Some("rsa-a"), &rsa_b().signing, &claims());
    assert_eq!(
        verifier.verify_bearer(Some(&bearer(&token))),
        Err(AuthError::BadSignature)
    );
    // Signed by B, without kid.
    let token = sign(Algorithm::RS256, None, &rsa_b().signing, &claims());
    assert_eq!(
        verifier.verify_bearer(Some(&bearer(&token))),
        Err(AuthError::BadSignature)
    );
    // Signed by B, naming B: B is not trusted.
    let token = sign(Algorithm::RS256, Some("rsa-b"), &rsa_b().signing, &claims());
    assert_eq!(
        verifier.verify_bearer(Some(&bearer(&token))),
        Err(AuthError::UnknownKey("rsa-b".into()))
    );
}

#[test]
fn es256_token_from_jwks_is_accepted_and_tampering_detected() {
    let key = ec_a();
    let verifier = jwks_verifier(&[key]);
    let token = sign(Algorithm::ES256, Some("ec-a"), &key.signing, &claims());
    let principal = verifier.verify_bearer(Some(&bearer(&token))).unwrap();
    assert_eq!(principal.subject, "alice");

    let tampered = with_payload(&token, &with(claims(), "sub", json!("mallory")));
    assert_ne!(tampered, token);
    assert_eq!(
        verifier.verify_bearer(Some(&bearer(&tampered))),
        Err(AuthError::BadSignature)
    );
}

#[test]
fn kid_selects_among_several_keys() {
    let verifier = jwks_verifier(&[rsa_a(), rsa_b(), ec_a()]);
    for (kid, key, alg) in [
        ("rsa-a", rsa_a(), Algorithm::RS256),
        ("rsa-b", rsa_b(), Algorithm::RS256),
        ("ec-a", ec_a(), Algorithm::ES256),
    ] {
        let token = sign(alg, Some(kid), &key.signing, &claims());
        assert!(
            verifier.verify_bearer(Some(&bearer(&token))).is_ok(),
            "{kid}"
        );
    }
    // B's token labelled as A's is checked against A's key and fails.
    let token = sign(Algorithm::RS256, Some("rsa-a"), &rsa_b().signing, &claims());
    assert_eq!(
        verifier.verify_bearer(Some(&bearer(&token))),
        Err(AuthError::BadSignature)
    );
    // Without kid there is no telling which key is meant.
    let token = sign(Algorithm::RS256, None, &rsa_b().signing, &claims());
    assert_eq!(
        verifier.verify_bearer(Some(&bearer(&token))),
        Err(AuthError::MissingKeyId)
    );
    let token = sign(Algorithm::RS256, Some("nope"), &rsa_b().signing, &claims());
    assert_eq!(
        verifier.verify_bearer(Some(&bearer(&token))),
        Err(AuthError::UnknownKey("nope".into()))
    );
    // The algorithm must match the chosen key.
    let token = sign(Algorithm::ES256, Some("rsa-a"), &ec_a().signing, &claims());
    let err = verifier.verify_bearer(Some(&bearer(&token))).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid bearer token: token algorithm \"ES256\" does not match its signing key (a RS256 key)"
    );
}

#[test]
fn algorithm_must_have_a_configured_key() {
    // ES256 with only RSA keys trusted.
    let token = sign(Algorithm::ES256, Some("ec-a"), &ec_a().signing, &claims());
    assert_eq!(
        jwks_verifier(&[rsa_a()]).verify_bearer(Some(&bearer(&token))),
        Err(AuthError::UnsupportedAlgorithm("ES256".into()))
    );
    // RS256 with only a secret configured.
    let token = sign(Algorithm::RS256, Some("rsa-a"), &rsa_a().signing, &claims());
    assert_eq!(
        hs_verifier().verify_bearer(Some(&bearer(&token))),
        Err(AuthError::UnsupportedAlgorithm("RS256".into()))
    );
    // A genuine HS256 token when no secret is configured.
    assert_eq!(
        jwks_verifier(&[rsa_a()]).verify_bearer(Some(&bearer(&sign_hs(&claims())))),
        Err(AuthError::UnsupportedAlgorithm("HS256".into()))
    );
    // Both sources configured: both kinds of token are accepted.
    let both = Verifier::new(jwks_config(&[rsa_a()], Some(SECRET))).unwrap();
    assert!(both.verify_bearer(Some(&bearer(&token))).is_ok());
    assert!(both
        .verify_bearer(Some(&bearer(&sign_hs(&claims()))))
        .is_ok());
}

#[test]
fn alg_none_is_rejected() {
    let payload = b64(serde_json::to_string(&claims()).unwrap().as_bytes());
    for alg in ["none", "None", "NONE"] {
        let header = b64(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#).as_bytes());
        for token in [
            format!("{header}.{payload}."),
            format!("{header}.{payload}.AAAA"),
        ] {
            for verifier in [hs_verifier(), jwks_verifier(&[rsa_a()])] {
                assert_eq!(
                    verifier.verify_bearer(Some(&bearer(&token))),
                    Err(AuthError::UnsupportedAlgorithm(alg.into())),
                    "{token}"
                );
            }
        }
    }
}

#[test]
fn alg_confusion_is_rejected() {
    let key = rsa_a();
    // HS256 "signed" with the RSA public key as the HMAC secret.
    let forged_key = EncodingKey::from_secret(key.public_pem.as_bytes());
    let forged = sign(Algorithm::HS256, Some("rsa-a"), &forged_key, &claims());

    // The forgery is sound: a verifier that let the token pick HMAC would accept it.
    let mut naive = Validation::new(Algorithm::HS256);
    naive.set_audience(&[AUDIENCE]);
    let decoded = jsonwebtoken::decode::<Value>(
        &forged,
        &DecodingKey::from_secret(key.public_pem.as_bytes()),
        &naive,
    );
    assert!(decoded.is_ok(), "{decoded:?}");

    assert_eq!(
        jwks_verifier(&[key]).verify_bearer(Some(&bearer(&forged))),
        Err(AuthError::UnsupportedAlgorithm("HS256".into()))
    );
    // With a secret configured too, HS256 is checked against that secret only.
    let both = Verifier::new(jwks_config(&[key], Some(SECRET))).unwrap();
    assert_eq!(
        both.verify_bearer(Some(&bearer(&forged))),
        Err(AuthError::BadSignature)
    );
}

#[test]
fn messages_never_contain_token_or_secret() {
    let verifier = hs_verifier();
    let expired = sign_hs(&with(claims(), "exp", json!(now() - 3600)));
    let foreign = sign(
        Algorithm::HS256,
        None,
        &EncodingKey::from_secret(b"another-secret-0123456789abcdef01234"),
        &claims(),
    );
    for token in [expired, foreign, "a.b.c".to_string()] {
        let err = verifier.verify_bearer(Some(&bearer(&token))).unwrap_err();
        for text in [err.to_string(), format!("{err:?}")] {
            assert!(!text.contains(&token), "{text}");
            assert!(!text.contains(SECRET), "{text}");
        }
    }
    let debug = format!("{verifier:?}");
    assert!(!debug.contains(SECRET), "{debug}");
    assert!(debug.contains("<redacted>"), "{debug}");
}

#[test]
fn unusable_configurations_are_refused() {
    let weak = Verifier::new(AuthConfig::hs256(ISSUER, AUDIENCE, "tiny-s3cr3t")).unwrap_err();
    assert!(matches!(weak, AuthConfigError::WeakSecret), "{weak}");
    assert!(!weak.to_string().contains("tiny-s3cr3t"), "{weak}");

    let mut none = AuthConfig::hs256(ISSUER, AUDIENCE, SECRET);
    none.hs256_secret = None;
    let err = Verifier::new(none).unwrap_err();
    assert!(matches!(err, AuthConfigError::NoKeySource), "{err}");

    let mut no_issuer = AuthConfig::hs256("", AUDIENCE, SECRET);
    no_issuer.issuer = " ".into();
    let err = Verifier::new(no_issuer).unwrap_err();
    assert!(matches!(err, AuthConfigError::Missing { .. }), "{err}");

    // Only keys we cannot use: a symmetric key, an encryption key, a P-384 key.
    let unusable: JwkSet = serde_json::from_value(json!({"keys": [
        {"kty": "oct", "kid": "o", "k": "c2VjcmV0"},
        {"kty": "RSA", "kid": "enc", "use": "enc", "n": "AQAB", "e": "AQAB"},
        {"kty": "EC", "kid": "p384", "crv": "P-384",
         "x": b64(&[1; 48]), "y": b64(&[2; 48])},
    ]}))
    .unwrap();
    let mut config = jwks_config(&[], None);
    config.jwks = Some(unusable);
    let err = Verifier::new(config).unwrap_err();
    assert!(matches!(err, AuthConfigError::NoUsableJwksKey), "{err}");

    let err = Verifier::new(jwks_config(&[rsa_a(), rsa_a()], None)).unwrap_err();
    assert!(
        matches!(err, AuthConfigError::DuplicateKeyId(ref kid) if kid == "rsa-a"),
        "{err}"
    );

    let mut short_point = ec_a().jwk.clone();
    if let jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(params) =
        &mut short_point.algorithm
    {
        params.x = b64(&[1; 31]);
    }
    let mut config = jwks_config(&[], None);
    config.jwks = Some(JwkSet {
        keys: vec![short_point],
    });
    let err = Verifier::new(config).unwrap_err();
    assert!(matches!(err, AuthConfigError::InvalidKey { .. }), "{err}");
}

fn verifier_with_claims(user_claim: &str, groups_claim: &str) -> Verifier {
    let mut config = AuthConfig::hs256(ISSUER, AUDIENCE, SECRET);
    config.user_claim = user_claim.into();
    config.groups_claim = groups_claim.into();
    Verifier::new(config).unwrap()
}

#[test]
fn the_user_and_groups_come_from_the_configured_claims() {
    let verifier = verifier_with_claims("preferred_username", "roles");
    let token = sign_hs(&with(
        with(claims(), "preferred_username", json!("alice.smith")),
        "roles",
        json!("platform-admins"),
    ));
    let principal = verifier.verify_token(&token).unwrap();
    assert_eq!(principal.subject, "alice.smith");
    assert_eq!(principal.groups, ["platform-admins"]);
}

#[test]
fn a_token_without_the_configured_user_claim_is_refused_naming_it() {
    let verifier = verifier_with_claims("preferred_username", "groups");
    let err = verifier.verify_token(&sign_hs(&claims())).unwrap_err();
    assert!(
        err.to_string().contains("`preferred_username`")
            && err.to_string().contains("AUTH_USER_CLAIM"),
        "{err}"
    );
    let bad_groups = sign_hs(&with(claims(), "groups", json!({"not": "a list"})));
    let err = hs_verifier().verify_token(&bad_groups).unwrap_err();
    assert!(err.to_string().contains("`groups`"), "{err}");
}

#[test]
fn the_claims_are_read_from_the_environment() {
    let env = |name: &str| match name {
        "AUTH_ISSUER" => Some(ISSUER.to_string()),
        "AUTH_AUDIENCE" => Some(AUDIENCE.to_string()),
        "AUTH_HS256_SECRET" => Some(SECRET.to_string()),
        "AUTH_USER_CLAIM" => Some("email".to_string()),
        _ => None,
    };
    let config = AuthConfig::from_lookup(env).unwrap();
    assert_eq!(config.user_claim, "email");
    assert_eq!(config.groups_claim, "groups");
}
