//! Client certificates: a PKCS#12 bundle (base64 or a file, with its password) whose RSA key
//! signs the client assertion JWT that Entra accepts instead of a client secret (RS256, with the
//! certificate's SHA-1 thumbprint in the `x5t` header).

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use serde_json::json;
use time::OffsetDateTime;

use crate::secret::Secret;

/// How long a client assertion is valid (Entra allows up to ten minutes of skew either way).
const ASSERTION_LIFETIME_SECS: i64 = 600;

/// A parsed client certificate: the RSA private key and the leaf certificate's thumbprint.
pub struct ClientCertificate {
    key: RsaKeyPair,
    /// base64url(SHA-1(certificate DER)), the `x5t` header.
    x5t: String,
    /// The leaf certificate's DER, for diagnostics (subject) and tests.
    cert_der: Vec<u8>,
}

impl std::fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCertificate")
            .field("x5t", &self.x5t)
            .finish_non_exhaustive()
    }
}

/// Decodes `client_certificate` (base64 of a PKCS#12 file; whitespace and a PEM-style wrapping
/// are tolerated).
pub fn decode_base64_pkcs12(text: &str) -> Result<Vec<u8>, String> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD
        .decode(compact.as_bytes())
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(compact.as_bytes()))
        .or_else(|_| URL_SAFE_NO_PAD.decode(compact.trim_end_matches('=').as_bytes()))
        .map_err(|_| "it is not base64 (give the PKCS#12 (.pfx/.p12) file base64-encoded)".into())
}

impl ClientCertificate {
    /// Reads a PKCS#12 bundle. Errors never contain the password or key material.
    pub fn from_pkcs12(der: &[u8], password: &str) -> Result<Self, String> {
        let store = p12_keystore::KeyStore::from_pkcs12(
            der,
            password,
            p12_keystore::Pkcs12ImportPolicy::Relaxed,
        )
        .map_err(|e| match e {
            p12_keystore::error::Error::MacError(_) => {
                "the PKCS#12 password is wrong (client_certificate_password / \
                 ARM_CLIENT_CERTIFICATE_PASSWORD)"
                    .to_owned()
            }
            other => format!("it is not a readable PKCS#12 (.pfx/.p12) bundle: {other}"),
        })?;
        let (_, chain) = store
            .private_key_chain()
            .ok_or_else(|| "the PKCS#12 bundle holds no private key".to_owned())?;
        let cert_der = match chain.certs().first() {
            Some(c) => c.as_der().to_vec(),
            None => store
                .entries()
                .find_map(|(_, e)| match e {
                    p12_keystore::KeyStoreEntry::Certificate(c) => Some(c.as_der().to_vec()),
                    _ => None,
                })
                .ok_or_else(|| "the PKCS#12 bundle holds no certificate".to_owned())?,
        };
        let key = RsaKeyPair::from_pkcs8(chain.key().as_der()).map_err(|e| {
            format!(
                "the certificate's private key cannot sign client assertions ({e}): Entra needs \
                 an RSA key of at least 2048 bits"
            )
        })?;
        let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &cert_der);
        Ok(Self {
            key,
            x5t: URL_SAFE_NO_PAD.encode(digest.as_ref()),
            cert_der,
        })
    }

    /// The `x5t` thumbprint (base64url SHA-1 of the certificate).
    pub fn x5t(&self) -> &str {
        &self.x5t
    }

    /// The leaf certificate, DER.
    pub fn certificate_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// A client assertion for `client_id`, addressed to the token endpoint `audience`.
    pub fn assertion(
        &self,
        client_id: &str,
        audience: &str,
        now: OffsetDateTime,
    ) -> Result<Secret, String> {
        let header = json!({ "alg": "RS256", "typ": "JWT", "x5t": self.x5t });
        let iat = now.unix_timestamp();
        let claims = json!({
            "aud": audience,
            "iss": client_id,
            "sub": client_id,
            "jti": uuid::Uuid::new_v4().to_string(),
            "iat": iat,
            "nbf": iat,
            "exp": iat + ASSERTION_LIFETIME_SECS,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signature = vec![0u8; self.key.public().modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                signing_input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| "signing the client assertion failed".to_owned())?;
        Ok(Secret::new(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_inputs_are_explained() {
        assert!(decode_base64_pkcs12("not base64 !!!").is_err());
        let e = ClientCertificate::from_pkcs12(b"garbage", "pw").unwrap_err();
        assert!(e.contains("PKCS#12"), "{e}");
        assert!(!e.contains("pw\""));
    }

    fn pkcs12(password: &str) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
        let cert = rcgen::CertificateParams::new(vec!["controller".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let chain = p12_keystore::PrivateKeyChain::new(
            vec![7u8; 4],
            p12_keystore::PrivateKey::from_der(&key.serialize_der()).unwrap(),
            [p12_keystore::Certificate::from_der(cert.der()).unwrap()],
        );
        let mut store = p12_keystore::KeyStore::new();
        store.add_entry("c", p12_keystore::KeyStoreEntry::PrivateKeyChain(chain));
        (
            store.writer(password).write().unwrap(),
            cert.der().to_vec(),
            key.public_key_raw().to_vec(),
        )
    }

    #[test]
    fn signs_a_verifiable_assertion_with_the_thumbprint() {
        let (pfx, cert_der, spki) = pkcs12("pw-123");
        let e = ClientCertificate::from_pkcs12(&pfx, "wrong").unwrap_err();
        assert!(e.contains("password"), "{e}");
        let c = ClientCertificate::from_pkcs12(&pfx, "pw-123").unwrap();
        assert_eq!(c.certificate_der(), cert_der.as_slice());
        let sha1 = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &cert_der);
        assert_eq!(c.x5t(), URL_SAFE_NO_PAD.encode(sha1.as_ref()));
        let now = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let jwt = c
            .assertion(
                "app-id",
                "https://login.example.test/t/oauth2/v2.0/token",
                now,
            )
            .unwrap();
        let parts: Vec<&str> = jwt.expose().split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header["alg"], "RS256");
        assert_eq!(header["x5t"], c.x5t());
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(claims["iss"], "app-id");
        assert_eq!(claims["sub"], "app-id");
        assert_eq!(
            claims["aud"],
            "https://login.example.test/t/oauth2/v2.0/token"
        );
        assert_eq!(claims["exp"], 1_700_000_600);
        // The raw public key of an RSA key pair is the PKCS#1 RSAPublicKey ring verifies with.
        ring::signature::UnparsedPublicKey::new(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            &spki,
        )
        .verify(
            format!("{}.{}", parts[0], parts[1]).as_bytes(),
            &URL_SAFE_NO_PAD.decode(parts[2]).unwrap(),
        )
        .expect("signature verifies");
    }

    #[test]
    fn base64_tolerates_line_breaks() {
        let data = STANDARD.encode([1u8, 2, 3, 4, 5, 6, 7, 8, 9]);
        let wrapped = format!("{}\n{}\n", &data[..4], &data[4..]);
        assert_eq!(
            decode_base64_pkcs12(&wrapped).unwrap(),
            vec![1, 2, 3, 4, 5, 6, 7, 8, 9]
        );
    }
}
