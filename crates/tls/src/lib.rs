//! Certificates and TLS configurations for quorate.
//!
//! A cluster has its own certificate authority (CA). Every node gets a certificate signed by
//! it whose subject alternative name is `quorate-node-<id>` (plus any host names and IP
//! addresses given), so a peer is authenticated as a *node id*, whatever network path it
//! comes over. Peer connections use mutual TLS: both sides present a certificate signed by
//! the cluster CA, and each side checks the other's node id.
//!
//! `quorate certs init` creates the CA; `quorate certs issue NODE` a node certificate. The
//! same files serve the MySQL and HTTP listeners (clients verify them against the CA).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

/// Errors creating, loading or using certificates.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {message}")]
    File { path: String, message: String },
    #[error("certificate generation failed: {0}")]
    Generate(String),
    #[error("TLS configuration: {0}")]
    Config(String),
}

fn file_err(path: &Path, e: impl std::fmt::Display) -> TlsError {
    TlsError::File {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// The DNS name that identifies node `id` in its certificate.
pub fn node_name(id: u64) -> String {
    format!("quorate-node-{id}")
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Paths of a CA and the certificates issued from it, in one directory.
pub struct CertDir {
    pub dir: PathBuf,
}

impl CertDir {
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
        }
    }
    pub fn ca_cert(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }
    pub fn ca_key(&self) -> PathBuf {
        self.dir.join("ca-key.pem")
    }
    pub fn node_cert(&self, id: u64) -> PathBuf {
        self.dir.join(format!("node-{id}.pem"))
    }
    pub fn node_key(&self, id: u64) -> PathBuf {
        self.dir.join(format!("node-{id}-key.pem"))
    }

    /// Creates the cluster CA (refuses to overwrite an existing one).
    pub fn init_ca(&self, cluster_name: &str) -> Result<(), TlsError> {
        std::fs::create_dir_all(&self.dir).map_err(|e| file_err(&self.dir, e))?;
        if self.ca_cert().exists() || self.ca_key().exists() {
            return Err(file_err(
                &self.ca_cert(),
                "a CA already exists here; remove it first to make a new one",
            ));
        }
        let key = rcgen::KeyPair::generate().map_err(|e| TlsError::Generate(e.to_string()))?;
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new())
            .map_err(|e| TlsError::Generate(e.to_string()))?;
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.distinguished_name.push(
            rcgen::DnType::CommonName,
            format!("quorate cluster CA ({cluster_name})"),
        );
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        params.not_after = rcgen::date_time_ymd(2046, 1, 1);
        let cert = params
            .self_signed(&key)
            .map_err(|e| TlsError::Generate(e.to_string()))?;
        write_private(&self.ca_key(), key.serialize_pem().as_bytes())?;
        std::fs::write(self.ca_cert(), cert.pem()).map_err(|e| file_err(&self.ca_cert(), e))?;
        Ok(())
    }

    /// Issues node `id`'s certificate (valid for `quorate-node-<id>` and the extra names or
    /// IP addresses given, for clients that connect by address).
    pub fn issue_node(&self, id: u64, extra_names: &[String]) -> Result<(), TlsError> {
        let ca_key_pem =
            std::fs::read_to_string(self.ca_key()).map_err(|e| file_err(&self.ca_key(), e))?;
        let ca_key =
            rcgen::KeyPair::from_pem(&ca_key_pem).map_err(|e| file_err(&self.ca_key(), e))?;
        let ca_pem =
            std::fs::read_to_string(self.ca_cert()).map_err(|e| file_err(&self.ca_cert(), e))?;
        let ca_params = rcgen::CertificateParams::from_ca_cert_pem(&ca_pem)
            .map_err(|e| file_err(&self.ca_cert(), e))?;
        let ca = ca_params
            .self_signed(&ca_key)
            .map_err(|e| TlsError::Generate(e.to_string()))?;
        let mut names = vec![node_name(id)];
        names.extend(extra_names.iter().cloned());
        let mut params =
            rcgen::CertificateParams::new(names).map_err(|e| TlsError::Generate(e.to_string()))?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, node_name(id));
        params.extended_key_usages = vec![
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.not_after = rcgen::date_time_ymd(2036, 1, 1);
        let key = rcgen::KeyPair::generate().map_err(|e| TlsError::Generate(e.to_string()))?;
        let cert = params
            .signed_by(&key, &ca, &ca_key)
            .map_err(|e| TlsError::Generate(e.to_string()))?;
        write_private(&self.node_key(id), key.serialize_pem().as_bytes())?;
        std::fs::write(self.node_cert(id), cert.pem())
            .map_err(|e| file_err(&self.node_cert(id), e))?;
        Ok(())
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), TlsError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| file_err(path, e))?;
    f.write_all(bytes).map_err(|e| file_err(path, e))
}

/// A node's TLS identity: the cluster CA, its certificate chain and key.
#[derive(Clone)]
pub struct Identity {
    pub roots: Arc<RootCertStore>,
    pub chain: Vec<CertificateDer<'static>>,
    pub key: Arc<PrivateKeyDer<'static>>,
}

