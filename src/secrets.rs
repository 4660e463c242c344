//! Secrets at rest: XChaCha20-Poly1305 with a key kept outside the database.
//!
//! The key file (`[FILES] KEYFILE`, by default `<data>/luna.key`) holds 64 hex
//! digits and is created with mode 0600 at first start. A sealed value is
//! `luna2d1:` followed by base64 of nonce (24 random bytes) and ciphertext, so
//! that anything stored before encryption was enabled can be told apart.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use crate::util::{b64_decode, b64_encode};

const PREFIX: &str = "luna2d1:";
const NONCE_BYTES: usize = 24;

pub struct Sealer {
    cipher: XChaCha20Poly1305,
    /// `[SECRETS] ENCRYPT_SECRETS = no` stores new secrets in the clear.
    encrypt: bool,
}

impl Sealer {
    pub fn load(path: &Path, encrypt: bool) -> std::io::Result<Sealer> {
        let key = load_or_create_key(path)?;
        let cipher = XChaCha20Poly1305::new_from_slice(&key)
            .map_err(|_| std::io::Error::other("bad key length"))?;
        Ok(Sealer { cipher, encrypt })
    }

    /// Whether a stored value is sealed (rather than kept in the clear).
    pub fn is_sealed(stored: &str) -> bool {
        stored.starts_with(PREFIX)
    }

    pub fn seal(&self, plain: &str) -> Result<String, String> {
        // In the clear when sealing is off, unless the value would read as
        // sealed (then `open` could not give it back).
        if !self.encrypt && !plain.starts_with(PREFIX) {
            return Ok(plain.to_string());
        }
        let sealed = self.seal_bytes(plain.as_bytes())?;
        String::from_utf8(sealed).map_err(|_| "sealed value is not text".into())
    }

    pub fn open(&self, stored: &str) -> Result<String, String> {
        let plain = self.open_bytes(stored.as_bytes())?;
        String::from_utf8(plain).map_err(|_| "secret is not text".into())
    }

    /// Seals bytes; used directly for what is kept sealed whatever
    /// `ENCRYPT_SECRETS` says (request bodies waiting in the HA journal, which
    /// may carry any secret).
    pub fn seal_bytes(&self, plain: &[u8]) -> Result<Vec<u8>, String> {
        let nonce_bytes = random_bytes(NONCE_BYTES).map_err(|e| e.to_string())?;
        let nonce = nonce_of(&nonce_bytes)?;
        let mut sealed = nonce_bytes.clone();
        sealed.extend(
            self.cipher
                .encrypt(&nonce, plain)
                .map_err(|_| "encryption failed".to_string())?,
        );
        Ok(format!("{PREFIX}{}", b64_encode(&sealed)).into_bytes())
    }

    /// Opens what [`Sealer::seal_bytes`] made; anything else (stored before
    /// sealing, or with sealing off) is answered as it is.
    pub fn open_bytes(&self, stored: &[u8]) -> Result<Vec<u8>, String> {
        let Some(body) = stored.strip_prefix(PREFIX.as_bytes()) else {
            return Ok(stored.to_vec());
        };
        let text = std::str::from_utf8(body).map_err(|_| "sealed secret is not base64")?;
        let raw = b64_decode(text).ok_or("sealed secret is not base64")?;
        if raw.len() < NONCE_BYTES {
            return Err("sealed secret is truncated".into());
        }
        let (nonce, ciphertext) = raw.split_at(NONCE_BYTES);
        self.cipher
            .decrypt(&nonce_of(nonce)?, ciphertext)
            .map_err(|_| "secret cannot be decrypted with this key".to_string())
    }
}

fn nonce_of(bytes: &[u8]) -> Result<XNonce, String> {
    let array: [u8; NONCE_BYTES] = bytes
        .try_into()
        .map_err(|_| "bad nonce length".to_string())?;
    Ok(XNonce::from(array))
}

fn random_bytes(n: usize) -> std::io::Result<Vec<u8>> {
    let hex = crate::util::random_hex(n)?;
    Ok((0..n)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap_or(0))
        .collect())
}

fn load_or_create_key(path: &Path) -> std::io::Result<Vec<u8>> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let hex = text.trim();
            if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(std::io::Error::other(format!(
                    "{}: expected 64 hex digits",
                    path.display()
                )));
            }
            Ok((0..32)
                .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap_or(0))
                .collect())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let hex = crate::util::random_hex(32)?;
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)?;
            file.write_all(hex.as_bytes())?;
            file.sync_all()?;
            load_or_create_key(path)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_and_open() {
        let dir = std::env::temp_dir().join(format!("luna2d-sealer-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let s = Sealer::load(&dir.join("k"), true).unwrap();
        let sealed = s.seal("license-key-123").unwrap();
        assert!(sealed.starts_with(PREFIX) && !sealed.contains("license"));
        assert_ne!(
            sealed,
            s.seal("license-key-123").unwrap(),
            "fresh nonce each time"
        );
        assert_eq!(s.open(&sealed).unwrap(), "license-key-123");
        let other = Sealer::load(&dir.join("k2"), true).unwrap();
        assert!(other.open(&sealed).is_err());
        assert_eq!(s.open("plain").unwrap(), "plain");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn sealing_off_keeps_values_in_the_clear_unless_they_look_sealed() {
        let dir = std::env::temp_dir().join(format!("luna2d-sealer-off-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let s = Sealer::load(&dir.join("k"), false).unwrap();
        assert_eq!(s.seal("plain").unwrap(), "plain");
        // A value that starts like a sealed one is sealed, so it opens back.
        let odd = format!("{PREFIX}not really");
        let stored = s.seal(&odd).unwrap();
        assert_ne!(stored, odd);
        assert_eq!(s.open(&stored).unwrap(), odd);
        let bytes = s.seal_bytes(b"journal body").unwrap();
        assert_eq!(s.open_bytes(&bytes).unwrap(), b"journal body");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
