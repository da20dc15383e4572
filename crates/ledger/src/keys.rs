//! The keys directory: Ed25519 signing keys by key id, which one is current, and the public
//! half of every key ever used so that old entries stay verifiable after rotation.
//!
//! Layout: `<id>.secret` (hex seed, mode 0600, only for the current key), `<id>.pub` (hex public
//! key, kept forever), `current` (the id that signs next). The directory is created 0700.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use ed25519_dalek::{SigningKey, VerifyingKey};
use rand::TryRngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};

use crate::error::LedgerError;
use crate::hex;

/// The file naming the current key id.
pub const CURRENT_FILE: &str = "current";

/// The keys of one ledger.
#[derive(Debug, Clone)]
pub struct KeyStore {
    dir: PathBuf,
}

/// A loaded signing key and its id.
#[derive(Clone)]
pub struct Key {
    /// The key id (see [`key_id`]).
    pub id: String,
    /// The secret key.
    pub signing: SigningKey,
}

/// The id of a public key: the first 16 hex digits of its SHA-256.
pub fn key_id(public: &VerifyingKey) -> String {
    hex::encode(&Sha256::digest(public.as_bytes())[..8])
}

impl KeyStore {
    /// The keys kept in `dir` (nothing is touched yet).
    pub fn new(dir: impl Into<PathBuf>) -> KeyStore {
        KeyStore { dir: dir.into() }
    }

    /// The keys directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn secret_path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.secret"))
    }

    fn public_path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.pub"))
    }

    /// The current key id, or `None` when no key was ever created here.
    pub fn current_id(&self) -> Result<Option<String>, LedgerError> {
        let path = self.dir.join(CURRENT_FILE);
        match fs::read_to_string(&path) {
            Ok(text) => {
                let id = text.trim().to_string();
                if hex::decode::<8>(&id).is_none() {
                    return Err(LedgerError::KeyInvalid {
                        path,
                        reason: "it does not hold a key id (16 lowercase hex digits)".into(),
                    });
                }
                Ok(Some(id))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(LedgerError::io("read the current key id", path, e)),
        }
    }

    /// Loads the current signing key, checking its permissions; `None` when there is none yet.
    pub fn load_current(&self) -> Result<Option<Key>, LedgerError> {
        self.load_current_reusing(None)
    }

    /// Like [`KeyStore::load_current`], but when the file still holds the seed of `cached` the
    /// already-derived key is reused (deriving costs as much as signing). The file is read and
    /// its permissions checked every time all the same: that is what makes appends fail closed.
    pub(crate) fn load_current_reusing(
        &self,
        cached: Option<&Key>,
    ) -> Result<Option<Key>, LedgerError> {
        let Some(id) = self.current_id()? else {
            return Ok(None);
        };
        let path = self.secret_path(&id);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(LedgerError::KeyMissing { path });
            }
            Err(e) => return Err(LedgerError::io("read the signing key", path, e)),
        };
        check_private(&path)?;
        let seed = hex::decode::<32>(text.trim()).ok_or_else(|| LedgerError::KeyInvalid {
            path: path.clone(),
            reason: "it does not hold a 32-byte Ed25519 seed in lowercase hex".into(),
        })?;
        if let Some(key) = cached
            && key.id == id
            && key.signing.to_bytes() == seed
        {
            return Ok(Some(key.clone()));
        }
        let signing = SigningKey::from_bytes(&seed);
        if key_id(&signing.verifying_key()) != id {
            return Err(LedgerError::KeyInvalid {
                path,
                reason: format!("it holds a key whose id is not {id}"),
            });
        }
        Ok(Some(Key { id, signing }))
    }

    /// Generates a key from the OS random source and writes its secret (0600) and public
    /// halves. It does not become current: see [`KeyStore::set_current`].
    pub fn create(&self) -> Result<Key, LedgerError> {
        self.ensure_dir()?;
        let mut seed = [0u8; 32];
        OsRng.try_fill_bytes(&mut seed).map_err(|e| {
            LedgerError::io(
                "draw randomness for a key in",
                &self.dir,
                io::Error::other(e),
            )
        })?;
        let signing = SigningKey::from_bytes(&seed);
        let public = signing.verifying_key();
        let id = key_id(&public);
        write_new(&self.secret_path(&id), &hex::encode(&seed), 0o600)?;
        write_new(
            &self.public_path(&id),
            &hex::encode(public.as_bytes()),
            0o644,
        )?;
        Ok(Key { id, signing })
    }

    /// Makes `id` the key that signs from now on (atomic replace of `current`).
    pub fn set_current(&self, id: &str) -> Result<(), LedgerError> {
        let path = self.dir.join(CURRENT_FILE);
        let tmp = self.dir.join(format!("{CURRENT_FILE}.tmp"));
        let _ = fs::remove_file(&tmp);
        write_new(&tmp, id, 0o644)?;
        fs::rename(&tmp, &path).map_err(|e| LedgerError::io("replace", &path, e))?;
        sync_dir(&self.dir)
    }

    /// Deletes a retired key's secret; its public half stays for verification.
    pub fn retire(&self, id: &str) -> Result<(), LedgerError> {
        let path = self.secret_path(id);
        fs::remove_file(&path).map_err(|e| LedgerError::io("remove the retired key", path, e))
    }

    /// The public key `id`, if this directory has it.
    pub fn public_key(&self, id: &str) -> Result<Option<VerifyingKey>, LedgerError> {
        let path = self.public_path(id);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(LedgerError::io("read the public key", path, e)),
        };
        let invalid = |reason: &str| LedgerError::KeyInvalid {
            path: path.clone(),
            reason: reason.into(),
        };
        let bytes = hex::decode::<32>(text.trim())
            .ok_or_else(|| invalid("it does not hold a 32-byte public key in lowercase hex"))?;
        let key = VerifyingKey::from_bytes(&bytes)
            .map_err(|_| invalid("it does not hold a valid Ed25519 public key"))?;
        if key_id(&key) != id {
            return Err(invalid("its key does not match its file name"));
        }
        Ok(Some(key))
    }

    fn ensure_dir(&self) -> Result<(), LedgerError> {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(&self.dir)
            .map_err(|e| LedgerError::io("create the keys directory", &self.dir, e))
    }
}

