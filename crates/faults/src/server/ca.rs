//! The interception CA: generated once into `ca_dir` (`ca.pem`, and `ca.key` with mode 0600),
//! reused when present, and used to mint a leaf certificate per host the agent connects to
//! (cached). Agents trust `ca.pem` (SSL_CERT_FILE, REQUESTS_CA_BUNDLE, NODE_EXTRA_CA_CERTS…).

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::crypto::CryptoProvider;
use rustls::sign::CertifiedKey;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use time::{Duration, OffsetDateTime};

/// File name of the CA certificate agents trust.
pub const CA_CERT_FILE: &str = "ca.pem";
/// File name of the CA's private key (mode 0600).
pub const CA_KEY_FILE: &str = "ca.key";

/// The CA's subject; also how a reused CA is recognised as ours.
const CA_NAME: &str = "Shakedown fault proxy CA";

/// Leaf certificates kept in memory; past this the cache starts over (an agent talks to a
/// handful of hosts, so this only bounds memory against a hostile client).
const LEAF_CACHE_MAX: usize = 1024;

/// A problem with the CA files or with minting a certificate.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{present} exists in {dir} but {missing} does not: delete {present} to generate a new CA, or restore {missing}"
    )]
    Incomplete {
        dir: PathBuf,
        present: &'static str,
        missing: &'static str,
    },
    #[error(
        "{key} does not belong to {cert}: delete both files to generate a new CA (agents must then trust the new ca.pem)"
    )]
    Mismatch { cert: PathBuf, key: PathBuf },
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("the TLS library refused a generated key: {0}")]
    Tls(#[from] rustls::Error),
}

/// The CA and its leaf cache.
pub struct CertificateAuthority {
    cert_path: PathBuf,
    cert_der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
    provider: Arc<CryptoProvider>,
    leaves: Mutex<HashMap<String, Arc<CertifiedKey>>>,
}

impl std::fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateAuthority")
            .field("cert_path", &self.cert_path)
            .finish_non_exhaustive()
    }
}

/// The CA's certificate parameters. A reused CA is rebuilt from these and its stored key, so
/// they must never change between versions without a new file name.
fn ca_params() -> CertificateParams {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, CA_NAME);
    dn.push(DnType::OrganizationName, "Shakedown");
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p
}

impl CertificateAuthority {
    /// Loads the CA from `dir`, or generates it there when neither file exists.
    pub fn load_or_create(
        dir: &Path,
        provider: Arc<CryptoProvider>,
    ) -> Result<CertificateAuthority, CaError> {
        let cert_path = dir.join(CA_CERT_FILE);
        let key_path = dir.join(CA_KEY_FILE);
        let (cert_pem, key) = match (cert_path.exists(), key_path.exists()) {
            (true, true) => {
                let cert_pem = read(&cert_path)?;
                let key = KeyPair::from_pem(&read(&key_path)?)?;
                (cert_pem, key)
            }
            (false, false) => generate(dir, &cert_path, &key_path)?,
            (true, false) => {
                return Err(CaError::Incomplete {
                    dir: dir.to_path_buf(),
                    present: CA_CERT_FILE,
                    missing: CA_KEY_FILE,
                });
            }
            (false, true) => {
                return Err(CaError::Incomplete {
                    dir: dir.to_path_buf(),
                    present: CA_KEY_FILE,
                    missing: CA_CERT_FILE,
                });
            }
        };
        let cert_der = pem_to_der(&cert_pem).ok_or_else(|| CaError::Mismatch {
            cert: cert_path.clone(),
            key: key_path.clone(),
        })?;
        // The certificate embeds its public key verbatim: a cheap check that the pair matches
        // without parsing X.509.
        if !contains(cert_der.as_ref(), key.public_key_raw()) {
            return Err(CaError::Mismatch {
                cert: cert_path,
                key: key_path,
            });
        }
        Ok(CertificateAuthority {
            cert_path,
            cert_der,
            issuer: Issuer::new(ca_params(), key),
            provider,
            leaves: Mutex::new(HashMap::new()),
        })
    }

    /// Path of the CA certificate (PEM) agents must trust.
    pub fn cert_path(&self) -> &Path {
        &self.cert_path
    }

