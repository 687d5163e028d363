//! HS256 access tokens with the algorithm, issuer and audience pinned, each naming its
//! signing key (`kid`, SPEC §12). With `JWT_SECRETS` the first secret signs and every one
//! verifies, so a key is rotated without logging anyone out: add the new secret in front,
//! wait out `ACCESS_TOKEN_TTL_SECS`, drop the old one. A key's id is derived from the
//! secret (a SHA-256 prefix), the same in every replica and telling nothing of it.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::error::AppError;

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    /// Account id of the user.
    pub acc: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub iss: String,
    pub aud: String,
}

struct Key {
    kid: String,
    decoding: DecodingKey,
}

pub struct JwtKeys {
    encoding: EncodingKey,
    /// The signing key's id.
    kid: String,
    /// Every key that verifies, the signing one first.
    keys: Vec<Key>,
    validation: Validation,
    issuer: String,
    pub ttl_secs: i64,
}

impl JwtKeys {
    /// `secrets` is never empty (`Settings::resolve_jwt_secrets`); the first signs.
    pub fn new(secrets: &[Vec<u8>], issuer: &str, ttl_secs: u64) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[issuer]);
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = 5;
        let keys: Vec<Key> =
            secrets.iter().map(|s| Key { kid: key_id(s), decoding: DecodingKey::from_secret(s) }).collect();
        JwtKeys {
            encoding: EncodingKey::from_secret(secrets.first().map(Vec::as_slice).unwrap_or_default()),
            kid: keys.first().map(|k| k.kid.clone()).unwrap_or_default(),
            keys,
            validation,
            issuer: issuer.to_owned(),
            ttl_secs: ttl_secs as i64,
        }
    }

    pub fn issue(&self, user_id: &str, account_id: &str) -> Result<String, AppError> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: user_id.to_owned(),
            acc: account_id.to_owned(),
            iat: now,
            nbf: now,
            exp: now + self.ttl_secs,
            iss: self.issuer.clone(),
            aud: self.issuer.clone(),
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, &claims, &self.encoding)
            .map_err(|e| AppError::Internal(format!("cannot sign token: {e}")))
    }

    /// Verifies with the key the token names; a token without `kid` (issued before keys had
    /// ids) with any key; an unknown `kid` is refused.
    pub fn verify(&self, token: &str) -> Result<Claims, AppError> {
        let invalid = || AppError::Unauthorized("The access token is invalid or expired.".into());
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid())?;
        let mut keys = self.keys.iter().filter(|k| header.kid.as_ref().is_none_or(|kid| *kid == k.kid)).peekable();
        if keys.peek().is_none() {
            return Err(invalid());
        }
        for key in keys {
            if let Ok(data) = jsonwebtoken::decode::<Claims>(token, &key.decoding, &self.validation) {
                return Ok(data.claims);
            }
        }
        Err(invalid())
    }
}

/// A key's id: the first 8 bytes of SHA-256 over a label and the secret, in hex.
fn key_id(secret: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new().chain_update(b"crm-api jwt kid\0").chain_update(secret).finalize();
    hex::encode(&digest[..8])
}
