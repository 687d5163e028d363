//! Sealed tokens: what the service hands a client to give back later (keyset cursors)
//! without letting it read or change what is inside.

use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// XChaCha20-Poly1305 with a key derived from the signing secret: every replica that
/// shares the secret opens what another sealed, and a changed byte fails to open.
#[derive(Clone)]
pub struct Sealer {
    cipher: XChaCha20Poly1305,
}

impl Sealer {
    pub fn new(secret: &[u8]) -> Sealer {
        Sealer::for_purpose(secret, b"crm-api sealed tokens v1")
    }

    /// A sealer whose key is derived from `secret` for one purpose only: what one purpose
    /// sealed, another cannot open.
    pub fn for_purpose(secret: &[u8], purpose: &[u8]) -> Sealer {
        let key = Sha256::new().chain_update(purpose).chain_update(b"\0").chain_update(secret).finalize();
        Sealer { cipher: XChaCha20Poly1305::new(&key) }
    }

    /// URL-safe base64 of a random nonce and the ciphertext.
    pub fn seal(&self, plain: &[u8]) -> String {
        let mut nonce = [0u8; 24];
        rand::rng().fill_bytes(&mut nonce);
        let mut out = nonce.to_vec();
        // Encrypting into a Vec cannot fail for inputs of this size.
        out.extend(self.cipher.encrypt(&XNonce::from(nonce), plain).unwrap_or_default());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(out)
    }

    /// The sealed bytes, or `None` for anything this service did not seal.
    pub fn open(&self, token: &str) -> Option<Vec<u8>> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).ok()?;
        if bytes.len() < 24 {
            return None;
        }
        let (nonce, sealed) = bytes.split_at(24);
        let nonce: [u8; 24] = nonce.try_into().ok()?;
        self.cipher.decrypt(&XNonce::from(nonce), sealed).ok()
    }
}
