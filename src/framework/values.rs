//! Graph values as Terraform values.

use tf_provider::value::Value;

use crate::timefmt::canonical_text;

/// `Some(text)` (a string or an open enum member) as a Terraform value, `None` as null.
pub fn text(value: Option<impl AsRef<str>>) -> Value<String> {
    value
        .map(|v| Value::Value(v.as_ref().to_string()))
        .unwrap_or(Value::Null)
}

/// A Graph timestamp in canonical form, `None` as null.
pub fn timestamp(value: Option<&str>) -> Value<String> {
    value
        .map(|v| Value::Value(canonical_text(v)))
        .unwrap_or(Value::Null)
}

/// A known string attribute, or the problem that it is not known yet.
pub fn known<'v>(
    value: &'v Value<String>,
    name: &str,
) -> Result<&'v str, crate::lifecycle::Problem> {
    value.as_ref_option().map(String::as_str).ok_or_else(|| {
        crate::lifecycle::Problem::error(
            "Incomplete state",
            format!("{name} is not known in this resource's state. This is a bug in the provider; please report it."),
        )
    })
}

/// A string attribute as `Option<&str>` (null and unknown are `None`).
pub fn opt_str(value: &Value<String>) -> Option<&str> {
    value.as_ref_option().map(String::as_str)
}
