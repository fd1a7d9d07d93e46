//! Secrets at rest: XChaCha20-Poly1305 with a 256-bit key.
//!
//! Stored form: `v1:` + base64(nonce ‖ ciphertext). The associated data binds a
//! ciphertext to its row and column (`tenant_telephony.auth_token:{tenant}`), so a
//! value copied into another tenant's row does not decrypt. The `v1` prefix names the
//! key, leaving room for rotation.
//!
//! The key comes from `SWITCHBOARD_SECRET_KEY`, or from `secret.key` in the data
//! directory, created with mode 0600 on first start.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chacha20poly1305::XChaCha20Poly1305;
use chacha20poly1305::aead::{Aead, Generate, Key, KeyInit, Payload};

const PREFIX: &str = "v1:";
const NONCE_LEN: usize = 24;

/// Encryption failed, or a stored value is not ours.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// The stored value is not in our format or was tampered with.
    #[error("stored secret cannot be decrypted")]
    Undecryptable,
    /// The key file could not be read or written.
    #[error("secret key file {path}: {reason}")]
    KeyFile {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
}

/// Encrypts and decrypts secrets with the service's key.
#[derive(Clone)]
pub struct SecretBox {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox([redacted])")
    }
}

impl SecretBox {
    /// A box with this key.
    pub fn new(key: [u8; 32]) -> Self {
        let key = Key::<XChaCha20Poly1305>::from(key);
        Self {
            cipher: XChaCha20Poly1305::new(&key),
        }
    }

    /// The configured key, else the data directory's key file (created if missing).
    pub fn load(configured: Option<[u8; 32]>, data_dir: &Path) -> Result<Self, CryptoError> {
        match configured {
            Some(key) => Ok(Self::new(key)),
            None => Ok(Self::new(key_file(&data_dir.join("secret.key"))?)),
        }
    }

    /// Encrypts `plaintext`, bound to `context` (table, column and row).
    pub fn encrypt(&self, plaintext: &str, context: &str) -> String {
        let nonce = chacha20poly1305::XNonce::generate();
        let payload = Payload {
            msg: plaintext.as_bytes(),
            aad: context.as_bytes(),
        };
        // Encryption with a valid key and in-memory buffers cannot fail.
        let ciphertext = self.cipher.encrypt(&nonce, payload).unwrap_or_default();
        let mut blob = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&ciphertext);
        format!("{PREFIX}{}", BASE64.encode(blob))
    }

    /// Decrypts a value produced by [`SecretBox::encrypt`] with the same `context`.
    pub fn decrypt(&self, stored: &str, context: &str) -> Result<String, CryptoError> {
        let encoded = stored
            .strip_prefix(PREFIX)
            .ok_or(CryptoError::Undecryptable)?;
        let blob = BASE64
            .decode(encoded)
            .map_err(|_| CryptoError::Undecryptable)?;
        if blob.len() < NONCE_LEN {
            return Err(CryptoError::Undecryptable);
        }
        let (nonce, ciphertext) = blob.split_at(NONCE_LEN);
        let nonce =
            chacha20poly1305::XNonce::try_from(nonce).map_err(|_| CryptoError::Undecryptable)?;
        let plaintext = self
            .cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: ciphertext,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| CryptoError::Undecryptable)?;
        String::from_utf8(plaintext).map_err(|_| CryptoError::Undecryptable)
    }
}

fn key_file(path: &Path) -> Result<[u8; 32], CryptoError> {
    let fail = |reason: String| CryptoError::KeyFile {
        path: path.display().to_string(),
        reason,
    };
    if path.exists() {
        let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
        return parse_key(&text).ok_or_else(|| fail("does not hold a 32-byte key".into()));
    }
    if let Some(parent) = path.parent() {
        crate::files::create_private_dir(parent).map_err(|e| fail(e.to_string()))?;
    }
    let key: [u8; 32] = Key::<XChaCha20Poly1305>::generate().into();
    write_private(path, &BASE64.encode(key)).map_err(|e| fail(e.to_string()))?;
    tracing::info!(path = %path.display(), "created a new secret key file; back it up with the database");
    Ok(key)
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}

/// Decodes a 32-byte key given as base64 (standard or URL-safe) or hex.
pub fn parse_key(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        (0..32)
            .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok())
            .collect::<Option<Vec<u8>>>()?
    } else {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(text))
            .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text))
            .ok()?
    };
    bytes.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_binding_to_context() {
        let sb = SecretBox::new([9u8; 32]);
        let stored = sb.encrypt("auth-token-123", "tenant_telephony.auth_token:ten_a");
        assert!(stored.starts_with("v1:"));
        assert!(!stored.contains("auth-token-123"));
        assert_eq!(
            sb.decrypt(&stored, "tenant_telephony.auth_token:ten_a")
                .expect("decrypt"),
            "auth-token-123"
        );
        assert!(
            sb.decrypt(&stored, "tenant_telephony.auth_token:ten_b")
                .is_err(),
            "bound to its row"
        );
        assert!(
            SecretBox::new([8u8; 32])
                .decrypt(&stored, "tenant_telephony.auth_token:ten_a")
                .is_err()
        );
        assert_ne!(
            stored,
            sb.encrypt("auth-token-123", "tenant_telephony.auth_token:ten_a"),
            "fresh nonce"
        );
        assert!(sb.decrypt("plain", "x").is_err());
        assert!(sb.decrypt("v1:AAAA", "x").is_err());
    }

    #[cfg(unix)]
    #[test]
    fn key_file_is_created_private_and_reused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = std::env::temp_dir().join(crate::db::new_id("keytest"));
        let a = SecretBox::load(None, &dir).expect("create");
        let mode = std::fs::metadata(dir.join("secret.key"))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let b = SecretBox::load(None, &dir).expect("reuse");
        let stored = a.encrypt("x", "c");
        assert_eq!(b.decrypt(&stored, "c").expect("same key"), "x");
        let _ = std::fs::remove_dir_all(dir);
    }
}
