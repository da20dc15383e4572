//! TLS on both sides of an intercepted `CONNECT`: toward the agent, a server config that
//! presents a leaf minted by the CA for the host the agent asked for; toward the upstream, a
//! client config trusting the public web roots plus `upstream_ca_file`.

use std::path::Path;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use super::ca::CertificateAuthority;

/// A TLS setup problem.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read upstream_ca_file {path}: {message}")]
    CaFile { path: String, message: String },
    #[error(
        "upstream_ca_file {path} holds no certificate (expected PEM `BEGIN CERTIFICATE` blocks)"
    )]
    EmptyCaFile { path: String },
    #[error("TLS configuration failed: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The crypto provider used everywhere (ring), named explicitly so the process-wide default
/// does not matter.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The client config for HTTPS upstreams.
pub fn upstream_client_config(
    provider: Arc<CryptoProvider>,
    upstream_ca_file: Option<&str>,
) -> Result<Arc<ClientConfig>, TlsError> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = upstream_ca_file {
        let err = |message: String| TlsError::CaFile {
            path: path.to_string(),
            message,
        };
        let certs = CertificateDer::pem_file_iter(Path::new(path))
            .map_err(|e| err(e.to_string()))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| err(e.to_string()))?;
        if certs.is_empty() {
            return Err(TlsError::EmptyCaFile {
                path: path.to_string(),
            });
        }
        for c in certs {
            roots.add(c).map_err(|e| err(e.to_string()))?;
        }
    }
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The server config for one intercepted `CONNECT` to `host`. Clients that send SNI get a
/// leaf for the name they sent; clients that do not (IP targets) get one for `host`.
pub fn intercept_server_config(
    provider: Arc<CryptoProvider>,
    ca: Arc<CertificateAuthority>,
    host: String,
) -> Result<Arc<ServerConfig>, TlsError> {
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(MintingResolver { ca, host }));
    // Only HTTP/1.1 is spoken inside the tunnel.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Mints (or reuses) the leaf for the name the client asks for.
#[derive(Debug)]
struct MintingResolver {
    ca: Arc<CertificateAuthority>,
    host: String,
}

impl ResolvesServerCert for MintingResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let name = hello.server_name().unwrap_or(&self.host);
        match self.ca.leaf(name) {
            Ok(k) => Some(k),
            Err(e) => {
                tracing::warn!(host = name, error = %e, "cannot mint an interception certificate");
                None
            }
        }
    }
}
