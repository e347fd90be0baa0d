//! Messages a person reads once: token failures blame the credential only when Entra's code
//! says so, name where the credential came from, and give each piece of advice once; destroy
//! refusals say what is true on every Terraform version.

use terraform_provider_m365backup::auth::AuthError;
use terraform_provider_m365backup::auth::TokenKind;
use terraform_provider_m365backup::auth::error::credential_is_the_cause;
use terraform_provider_m365backup::lifecycle::service_app::{
    AppStatus, DestroyDecision, Subject, decide_destroy,
};

const TENANT: &str = "11111111-2222-3333-4444-555555555555";
const APP: &str = "3c9f1d2e-8a47-4b6c-b0d5-7e2a91f4c8a3";

fn entra(credential: &'static str, error: &str, code: &str, description: &str) -> AuthError {
    AuthError::Entra {
        credential,
        tenant: TENANT.into(),
        status: 400,
        error: error.into(),
        aadsts: Some(code.into()),
        client_id: Some(APP.into()),
        description: description.into(),
        trace_id: Some("trace-1".into()),
        correlation_id: None,
    }
}

/// The whole diagnostic as the provider shows it: the message, then the advice.
fn diagnostic(e: &AuthError) -> String {
    format!("{e}. {}", e.hint())
}

#[test]
fn the_secret_is_blamed_only_when_entra_says_it_is_the_cause() {
    let wrong = entra(
        "client secret from ARM_CLIENT_SECRET",
        "invalid_client",
        "AADSTS7000215",
        "Invalid client secret provided. Ensure the secret being sent in the request is the \
         client secret value, not the client secret ID.",
    );
    let text = diagnostic(&wrong);
    assert!(
        text.contains(&format!(
            "Entra ID rejected the client secret from ARM_CLIENT_SECRET for tenant {TENANT}: \
             AADSTS7000215"
        )),
        "{text}"
    );
    assert!(text.contains("trace ID trace-1"), "{text}");
    // Entra already says "value, not ID": the advice is not repeated.
    assert_eq!(
        text.matches("not the client secret ID").count(),
        1,
        "{text}"
    );
    assert!(!wrong.hint().contains("(not its ID)"), "{}", wrong.hint());

    for (error, code) in [
        ("unauthorized_client", "AADSTS700016"),
        ("invalid_request", "AADSTS90002"),
        ("invalid_grant", "AADSTS65001"),
        ("invalid_request", "AADSTS500011"),
        ("interaction_required", "AADSTS53003"),
    ] {
        let e = entra(
            "client secret from client_secret",
            error,
            code,
            "Something else.",
        );
        let text = e.to_string();
        assert!(
            text.starts_with(&format!(
                "could not get a token for tenant {TENANT} ({code}: "
            )),
            "{text}"
        );
        assert!(!text.contains("rejected"), "{text}");
        assert!(!credential_is_the_cause("client secret", Some(code), error));
    }
    // Without an AADSTS code, the OAuth error decides.
    assert!(credential_is_the_cause(
        "client secret",
        None,
        "invalid_client"
    ));
    assert!(credential_is_the_cause(
        "delegated refresh token",
        None,
        "invalid_grant"
    ));
    assert!(!credential_is_the_cause(
        "client secret",
        None,
        "temporarily_unavailable"
    ));
}

#[test]
fn a_rejected_refresh_token_from_the_environment_says_it_outranks_the_login_cache() {
    let e = entra(
        "delegated refresh token from M365BACKUP_DELEGATED_REFRESH_TOKEN",
        "invalid_grant",
        "AADSTS700082",
        "The refresh token has expired due to inactivity.",
    );
    let text = diagnostic(&e);
    assert!(
        text.contains(
            "rejected the delegated refresh token from M365BACKUP_DELEGATED_REFRESH_TOKEN"
        ),
        "{text}"
    );
    assert!(text.contains("outranks"), "{text}");
    assert!(text.contains("token cache"), "{text}");
    assert!(
        text.contains(&format!(
            "terraform-provider-m365backup login --tenant {TENANT} --client-id {APP}"
        )),
        "{text}"
    );
    // From the provider block: the block outranks the environment and the cache.
    let e = entra(
        "delegated refresh token from delegated_refresh_token",
        "invalid_grant",
        "AADSTS70000",
        "Bad token.",
    );
    assert!(
        e.hint()
            .contains("delegated_refresh_token in the provider block")
    );
    // From the cache: sign in again.
    let e = entra(
        "delegated refresh token from the token cache",
        "invalid_grant",
        "AADSTS700082",
        "Expired.",
    );
    assert!(e.hint().starts_with("Sign in again with"), "{}", e.hint());
}

#[test]
fn labels_name_the_source_and_advice_is_given_once() {
    let e = entra(
        "client certificate",
        "invalid_client",
        "AADSTS700027",
        "Bad.",
    )
    .with_credential_label("client certificate from client_certificate_path");
    assert!(
        e.to_string()
            .contains("rejected the client certificate from client_certificate_path"),
        "{e}"
    );

    let e = AuthError::NotConfigured {
        kind: TokenKind::Delegated,
        hint: terraform_provider_m365backup::auth::delegated_sign_in_hint(TENANT, Some(APP)),
    };
    let text = diagnostic(&e);
    assert_eq!(
        text.matches("terraform-provider-m365backup login").count(),
        1,
        "{text}"
    );
    assert!(e.hint().starts_with("Sign in as a tenant admin"), "{text}");
    assert!(e.hint().ends_with('.'), "{text}");

    let e = AuthError::IdentityOfAnotherTenant {
        credential: "managed identity from ARM_USE_MSI",
        home: "aaaaaaaa-0000-0000-0000-000000000001".into(),
        tenant: TENANT.into(),
    };
    let text = diagnostic(&e);
    assert!(
        text.contains("belongs to tenant aaaaaaaa-0000-0000-0000-000000000001"),
        "{text}"
    );
    assert!(!text.contains("is enabled on this host"), "{text}");
}

#[test]
fn destroy_refusals_are_true_on_every_terraform_version() {
    let subject = Subject::new(TENANT, APP);
    let now = time::OffsetDateTime::now_utc();
    for status in [
        AppStatus::Active,
        AppStatus::PendingInactive,
        AppStatus::Other("someNewStatus".into()),
    ] {
        match decide_destroy(&status, false, Some("2030-01-01T00:00:00Z"), subject, now) {
            DestroyDecision::Refuse(p) => {
                assert!(!p.detail.contains("Nothing was changed"), "{}", p.detail);
                assert!(
                    p.detail.contains("The serviceApp was not unregistered."),
                    "{}",
                    p.detail
                );
                assert!(p.detail.contains("before 1.3"), "{}", p.detail);
            }
            d => panic!("{status:?}: {d:?}"),
        }
    }
}
