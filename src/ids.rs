//! Identifier checks shared by configuration, authentication and resources.

/// Whether a text is a GUID in its 36-character form (tenant and application IDs).
pub fn is_guid(text: &str) -> bool {
    uuid::Uuid::try_parse(text).is_ok() && text.len() == 36
}
