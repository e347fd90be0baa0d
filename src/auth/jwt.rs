//! Reading (never verifying) the claims of a JWT access token.
//!
//! The provider only needs to know which tenant a ready delegated access token belongs to and when
//! it expires; Graph verifies the token itself.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD_INDIFFERENT;
use serde::Deserialize;

/// The claims the provider reads from an access token.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct JwtClaims {
    /// Tenant the token was issued for.
    #[serde(default)]
    pub tid: Option<String>,
    /// Expiry, seconds since the Unix epoch.
    #[serde(default, deserialize_with = "lenient_i64")]
    pub exp: Option<i64>,
    /// `app` or `user`.
    #[serde(default)]
    pub idtyp: Option<String>,
    /// Client id of the app the token was issued to (v1 tokens).
    #[serde(default)]
    pub appid: Option<String>,
    /// Client id of the app the token was issued to (v2 tokens).
    #[serde(default)]
    pub azp: Option<String>,
    /// The signed-in user's principal name (delegated tokens).
    #[serde(default)]
    pub upn: Option<String>,
    #[serde(default)]
    pub preferred_username: Option<String>,
    /// The signed-in user's (or app's) object id.
    #[serde(default)]
    pub oid: Option<String>,
}

fn lenient_i64<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let v = Option::<serde_json::Value>::deserialize(d)?;
    Ok(match v {
        Some(serde_json::Value::Number(n)) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    })
}

/// Decodes the payload of a compact JWS (`header.payload.signature`) without verifying it.
/// The error text never contains the token.
pub fn decode_claims_unverified(token: &str) -> Result<JwtClaims, String> {
    let token = token.trim();
    let mut parts = token.split('.');
    let (Some(_header), Some(payload), Some(_sig)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err("it does not have the three dot-separated parts of a JWT".to_owned());
    };
    if parts.next().is_some() {
        return Err("it has more than three dot-separated parts (an encrypted token?)".to_owned());
    }
    let bytes = URL_SAFE_NO_PAD_INDIFFERENT
        .decode(payload)
        .map_err(|_| "its payload is not base64url".to_owned())?;
    serde_json::from_slice::<JwtClaims>(&bytes)
        .map_err(|_| "its payload is not a JSON object of claims".to_owned())
}

/// The `tid` claim of a token, lower-cased.
pub fn tenant_of(token: &str) -> Result<String, String> {
    let claims = decode_claims_unverified(token)?;
    claims
        .tid
        .filter(|t| !t.trim().is_empty())
        .map(|t| t.trim().to_ascii_lowercase())
        .ok_or_else(|| "it has no `tid` (tenant) claim".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn make(payload: &str) -> String {
        let h = URL_SAFE_NO_PAD_INDIFFERENT.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let p = URL_SAFE_NO_PAD_INDIFFERENT.encode(payload.as_bytes());
        format!("{h}.{p}.c2lnbmF0dXJl")
    }

    #[test]
    fn reads_tid_and_exp() {
        let t = make(
            r#"{"tid":"72F988BF-86F1-41AF-91AB-2D7CD011DB47","exp":1700000000,"idtyp":"user","aud":"https://graph.microsoft.com"}"#,
        );
        let c = decode_claims_unverified(&t).unwrap();
        assert_eq!(c.exp, Some(1_700_000_000));
        assert_eq!(c.idtyp.as_deref(), Some("user"));
        assert_eq!(
            tenant_of(&t).unwrap(),
            "72f988bf-86f1-41af-91ab-2d7cd011db47"
        );
    }

    #[test]
    fn accepts_padded_payloads_and_string_exp() {
        let h = URL_SAFE_NO_PAD_INDIFFERENT.encode(b"{}");
        let p = base64::engine::general_purpose::URL_SAFE.encode(br#"{"tid":"t","exp":"12"}"#);
        let t = format!("{h}.{p}.x");
        let c = decode_claims_unverified(&t).unwrap();
        assert_eq!(c.tid.as_deref(), Some("t"));
        assert_eq!(c.exp, Some(12));
    }

    #[test]
    fn rejects_non_jwts_without_echoing_them() {
        for bad in [
            "opaque-token-value",
            "a.b",
            "a.b.c.d.e",
            "a.!!!.c",
            "a.bm90IGpzb24.c",
        ] {
            let err = decode_claims_unverified(bad).unwrap_err();
            assert!(!err.contains(bad), "{err}");
        }
        let no_tid = make(r#"{"exp":1}"#);
        assert!(tenant_of(&no_tid).unwrap_err().contains("tid"));
    }

    proptest::proptest! {
        #[test]
        fn tid_round_trips(tid in "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", exp in 0i64..4_000_000_000) {
            let t = make(&format!(r#"{{"tid":"{tid}","exp":{exp},"extra":{{"nested":[1,2]}}}}"#));
            proptest::prop_assert_eq!(tenant_of(&t).unwrap(), tid);
            proptest::prop_assert_eq!(decode_claims_unverified(&t).unwrap().exp, Some(exp));
        }

        #[test]
        fn never_panics(s in ".{0,200}") {
            let _ = decode_claims_unverified(&s);
        }
    }
}
