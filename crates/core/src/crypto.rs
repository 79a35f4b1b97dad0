//! Small cryptographic helpers over aws-lc-rs: randomness, SHA-256, and AES-256-GCM sealing
//! of secrets at rest under the master key.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::digest::{digest, SHA256};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use secrecy::{ExposeSecret, SecretBox};

use crate::error::DomainError;

/// `N` bytes from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // The system RNG failing is unrecoverable; zero bytes are never used silently because the
    // only way fill fails is a broken OS RNG, which aws-lc treats as fatal on its own.
    if aws_lc_rs::rand::fill(&mut bytes).is_err() {
        tracing::error!("system random number generator failed");
        std::process::abort();
    }
    bytes
}

/// A 256-bit random value as unpadded base64url, for opaque tokens and generated passwords.
pub fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

/// Whether two secrets are equal, compared in constant time.
pub fn same_secret(a: &[u8], b: &[u8]) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a, b).is_ok()
}

/// SHA-256 of `data` as unpadded base64url: how opaque secrets are stored.
pub fn sha256_b64(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(digest(&SHA256, data).as_ref())
}

/// The 256-bit key that seals signing keys at rest.
pub struct MasterKey(SecretBox<[u8; 32]>);

impl MasterKey {
    /// A fresh random master key.
    pub fn generate() -> Self {
        Self(SecretBox::new(Box::new(random_bytes::<32>())))
    }

    /// Parses the base64 form (standard or url-safe alphabet) of 32 bytes.
    pub fn from_base64(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let bytes = STANDARD
            .decode(text)
            .or_else(|_| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')))
            .map_err(|_| "the master key must be 32 bytes in base64".to_owned())?;
        let array: [u8; 32] = bytes
            .try_into()
            .map_err(|_| "the master key must be 32 bytes in base64".to_owned())?;
        Ok(Self(SecretBox::new(Box::new(array))))
    }

    /// The base64 form, for writing the key file once.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0.expose_secret())
    }

    fn key(&self) -> Result<LessSafeKey, DomainError> {
        UnboundKey::new(&AES_256_GCM, self.0.expose_secret())
            .map(LessSafeKey::new)
            .map_err(|_| DomainError::Internal("master key rejected by AES-256-GCM".into()))
    }

    /// Encrypts `plaintext`, binding it to `context`; the result is base64 of nonce ‖ ciphertext.
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> Result<String, DomainError> {
        let nonce_bytes = random_bytes::<NONCE_LEN>();
        let mut buffer = plaintext.to_vec();
        self.key()?
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::from(context.as_bytes()),
                &mut buffer,
            )
            .map_err(|_| DomainError::Internal("sealing failed".into()))?;
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&buffer);
        Ok(STANDARD.encode(out))
    }

    /// Decrypts what [`MasterKey::seal`] produced for the same `context`.
    pub fn open(&self, context: &str, sealed: &str) -> Result<Vec<u8>, DomainError> {
        let wrong = || {
            DomainError::Internal(
                "cannot decrypt with this master key (wrong WARDEN_MASTER_KEY or key file?)".into(),
            )
        };
        let bytes = STANDARD.decode(sealed).map_err(|_| wrong())?;
        if bytes.len() < NONCE_LEN {
            return Err(wrong());
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| wrong())?;
        let mut buffer = ciphertext.to_vec();
        let plain = self
            .key()?
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut buffer)
            .map_err(|_| wrong())?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_with_the_same_key_and_context() {
        let key = MasterKey::generate();
        let sealed = key.seal("kid-1", b"secret").unwrap();
        assert_eq!(key.open("kid-1", &sealed).unwrap(), b"secret");
        assert!(key.open("kid-2", &sealed).is_err());
        assert!(MasterKey::generate().open("kid-1", &sealed).is_err());
        let again = MasterKey::from_base64(&key.to_base64()).unwrap();
        assert_eq!(again.open("kid-1", &sealed).unwrap(), b"secret");
    }
}
