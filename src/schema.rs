//! Small builders for tf-provider schemas, so each resource lists its attributes in one table.

use std::collections::HashMap;

use tf_provider::schema::{
    Attribute, AttributeConstraint, AttributeType, Block, Description, Schema,
};

/// How practitioners may set an attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Required,
    Optional,
    /// Optional, with a value the provider fills in when omitted (a default or a lookup).
    OptionalComputed,
    Computed,
}

/// One attribute row: name, type, kind, sensitive, description (Markdown).
pub struct Attr {
    pub name: &'static str,
    pub ty: AttributeType,
    pub kind: Kind,
    pub sensitive: bool,
    pub description: &'static str,
}

pub fn attr(name: &'static str, ty: AttributeType, kind: Kind, description: &'static str) -> Attr {
    Attr {
        name,
        ty,
        kind,
        sensitive: false,
        description,
    }
}

pub fn secret(name: &'static str, description: &'static str) -> Attr {
    Attr {
        name,
        ty: AttributeType::String,
        kind: Kind::Optional,
        sensitive: true,
        description,
    }
}

/// Builds a schema from attribute rows.
pub fn schema(version: i64, description: &'static str, attrs: Vec<Attr>) -> Schema {
    let attributes: HashMap<String, Attribute> = attrs
        .into_iter()
        .map(|a| {
            let constraint = match a.kind {
                Kind::Required => AttributeConstraint::Required,
                Kind::Optional => AttributeConstraint::Optional,
                Kind::OptionalComputed => AttributeConstraint::OptionalComputed,
                Kind::Computed => AttributeConstraint::Computed,
            };
            (
                a.name.to_string(),
                Attribute {
                    attr_type: a.ty,
                    description: Description::markdown(a.description),
                    constraint,
                    sensitive: a.sensitive,
                    deprecated: false,
                },
            )
        })
        .collect();
    Schema {
        version,
        block: Block {
            version,
            attributes,
            blocks: HashMap::new(),
            description: Description::markdown(description),
            deprecated: false,
        },
    }
}

/// The computed serviceStatus attributes shared by `m365backup_billing_enablement` and the
/// `m365backup_service` data source (same names, same meaning).
pub fn service_status_attrs() -> Vec<Attr> {
    use AttributeType::String;
    vec![
        attr(
            "status",
            String,
            Kind::Computed,
            "The service status: `disabled`, `enabled`, `protectionChangeLocked`, `restoreLocked`, or a newer value.",
        ),
        attr(
            "backup_service_consumer",
            String,
            Kind::Computed,
            "Who controls the service: `unknown`, `firstparty`, `thirdparty`, or a newer value.",
        ),
        attr(
            "disable_reason",
            String,
            Kind::Computed,
            "Why the service is disabled: `none`, `invalidBillingProfile`, `userRequested`, `controllerServiceAppDeleted`, or a newer value.",
        ),
        attr(
            "grace_period_date_time",
            String,
            Kind::Computed,
            "End of the grace period, when one runs.",
        ),
        attr(
            "restore_allowed_till_date_time",
            String,
            Kind::Computed,
            "End of the restore-allowed period, when one runs.",
        ),
        attr(
            "last_modified_date_time",
            String,
            Kind::Computed,
            "When the service status last changed.",
        ),
    ]
}