    /// The CA certificate (DER).
    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert_der
    }

    /// A certificate for `host` (a DNS name or an IP) signed by the CA, minted on first use.
    pub fn leaf(&self, host: &str) -> Result<Arc<CertifiedKey>, CaError> {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        if let Some(k) = self.lock().get(&host) {
            return Ok(Arc::clone(k));
        }
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(vec![host.clone()])?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, host.as_str());
        params.distinguished_name = dn;
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::days(1);
        params.not_after = now + Duration::days(365);
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = params.signed_by(&key, &self.issuer)?;
        let signing = self
            .provider
            .key_provider
            .load_private_key(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
                key.serialize_der(),
            )))?;
        let certified = Arc::new(CertifiedKey::new(
            vec![cert.der().clone(), self.cert_der.clone()],
            signing,
        ));
        let mut cache = self.lock();
        if cache.len() >= LEAF_CACHE_MAX {
            cache.clear();
        }
        cache.insert(host, Arc::clone(&certified));
        Ok(certified)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<CertifiedKey>>> {
        // A panic while holding the lock cannot leave the map inconsistent (insert/clear).
        self.leaves.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn generate(dir: &Path, cert_path: &Path, key_path: &Path) -> Result<(String, KeyPair), CaError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| CaError::Io {
            action: "create the CA directory",
            path: dir.to_path_buf(),
            source,
        })?;
    let key = KeyPair::generate()?;
    let mut params = ca_params();
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::days(1);
    params.not_after = now + Duration::days(3650);
    let cert = params.self_signed(&key)?;
    // The key first, created 0600 from the start so it is never readable by others.
    write_new(key_path, key.serialize_pem().as_bytes(), 0o600)?;
    write_new(cert_path, cert.pem().as_bytes(), 0o644)?;
    Ok((cert.pem(), key))
}

fn write_new(path: &Path, data: &[u8], mode: u32) -> Result<(), CaError> {
    let io = |action, source| CaError::Io {
        action,
        path: path.to_path_buf(),
        source,
    };
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| io("create", e))?;
    // The umask may have narrowed the mode; set it exactly.
    f.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(|e| io("set permissions on", e))?;
    f.write_all(data).map_err(|e| io("write", e))?;
    f.sync_all().map_err(|e| io("write", e))
}

fn read(path: &Path) -> Result<String, CaError> {
    fs::read_to_string(path).map_err(|source| CaError::Io {
        action: "read",
        path: path.to_path_buf(),
        source,
    })
}

fn pem_to_der(pem: &str) -> Option<CertificateDer<'static>> {
    use rustls_pki_types::pem::PemObject;
    CertificateDer::from_pem_slice(pem.as_bytes()).ok()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider() -> Arc<CryptoProvider> {
        Arc::new(rustls::crypto::ring::default_provider())
    }

    #[test]
    fn generated_once_then_reused_with_a_private_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let ca = CertificateAuthority::load_or_create(dir.path(), provider()).unwrap();
        let mode = fs::metadata(dir.path().join(CA_KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let first = fs::read(ca.cert_path()).unwrap();
        let again = CertificateAuthority::load_or_create(dir.path(), provider()).unwrap();
        assert_eq!(fs::read(again.cert_path()).unwrap(), first);
        assert_eq!(again.cert_der(), ca.cert_der());
        // Leaves are cached per host and chain to the CA.
        let a = again.leaf("Example.test").unwrap();
        assert!(Arc::ptr_eq(&a, &again.leaf("example.test").unwrap()));
        assert_eq!(a.cert.len(), 2);
        assert_eq!(&a.cert[1], ca.cert_der());
        assert!(again.leaf("127.0.0.1").is_ok());
    }

    #[test]
    fn half_a_ca_or_a_foreign_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        CertificateAuthority::load_or_create(dir.path(), provider()).unwrap();
        fs::remove_file(dir.path().join(CA_CERT_FILE)).unwrap();
        let e = CertificateAuthority::load_or_create(dir.path(), provider()).unwrap_err();
        assert!(matches!(e, CaError::Incomplete { .. }), "{e}");
        let other = tempfile::tempdir().unwrap();
        CertificateAuthority::load_or_create(other.path(), provider()).unwrap();
        fs::copy(
            other.path().join(CA_CERT_FILE),
            dir.path().join(CA_CERT_FILE),
        )
        .unwrap();
        let e = CertificateAuthority::load_or_create(dir.path(), provider()).unwrap_err();
        assert!(matches!(e, CaError::Mismatch { .. }), "{e}");
    }
}