impl Identity {
    /// Loads PEM files.
    pub fn load(ca: &Path, cert: &Path, key: &Path) -> Result<Identity, TlsError> {
        let roots = load_roots(ca)?;
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
            .map_err(|e| file_err(cert, e))?
            .collect::<Result<_, _>>()
            .map_err(|e| file_err(cert, e))?;
        if chain.is_empty() {
            return Err(file_err(cert, "no certificate in the file"));
        }
        let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| file_err(key, e))?;
        Ok(Identity {
            roots: Arc::new(roots),
            chain,
            key: Arc::new(key_der),
        })
    }

    /// Server side of peer connections: requires a client certificate from the cluster CA.
    pub fn peer_server(&self) -> Result<Arc<ServerConfig>, TlsError> {
        let verifier = WebPkiClientVerifier::builder_with_provider(self.roots.clone(), provider())
            .build()
            .map_err(|e| TlsError::Config(e.to_string()))?;
        let cfg = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(self.chain.clone(), self.key.clone_key())
            .map_err(|e| TlsError::Config(e.to_string()))?;
        Ok(Arc::new(cfg))
    }

    /// Client side of peer connections: verifies the server against the cluster CA (and
    /// its node name), presents our certificate.
    pub fn peer_client(&self) -> Result<Arc<ClientConfig>, TlsError> {
        let cfg = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_root_certificates(self.roots.clone())
            .with_client_auth_cert(self.chain.clone(), self.key.clone_key())
            .map_err(|e| TlsError::Config(e.to_string()))?;
        Ok(Arc::new(cfg))
    }

    /// A plain server configuration (no client certificates): MySQL and HTTP listeners.
    pub fn client_facing_server(&self) -> Result<Arc<ServerConfig>, TlsError> {
        let cfg = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(self.chain.clone(), self.key.clone_key())
            .map_err(|e| TlsError::Config(e.to_string()))?;
        Ok(Arc::new(cfg))
    }
}

/// The CA certificates in `ca` (PEM); at least one.
fn load_roots(ca: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca).map_err(|e| file_err(ca, e))? {
        roots
            .add(c.map_err(|e| file_err(ca, e))?)
            .map_err(|e| file_err(ca, e))?;
    }
    if roots.is_empty() {
        return Err(file_err(ca, "no certificate in the CA file"));
    }
    Ok(roots)
}

/// A client configuration that trusts the CA certificates in `ca` (PEM) and presents no
/// certificate: what HTTPS clients of the API (the CLI) use.
pub fn client_trusting(ca: &Path) -> Result<Arc<ClientConfig>, TlsError> {
    let roots = load_roots(ca)?;
    let cfg = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}

/// The server name to verify when dialing node `id`.
pub fn server_name(id: u64) -> ServerName<'static> {
    ServerName::try_from(node_name(id)).expect("a valid DNS name")
}

/// True if `cert` (a peer's end-entity certificate, already verified against the CA by the
/// TLS handshake) names node `id`.
pub fn cert_is_node(cert: &CertificateDer<'_>, id: u64) -> bool {
    let Ok(ee) = webpki::EndEntityCert::try_from(cert) else {
        return false;
    };
    let name = server_name(id);
    ee.verify_is_valid_for_subject_name(&name).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A CA and node certificates made here verify each other: a node certificate names its
    /// node id and no other; a certificate from another CA is not accepted by the verifier.
    #[tokio::test]
    async fn mutual_tls_between_nodes_of_one_ca_only() {
        let a = tempfile::tempdir().unwrap();
        let dir = CertDir::new(a.path());
        dir.init_ca("test").unwrap();
        assert!(dir.init_ca("test").is_err(), "no silent overwrite of a CA");
        dir.issue_node(1, &[]).unwrap();
        dir.issue_node(2, &["127.0.0.1".into()]).unwrap();
        let n1 = Identity::load(&dir.ca_cert(), &dir.node_cert(1), &dir.node_key(1)).unwrap();
        let n2 = Identity::load(&dir.ca_cert(), &dir.node_cert(2), &dir.node_key(2)).unwrap();
        assert!(cert_is_node(&n1.chain[0], 1));
        assert!(!cert_is_node(&n1.chain[0], 2));

        // Handshake n1 (client) -> n2 (server) over an in-memory pipe.
        let (c, s) = tokio::io::duplex(64 * 1024);
        let server = tokio_rustls::TlsAcceptor::from(n2.peer_server().unwrap());
        let client = tokio_rustls::TlsConnector::from(n1.peer_client().unwrap());
        let srv = tokio::spawn(async move {
            server
                .accept(s)
                .await
                .map(|t| t.get_ref().1.peer_certificates().map(|c| c[0].clone()))
        });
        let cli = client.connect(server_name(2), c).await;
        assert!(cli.is_ok(), "{:?}", cli.err());
        let peer = srv.await.unwrap().unwrap().unwrap();
        assert!(cert_is_node(&peer, 1));

        // A node of another CA is refused.
        let b = tempfile::tempdir().unwrap();
        let other = CertDir::new(b.path());
        other.init_ca("other").unwrap();
        other.issue_node(1, &[]).unwrap();
        let rogue =
            Identity::load(&other.ca_cert(), &other.node_cert(1), &other.node_key(1)).unwrap();
        let (c, s) = tokio::io::duplex(64 * 1024);
        let server = tokio_rustls::TlsAcceptor::from(n2.peer_server().unwrap());
        let client = tokio_rustls::TlsConnector::from(rogue.peer_client().unwrap());
        let srv = tokio::spawn(async move { server.accept(s).await.is_ok() });
        let cli = client.connect(server_name(2), c).await;
        assert!(cli.is_err() || !srv.await.unwrap());
    }
}
