//! [`Problem`]: what the user reads when something needs their attention — an error (the
//! operation stops) or a warning (it goes on), optionally tied to one attribute. Every layer
//! below the framework returns problems as values; the framework alone turns them into
//! Terraform diagnostics.

use crate::graph::GraphError;

/// Whether a problem stops the operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// A user-facing problem with the attribute it concerns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub severity: Severity,
    pub attribute: Option<&'static str>,
    pub summary: String,
    pub detail: String,
    /// A failure of one tenant only (its consent revoked, our app removed from it): reads keep
    /// the prior state with a warning and that tenant's writes wait (binding decision 2).
    pub tenant_condition: bool,
}

impl Problem {
    /// An error, on `attribute` when it names one.
    pub fn new(
        attribute: Option<&'static str>,
        summary: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            severity: Severity::Error,
            attribute,
            summary: summary.into(),
            detail: detail.into(),
            tenant_condition: false,
        }
    }

    /// An error about the whole resource.
    pub fn error(summary: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(None, summary, detail)
    }

    /// A warning about the whole resource.
    pub fn warning(summary: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::error(summary, detail).as_warning()
    }

    /// The same problem, on `attribute`.
    pub fn at(mut self, attribute: &'static str) -> Self {
        self.attribute = Some(attribute);
        self
    }

    /// The same problem, as a warning.
    pub fn as_warning(mut self) -> Self {
        self.severity = Severity::Warning;
        self
    }

    pub fn is_warning(&self) -> bool {
        self.severity == Severity::Warning
    }
}

/// Entra's answers that concern one tenant only: the app is not (or no longer) consented or
/// installed there. Failures of the credential itself (a bad secret) hit every tenant and stay
/// errors.
const PER_TENANT_AADSTS: [&str; 3] = ["AADSTS700016", "AADSTS65001", "AADSTS500011"];

/// A Graph failure: what happened, for which tenant, Graph's request-id, and what to do next
/// (all in [`GraphError::user_message`]).
impl From<&GraphError> for Problem {
    fn from(error: &GraphError) -> Self {
        let mut problem = Problem::error(
            format!("Microsoft Graph: {} failed", error.operation),
            error.user_message(),
        );
        problem.tenant_condition =
            error
                .auth_error()
                .and_then(|e| e.aadsts())
                .is_some_and(|code| {
                    PER_TENANT_AADSTS
                        .iter()
                        .any(|c| code.eq_ignore_ascii_case(c))
                });
        problem
    }
}

impl From<GraphError> for Problem {
    fn from(error: GraphError) -> Self {
        Problem::from(&error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builders_keep_text_and_set_severity_and_attribute() {
        let p = Problem::warning("s", "d").at("tenant_id");
        assert!(p.is_warning());
        assert_eq!(p.attribute, Some("tenant_id"));
        assert_eq!((p.summary.as_str(), p.detail.as_str()), ("s", "d"));
        assert!(!Problem::error("s", "d").is_warning());
    }
}
