//! A string that must never be printed: client secrets, refresh tokens, access tokens.

use std::fmt;

/// A sensitive string. `Debug` and `Display` print `***`; the value is only reachable through
/// [`Secret::expose`], which makes every use greppable.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a sensitive value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The sensitive value. Never log or format it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when the value is empty (an unset environment variable, for example).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret(value.to_owned())
    }
}

/// Replaces every occurrence of any of `secrets` (ignoring very short ones, which would only
/// mangle the text) in `text` by `***`. Used on text that comes back from Entra before it
/// reaches a diagnostic, as a second line of defence.
pub(crate) fn redact(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_owned();
    for s in secrets {
        if s.len() >= 6 && out.contains(s) {
            out = out.replace(s, "***");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_value() {
        let s = Secret::new("super-secret-value");
        assert_eq!(format!("{s:?}"), "***");
        assert_eq!(format!("{s}"), "***");
        assert_eq!(format!("{:#?}", Some(s.clone())), "Some(\n    ***,\n)");
        assert_eq!(s.expose(), "super-secret-value");
    }

    #[derive(Debug)]
    #[allow(dead_code)]
    struct Holder {
        name: &'static str,
        secret: Secret,
    }

    #[test]
    fn nested_debug_hides_the_value() {
        let h = Holder {
            name: "x",
            secret: "abcdefgh".into(),
        };
        let printed = format!("{h:?} {h:#?}");
        assert!(!printed.contains("abcdefgh"), "{printed}");
    }

    #[test]
    fn redact_replaces_secrets() {
        assert_eq!(
            redact("bad secret 'abcdef123' given", &["abcdef123", "xy"]),
            "bad secret '***' given"
        );
        assert_eq!(redact("xy stays", &["xy"]), "xy stays");
    }

    proptest::proptest! {
        #[test]
        fn debug_never_contains_the_value(v in "[a-zA-Z0-9._~-]{1,64}") {
            let s = Secret::new(v.clone());
            let d = format!("{s:?}|{s}|{:?}", vec![s.clone()]);
            proptest::prop_assert!(!d.contains(&v));
        }
    }
}
