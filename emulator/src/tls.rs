//! The throwaway CA (kept in the state dir), the loopback server certificate and the
//! trust bundle (system roots + the CA) for `SSL_CERT_FILE`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use base64::Engine;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

pub const CA_CERT_FILE: &str = "ca.pem";
pub const CA_KEY_FILE: &str = "ca-key.pem";
pub const SERVER_CERT_FILE: &str = "server.pem";
pub const TRUST_BUNDLE_FILE: &str = "trust-bundle.pem";

/// System CA bundles, first one found wins.
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

pub struct TlsMaterial {
    pub server_config: Arc<rustls::ServerConfig>,
    pub ca_cert_path: PathBuf,
    pub trust_bundle_path: PathBuf,
}

fn ca_params(key: &KeyPair) -> CertificateParams {
    // The subject is derived from the key so that the same CA can be rebuilt as an issuer
    // on every start without parsing its certificate.
    let digest = Sha256::digest(key.public_key_raw());
    let tag: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "m365backup-emulator");
    dn.push(
        DnType::CommonName,
        format!("m365backup-emulator local CA {tag}"),
    );
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
}

pub fn write_private(path: &Path, contents: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, contents).with_context(|| format!("writing {}", tmp.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600));
    }
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Loads or creates the CA, issues a fresh server certificate for 127.0.0.1, ::1 and
/// localhost, and rewrites the trust bundle.
pub fn load_or_create(state_dir: &Path) -> Result<TlsMaterial> {
    let ca_cert_path = state_dir.join(CA_CERT_FILE);
    let ca_key_path = state_dir.join(CA_KEY_FILE);
    let now = OffsetDateTime::now_utc();

    let (ca_key, ca_pem) = if ca_cert_path.exists() && ca_key_path.exists() {
        let key_pem = std::fs::read_to_string(&ca_key_path)
            .with_context(|| format!("reading {}", ca_key_path.display()))?;
        let key = KeyPair::from_pem(&key_pem).context("parsing the CA key")?;
        let pem = std::fs::read_to_string(&ca_cert_path)
            .with_context(|| format!("reading {}", ca_cert_path.display()))?;
        (key, pem)
    } else {
        let key = KeyPair::generate().context("generating the CA key")?;
        let mut params = ca_params(&key);
        params.not_before = now - Duration::days(1);
        params.not_after = now + Duration::days(3650);
        let cert = params.self_signed(&key).context("self-signing the CA")?;
        write_private(&ca_key_path, key.serialize_pem().as_bytes())?;
        std::fs::write(&ca_cert_path, cert.pem())
            .with_context(|| format!("writing {}", ca_cert_path.display()))?;
        (key, cert.pem())
    };
    let issuer = Issuer::new(ca_params(&ca_key), &ca_key);

    let server_key = KeyPair::generate().context("generating the server key")?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "localhost");
    params.distinguished_name = dn;
    params.subject_alt_names = vec![
        SanType::IpAddress(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)),
        SanType::IpAddress(std::net::IpAddr::V6(std::net::Ipv6Addr::LOCALHOST)),
        SanType::DnsName("localhost".try_into().context("SAN")?),
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.not_before = now - Duration::days(1);
    params.not_after = now + Duration::days(365);
    let server_cert = params
        .signed_by(&server_key, &issuer)
        .context("issuing the server certificate")?;
    std::fs::write(state_dir.join(SERVER_CERT_FILE), server_cert.pem())?;

    let trust_bundle_path = state_dir.join(TRUST_BUNDLE_FILE);
    let mut bundle = system_roots_pem();
    if !bundle.is_empty() && !bundle.ends_with('\n') {
        bundle.push('\n');
    }
    bundle.push_str("# m365backup-emulator local CA\n");
    bundle.push_str(&ca_pem);
    std::fs::write(&trust_bundle_path, bundle)
        .with_context(|| format!("writing {}", trust_bundle_path.display()))?;

    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let key_der = rustls::pki_types::PrivateKeyDer::Pkcs8(
        rustls::pki_types::PrivatePkcs8KeyDer::from(server_key.serialize_der()),
    );
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS versions")?
        .with_no_client_auth()
        .with_single_cert(vec![server_cert.der().clone()], key_der)
        .context("TLS server config")?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];

    Ok(TlsMaterial {
        server_config: Arc::new(config),
        ca_cert_path,
        trust_bundle_path,
    })
}

fn system_roots_pem() -> String {
    for p in SYSTEM_BUNDLES {
        if let Ok(s) = std::fs::read_to_string(p)
            && s.contains("BEGIN CERTIFICATE")
        {
            return s;
        }
    }
    let mut out = String::new();
    for cert in rustls_native_certs::load_native_certs().certs {
        out.push_str(&pem_encode("CERTIFICATE", cert.as_ref()));
    }
    out
}

fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}
