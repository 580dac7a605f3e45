//! Private key files for publishers: created 0600 and never overwritten, optionally sealed
//! with a passphrase (argon2id derives the key, ChaCha20-Poly1305 seals the seed, the public key
//! is bound as associated data so the two halves cannot be mixed).

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::trust::{PublicKey, SigningKey};

/// argon2id cost: OWASP's baseline (19 MiB, 2 passes), stored per file so it can be raised.
const MEMORY_KIB: u32 = 19 * 1024;
const PASSES: u32 = 2;
/// Refuse files asking for absurd costs: a hostile key file must not exhaust memory.
const MAX_MEMORY_KIB: u32 = 4 * 1024 * 1024;
const MAX_KEY_FILE_BYTES: u64 = 64 * 1024;

/// Why a key file could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("cannot {action} key file {path}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("key file {path} has mode {mode:#o}: it must not be accessible by other users")]
    Permissions { path: PathBuf, mode: u32 },
    #[error("key file {path} is not a valid key file")]
    Format { path: PathBuf },
    #[error("key file {path} is passphrase-protected and no passphrase was given")]
    NeedsPassphrase { path: PathBuf },
    #[error("key file {path}: wrong passphrase or damaged file")]
    Unseal { path: PathBuf },
    #[error("key file {path}: private and public halves do not match")]
    Mismatch { path: PathBuf },
    #[error("cannot derive or seal a key")]
    Crypto,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "protection", rename_all = "kebab-case", deny_unknown_fields)]
enum KeyFile {
    None {
        public: PublicKey,
        seed: String,
    },
    Argon2idChacha20poly1305 {
        public: PublicKey,
        salt: String,
        nonce: String,
        memory_kib: u32,
        passes: u32,
        sealed: String,
    },
}

/// Writes `key` to a new file at `path` (mode 0600; an existing file is never replaced).
pub fn write_key_file(
    path: &Path,
    key: &SigningKey,
    passphrase: Option<&[u8]>,
) -> Result<(), KeyFileError> {
    let public = key.public();
    let seed = key.seed();
    let file = match passphrase {
        None => KeyFile::None {
            public,
            seed: hex::encode(*seed),
        },
        Some(passphrase) => {
            let mut salt = [0u8; 16];
            let mut nonce = [0u8; 12];
            getrandom::fill(&mut salt).map_err(|_| KeyFileError::Crypto)?;
            getrandom::fill(&mut nonce).map_err(|_| KeyFileError::Crypto)?;
            let cipher = cipher(passphrase, &salt, MEMORY_KIB, PASSES)?;
            let payload = Payload {
                msg: seed.as_ref(),
                aad: &public.to_bytes(),
            };
            let sealed = cipher
                .encrypt(Nonce::from_slice(&nonce), payload)
                .map_err(|_| KeyFileError::Crypto)?;
            KeyFile::Argon2idChacha20poly1305 {
                public,
                salt: hex::encode(salt),
                nonce: hex::encode(nonce),
                memory_kib: MEMORY_KIB,
                passes: PASSES,
                sealed: hex::encode(sealed),
            }
        }
    };
    let text = Zeroizing::new(serde_json::to_vec_pretty(&file).unwrap_or_default());
    let io_error = |action, source| KeyFileError::Io {
        action,
        path: path.to_path_buf(),
        source,
    };
    let mut out = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| io_error("create", e))?;
    out.write_all(&text).map_err(|e| io_error("write", e))?;
    out.sync_all().map_err(|e| io_error("sync", e))
}

