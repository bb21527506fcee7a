//! List continue tokens: opaque to clients, signed so that a token that was
//! altered is refused instead of reading from an arbitrary key.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{de::DeserializeOwned, Serialize};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the continue token is not valid: {0}; start the list again without it")]
pub struct InvalidToken(&'static str);

/// Signs and checks tokens with a server-side secret.
#[derive(Clone)]
pub struct TokenSigner {
    key: Vec<u8>,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenSigner(<redacted>)")
    }
}

impl TokenSigner {
    pub fn new(secret: &[u8]) -> Self {
        Self {
            key: secret.to_vec(),
        }
    }

    fn mac(&self, payload: &[u8]) -> HmacSha256 {
        // HMAC takes a key of any length, so this cannot fail.
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC accepts any key length");
        mac.update(payload);
        mac
    }

    pub fn sign<T: Serialize>(&self, position: &T) -> String {
        let payload = serde_json::to_vec(position).unwrap_or_default();
        let tag = self.mac(&payload).finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    pub fn verify<T: DeserializeOwned>(&self, token: &str) -> Result<T, InvalidToken> {
        let (payload, tag) = token
            .split_once('.')
            .ok_or(InvalidToken("it is malformed"))?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| InvalidToken("it is malformed"))?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| InvalidToken("it is malformed"))?;
        self.mac(&payload)
            .verify_slice(&tag)
            .map_err(|_| InvalidToken("its signature does not match"))?;
        serde_json::from_slice(&payload).map_err(|_| InvalidToken("it does not fit this list"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Pos {
        pk: String,
        sk: String,
    }

    #[test]
    fn signed_token_round_trips() {
        let s = TokenSigner::new(b"secret");
        let pos = Pos {
            pk: "a".into(),
            sk: "b".into(),
        };
        assert_eq!(s.verify::<Pos>(&s.sign(&pos)).unwrap(), pos);
    }

    #[test]
    fn altered_or_foreign_tokens_are_refused() {
        let s = TokenSigner::new(b"secret");
        let token = s.sign(&Pos {
            pk: "a".into(),
            sk: "b".into(),
        });
        let forged = s.sign(&Pos {
            pk: "x".into(),
            sk: "b".into(),
        });
        let spliced = format!(
            "{}.{}",
            forged.split('.').next().unwrap(),
            token.split('.').nth(1).unwrap()
        );
        assert!(s
            .verify::<Pos>(&spliced)
            .unwrap_err()
            .to_string()
            .contains("signature"));
        assert!(TokenSigner::new(b"other").verify::<Pos>(&token).is_err());
        assert!(s.verify::<Pos>("garbage").is_err());
    }
}
