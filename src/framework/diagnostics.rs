//! The one place a [`Problem`] becomes a Terraform diagnostic.

use tf_provider::{AttributePath, Diagnostics};

use crate::lifecycle::{Problem, Severity};

/// Adds `problem` to Terraform's diagnostics, on its attribute when it names one.
pub fn report(diags: &mut Diagnostics, problem: &Problem) {
    let (summary, detail) = (problem.summary.clone(), problem.detail.clone());
    match (problem.attribute, problem.severity) {
        (Some(attribute), Severity::Error) => {
            diags.error(summary, detail, AttributePath::new(attribute))
        }
        (Some(attribute), Severity::Warning) => {
            diags.warning(summary, detail, AttributePath::new(attribute))
        }
        (None, Severity::Error) => diags.root_error(summary, detail),
        (None, Severity::Warning) => diags.root_warning(summary, detail),
    }
}