/// Reads a key file, refusing one that other users can access (as ssh does).
pub fn read_key_file(path: &Path, passphrase: Option<&[u8]>) -> Result<SigningKey, KeyFileError> {
    let io_error = |action, source| KeyFileError::Io {
        action,
        path: path.to_path_buf(),
        source,
    };
    let metadata = fs::metadata(path).map_err(|e| io_error("inspect", e))?;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyFileError::Permissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    if metadata.len() > MAX_KEY_FILE_BYTES {
        return Err(KeyFileError::Format {
            path: path.to_path_buf(),
        });
    }
    let text = Zeroizing::new(fs::read(path).map_err(|e| io_error("read", e))?);
    let format_error = || KeyFileError::Format {
        path: path.to_path_buf(),
    };
    let file: KeyFile = serde_json::from_slice(&text).map_err(|_| format_error())?;

    let (public, seed) = match file {
        KeyFile::None { public, seed } => (public, decode_seed(&seed).ok_or_else(format_error)?),
        KeyFile::Argon2idChacha20poly1305 {
            public,
            salt,
            nonce,
            memory_kib,
            passes,
            sealed,
        } => {
            let passphrase = passphrase.ok_or_else(|| KeyFileError::NeedsPassphrase {
                path: path.to_path_buf(),
            })?;
            if memory_kib > MAX_MEMORY_KIB || passes > 64 {
                return Err(format_error());
            }
            let salt = hex::decode(salt).map_err(|_| format_error())?;
            let nonce: [u8; 12] = hex::decode(nonce)
                .ok()
                .and_then(|n| n.try_into().ok())
                .ok_or_else(format_error)?;
            let sealed = hex::decode(sealed).map_err(|_| format_error())?;
            let cipher = cipher(passphrase, &salt, memory_kib, passes)?;
            let payload = Payload {
                msg: &sealed,
                aad: &public.to_bytes(),
            };
            let opened =
                Zeroizing::new(cipher.decrypt(Nonce::from_slice(&nonce), payload).map_err(
                    |_| KeyFileError::Unseal {
                        path: path.to_path_buf(),
                    },
                )?);
            let seed: [u8; 32] = opened.as_slice().try_into().map_err(|_| format_error())?;
            (public, Zeroizing::new(seed))
        }
    };
    let key = SigningKey::from_seed(&seed);
    if key.public() != public {
        return Err(KeyFileError::Mismatch {
            path: path.to_path_buf(),
        });
    }
    Ok(key)
}

fn decode_seed(text: &str) -> Option<Zeroizing<[u8; 32]>> {
    let mut seed = Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(text, seed.as_mut()).ok()?;
    Some(seed)
}

fn cipher(
    passphrase: &[u8],
    salt: &[u8],
    memory_kib: u32,
    passes: u32,
) -> Result<ChaCha20Poly1305, KeyFileError> {
    let params = Params::new(memory_kib, passes, 1, Some(32)).map_err(|_| KeyFileError::Crypto)?;
    let mut derived = Zeroizing::new([0u8; 32]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(passphrase, salt, derived.as_mut())
        .map_err(|_| KeyFileError::Crypto)?;
    Ok(ChaCha20Poly1305::new(Key::from_slice(derived.as_ref())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_key_file_round_trip_and_mode() {
        let directory = tempfile::tempdir().expect("temp dir");
        let path = directory.path().join("targets.key");
        let key = SigningKey::from_seed(&[5; 32]);
        write_key_file(&path, &key, None).expect("written");
        let mode = fs::metadata(&path).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(
            read_key_file(&path, None).expect("read").public(),
            key.public()
        );
        assert!(
            write_key_file(&path, &key, None).is_err(),
            "never overwrites"
        );
    }

    #[test]
    fn sealed_key_file_needs_the_right_passphrase() {
        let directory = tempfile::tempdir().expect("temp dir");
        let path = directory.path().join("root.key");
        let key = SigningKey::from_seed(&[6; 32]);
        write_key_file(&path, &key, Some(b"correct horse")).expect("written");
        assert!(
            !fs::read_to_string(&path)
                .expect("read")
                .contains(&hex::encode([6u8; 32]))
        );
        assert!(matches!(
            read_key_file(&path, None),
            Err(KeyFileError::NeedsPassphrase { .. })
        ));
        assert!(matches!(
            read_key_file(&path, Some(b"wrong")),
            Err(KeyFileError::Unseal { .. })
        ));
        let opened = read_key_file(&path, Some(b"correct horse")).expect("opens");
        assert_eq!(opened.public(), key.public());
    }

    #[test]
    fn readable_key_files_are_refused() {
        let directory = tempfile::tempdir().expect("temp dir");
        let path = directory.path().join("k");
        write_key_file(&path, &SigningKey::from_seed(&[7; 32]), None).expect("written");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
        assert!(matches!(
            read_key_file(&path, None),
            Err(KeyFileError::Permissions { mode: 0o644, .. })
        ));
    }
}