/// Writes a file that must not exist yet, with `mode`, and syncs it.
fn write_new(path: &Path, text: &str, mode: u32) -> Result<(), LedgerError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut file: File = options
        .open(path)
        .map_err(|e| LedgerError::io("create", path, e))?;
    file.write_all(format!("{text}\n").as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| LedgerError::io("write", path, e))
}

/// Refuses a secret that anyone but its owner may read or write.
fn check_private(path: &Path) -> Result<(), LedgerError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = fs::metadata(path).map_err(|e| LedgerError::io("inspect", path, e))?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(LedgerError::KeyPermissions {
                path: path.to_path_buf(),
                mode,
            });
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Makes a rename in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), LedgerError> {
    #[cfg(unix)]
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| LedgerError::io("sync", dir, e))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_load_and_refuse_bad_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let keys = KeyStore::new(dir.path().join("keys"));
        assert!(keys.load_current().unwrap().is_none());
        let key = keys.create().unwrap();
        keys.set_current(&key.id).unwrap();
        let loaded = keys.load_current().unwrap().unwrap();
        assert_eq!(loaded.id, key.id);
        assert_eq!(
            keys.public_key(&key.id).unwrap(),
            Some(key.signing.verifying_key())
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let secret = keys.secret_path(&key.id);
            let mode = fs::metadata(&secret).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
            let dir_mode = fs::metadata(keys.dir()).unwrap().permissions().mode() & 0o777;
            assert_eq!(dir_mode, 0o700);
            fs::set_permissions(&secret, fs::Permissions::from_mode(0o640)).unwrap();
            let err = keys.load_current().err().unwrap();
            assert!(matches!(
                err,
                LedgerError::KeyPermissions { mode: 0o640, .. }
            ));
            assert!(err.to_string().contains("chmod 600"), "{err}");
        }
        keys.retire(&key.id).unwrap();
        assert!(matches!(
            keys.load_current().err().unwrap(),
            LedgerError::KeyMissing { .. }
        ));
    }

    #[test]
    fn a_key_file_holding_another_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let keys = KeyStore::new(dir.path());
        let a = keys.create().unwrap();
        let b = keys.create().unwrap();
        fs::copy(keys.public_path(&b.id), keys.public_path(&a.id)).unwrap();
        assert!(matches!(
            keys.public_key(&a.id).err().unwrap(),
            LedgerError::KeyInvalid { .. }
        ));
    }
}
