//! Schemas from attribute rows: the provider's configuration lists its rows by hand, resources
//! and data sources get theirs from [`crate::attributes!`].

use std::collections::HashMap;

use tf_provider::schema::{
    Attribute, AttributeConstraint, AttributeType, Block, Description, NestedBlock, Schema,
};

/// How practitioners may set an attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Required,
    Optional,
    /// Optional, with a value the provider fills in when omitted (a default or a lookup).
    OptionalComputed,
    Computed,
    /// An optional nested block that appears at most once (e.g. `timeouts`); its own rows are
    /// in [`Attr::nested`]. Never required, never computed.
    Block,
}

/// One attribute row: name, type, kind, flags, description (Markdown).
pub struct Attr {
    pub name: &'static str,
    pub ty: AttributeType,
    pub kind: Kind,
    pub sensitive: bool,
    /// A change from one known value to another replaces the resource.
    pub replace: bool,
    /// A computed value that never changes once known (an id, a creation time).
    pub stable: bool,
    pub description: &'static str,
    /// The rows of a [`Kind::Block`] (empty for attributes).
    pub nested: Vec<Attr>,
}

pub fn attr(name: &'static str, ty: AttributeType, kind: Kind, description: &'static str) -> Attr {
    Attr {
        name,
        ty,
        kind,
        sensitive: false,
        replace: false,
        stable: false,
        description,
        nested: Vec::new(),
    }
}

pub fn secret(name: &'static str, description: &'static str) -> Attr {
    Attr {
        name,
        ty: AttributeType::String,
        kind: Kind::Optional,
        sensitive: true,
        replace: false,
        stable: false,
        description,
        nested: Vec::new(),
    }
}

/// The schema of a resource or data source (version 0) from its table's rows.
pub fn schema_from_rows(description: &'static str, rows: Vec<Attr>) -> Schema {
    schema(0, description, rows)
}

/// Builds a schema from attribute rows.
pub fn schema(version: i64, description: &'static str, attrs: Vec<Attr>) -> Schema {
    Schema {
        version,
        block: block(version, description, attrs),
    }
}

/// A block from rows: attributes, and `Kind::Block` rows as optional nested blocks (a list of at
/// most one element, like Terraform's `timeouts`).
fn block(version: i64, description: &'static str, attrs: Vec<Attr>) -> Block {
    let (nested, attrs): (Vec<Attr>, Vec<Attr>) =
        attrs.into_iter().partition(|a| a.kind == Kind::Block);
    let blocks: HashMap<String, NestedBlock> = nested
        .into_iter()
        .map(|a| {
            let inner = block(version, a.description, a.nested);
            (a.name.to_string(), NestedBlock::Optional(inner))
        })
        .collect();
    let attributes: HashMap<String, Attribute> = attrs
        .into_iter()
        .map(|a| {
            let constraint = match a.kind {
                Kind::Required => AttributeConstraint::Required,
                Kind::Optional | Kind::Block => AttributeConstraint::Optional,
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
    Block {
        version,
        attributes,
        blocks,
        description: Description::markdown(description),
        deprecated: false,
    }
}
