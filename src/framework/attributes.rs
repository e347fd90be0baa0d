//! Each attribute written once. [`crate::attributes!`] turns one table into the state struct
//! (`Value<T>` fields, serde names = attribute names), the schema rows, the defaults, and the
//! computed/replace behaviour the generic adapters apply.

use std::any::Any;
use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use serde::de::DeserializeOwned;
use tf_provider::schema::AttributeType;
use tf_provider::value::Value;

use super::schema::{Attr, Kind};

/// A Rust type Terraform can hold in an attribute.
pub trait TfType {
    fn attr_type() -> AttributeType;
    /// The rows of a nested block type (see [`crate::block_type!`]); empty for plain types.
    fn block_rows() -> Vec<Attr> {
        Vec::new()
    }
}

/// Makes an [`Attributes`] table usable as an optional nested block (`Kind::Block`):
/// `block_type!(Timeouts);`, then in the outer table
/// `#[serde(default, with = "crate::framework::attributes::optional_block")] timeouts: Timeouts => Block, "…";`.
#[macro_export]
macro_rules! block_type {
    ($name:ty) => {
        impl $crate::framework::attributes::TfType for $name {
            fn attr_type() -> tf_provider::schema::AttributeType {
                let fields = <$name as $crate::framework::attributes::Attributes>::rows()
                    .into_iter()
                    .map(|row| (row.name.to_string(), row.ty))
                    .collect();
                tf_provider::schema::AttributeType::Object(fields)
            }
            fn block_rows() -> Vec<$crate::framework::schema::Attr> {
                <$name as $crate::framework::attributes::Attributes>::rows()
            }
        }
    };
}

/// Serde for an optional nested block: Terraform holds it as a list of zero or one element.
/// Null and an empty list are "absent"; an unknown list stays unknown.
pub mod optional_block {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use tf_provider::value::Value;

    pub fn serialize<T: Serialize, S: Serializer>(
        value: &Value<T>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Value::Value(v) => vec![v].serialize(serializer),
            Value::Null => Vec::<T>::new().serialize(serializer),
            Value::Unknown => Value::<Vec<T>>::Unknown.serialize(serializer),
        }
    }

    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Value<T>, D::Error> {
        let list: Value<Vec<Value<T>>> = Deserialize::deserialize(deserializer)?;
        Ok(match list {
            Value::Unknown => Value::Unknown,
            Value::Null => Value::Null,
            Value::Value(items) => items.into_iter().next().unwrap_or(Value::Null),
        })
    }
}

impl TfType for String {
    fn attr_type() -> AttributeType {
        AttributeType::String
    }
}

impl TfType for bool {
    fn attr_type() -> AttributeType {
        AttributeType::Bool
    }
}

impl TfType for i64 {
    fn attr_type() -> AttributeType {
        AttributeType::Number
    }
}

/// `map(string)`.
impl TfType for BTreeMap<String, Value<String>> {
    fn attr_type() -> AttributeType {
        AttributeType::Map(Box::new(AttributeType::String))
    }
}

/// A `set(string)` attribute: Terraform sends sets as arrays, without duplicates.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(transparent)]
pub struct StringSet(pub Vec<Value<String>>);

impl StringSet {
    /// The known members (unknown members cannot be planned on and are left out).
    pub fn texts(&self) -> Vec<String> {
        self.0
            .iter()
            .filter_map(|v| v.as_ref_option().cloned())
            .collect()
    }

    pub fn from_texts(texts: Vec<String>) -> Self {
        StringSet(texts.into_iter().map(Value::Value).collect())
    }
}

impl TfType for StringSet {
    fn attr_type() -> AttributeType {
        AttributeType::Set(Box::new(AttributeType::String))
    }
}

/// A list of objects whose fields are another attribute table.
impl<T: Attributes> TfType for Vec<T> {
    fn attr_type() -> AttributeType {
        let fields: HashMap<String, AttributeType> = T::rows()
            .into_iter()
            .map(|row| (row.name.to_string(), row.ty))
            .collect();
        AttributeType::List(Box::new(AttributeType::Object(fields)))
    }
}

/// What [`crate::attributes!`] generates for a table.
pub trait Attributes:
    Serialize + DeserializeOwned + Clone + Default + PartialEq + Send + Sync + 'static
{
    /// The schema rows, in table order.
    fn rows() -> Vec<Attr>;
    /// Sets Optional+Computed attributes that are null to their defaults (a read or import).
    fn fill_defaults(&mut self);
    /// Sets the attributes the configuration leaves null to their defaults (a plan): removing
    /// an argument returns it to its default rather than keeping the prior value.
    fn defaults_from_config(&mut self, config: &Self);
    /// Marks every computed-only attribute unknown (a new object).
    fn unknown_on_create(&mut self);
    /// Marks the computed-only attributes that a Graph write may change unknown (all but the
    /// `stable` ones).
    fn unknown_on_change(&mut self);
    /// Turns values still unknown after apply into null (Terraform refuses unknowns in a
    /// result); a resource sets every value it learnt before this runs.
    fn unknown_to_null(&mut self);
    /// Copies every computed-only attribute from the prior state.
    fn copy_computed_from(&mut self, prior: &Self);
    /// Attributes flagged `replace` whose value changed from one known value to another.
    fn replaced_since(&self, prior: &Self) -> Vec<&'static str>;
    /// A field by attribute name, for the adapters' generic steps (tenant defaulting).
    fn field_mut(&mut self, name: &str) -> Option<&mut dyn Any>;
}

/// Whether a row's kind is filled by the provider only.
pub fn computed_only(kind: Kind) -> bool {
    kind == Kind::Computed
}

/// Whether a `replace` attribute changed between two known values (an unknown or null side is
/// not a replacement: a value learnt later, like a deferred parent's id, is an in-place update).
pub fn known_change<T: PartialEq>(new: &Value<T>, old: &Value<T>) -> bool {
    matches!((new, old), (Value::Value(a), Value::Value(b)) if a != b)
}

/// The `tenant_id` attribute of a state, when its table has one.
pub fn tenant_field<S: Attributes>(state: &mut S) -> Option<&mut Value<String>> {
    state
        .field_mut("tenant_id")
        .and_then(|field| field.downcast_mut::<Value<String>>())
}

/// Defines a state struct and its [`Attributes`] from one table:
///
/// ```ignore
/// attributes! {
///     /// Terraform state of one widget.
///     pub struct WidgetState {
///         tenant_id: String => OptionalComputed, "Tenant ID.", replace = true;
///         enabled: bool => OptionalComputed, "Whether it is on (default `true`).", default = true;
///         id: String => Computed, "`<tenantId>/<widgetId>`.", stable = true;
///     }
/// }
/// ```
/// Kinds: `Required`, `Optional`, `OptionalComputed`, `Computed`, `Block` (an optional nested
/// block, see [`crate::block_type!`]). Flags, in this order when
/// present: `default = <expr>`, `replace = <bool>`, `stable = <bool>`.
#[macro_export]
macro_rules! attributes {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $(
                $(#[$fmeta:meta])*
                $field:ident : $ty:ty => $kind:ident, $desc:expr
                $(, default = $default:expr)?
                $(, replace = $replace:literal)?
                $(, stable = $stable:literal)?
                ;
            )*
        }
    ) => {
        $(#[$meta])*
        #[derive(serde::Serialize, serde::Deserialize, Clone, Debug, Default, PartialEq)]
        $vis struct $name {
            $($(#[$fmeta])* pub $field: tf_provider::value::Value<$ty>,)*
        }

        impl $crate::framework::attributes::Attributes for $name {
            fn rows() -> Vec<$crate::framework::schema::Attr> {
                vec![$(
                    $crate::framework::schema::Attr {
                        name: stringify!($field),
                        ty: <$ty as $crate::framework::attributes::TfType>::attr_type(),
                        kind: $crate::framework::schema::Kind::$kind,
                        sensitive: false,
                        replace: false $(|| $replace)?,
                        stable: false $(|| $stable)?,
                        description: $desc,
                        nested: <$ty as $crate::framework::attributes::TfType>::block_rows(),
                    },
                )*]
            }

            fn fill_defaults(&mut self) {
                $($(
                    if self.$field.is_null() {
                        self.$field = tf_provider::value::Value::Value($default.into());
                    }
                )?)*
            }

            fn defaults_from_config(&mut self, config: &Self) {
                let _ = config; // tables without defaults read nothing from it
                $($(
                    if config.$field.is_null() {
                        self.$field = tf_provider::value::Value::Value($default.into());
                    }
                )?)*
            }

            fn unknown_on_create(&mut self) {
                $(
                    let kind = $crate::framework::schema::Kind::$kind;
                    // Computed values, and optional ones left to the provider, are learnt at apply.
                    if $crate::framework::attributes::computed_only(kind)
                        || (kind == $crate::framework::schema::Kind::OptionalComputed
                            && self.$field.is_null())
                    {
                        self.$field = tf_provider::value::Value::Unknown;
                    }
                )*
            }

            fn unknown_on_change(&mut self) {
                $(
                    if $crate::framework::attributes::computed_only(
                        $crate::framework::schema::Kind::$kind,
                    ) && !(false $(|| $stable)?)
                    {
                        self.$field = tf_provider::value::Value::Unknown;
                    }
                )*
            }

            fn unknown_to_null(&mut self) {
                $(
                    if self.$field.is_unknown() {
                        self.$field = tf_provider::value::Value::Null;
                    }
                )*
            }

            fn copy_computed_from(&mut self, prior: &Self) {
                $(
                    if $crate::framework::attributes::computed_only(
                        $crate::framework::schema::Kind::$kind,
                    ) {
                        self.$field = prior.$field.clone();
                    }
                )*
            }

            fn replaced_since(&self, prior: &Self) -> Vec<&'static str> {
                let mut changed = Vec::new();
                $(
                    if (false $(|| $replace)?)
                        && $crate::framework::attributes::known_change(&self.$field, &prior.$field)
                    {
                        changed.push(stringify!($field));
                    }
                )*
                changed
            }

            fn field_mut(&mut self, name: &str) -> Option<&mut dyn std::any::Any> {
                match name {
                    $(stringify!($field) => Some(&mut self.$field),)*
                    _ => None,
                }
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::attributes! {
        /// A table exercising every flag.
        pub struct Sample {
            tenant_id: String => OptionalComputed, "Tenant.", replace = true;
            enabled: bool => OptionalComputed, "On.", default = true;
            name: String => Required, "Name.";
            id: String => Computed, "Id.", stable = true;
            status: String => Computed, "Status.";
        }
    }

    #[test]
    fn table_yields_rows_defaults_and_computed_behaviour() {
        let rows = Sample::rows();
        let names: Vec<_> = rows.iter().map(|r| r.name).collect();
        assert_eq!(names, ["tenant_id", "enabled", "name", "id", "status"]);
        assert!(rows[0].replace && !rows[1].replace && rows[3].stable);

        let mut s = Sample::default();
        s.fill_defaults();
        assert_eq!(s.enabled, Value::Value(true));
        let mut kept = Sample {
            enabled: Value::Value(false),
            ..Default::default()
        };
        kept.fill_defaults();
        assert_eq!(
            kept.enabled,
            Value::Value(false),
            "a read keeps what is there"
        );
        kept.defaults_from_config(&Sample::default());
        assert_eq!(
            kept.enabled,
            Value::Value(true),
            "an argument removed from the configuration returns to its default"
        );
        assert_eq!(s.tenant_id, Value::Null, "no default: stays null");

        let prior = Sample {
            id: Value::Value("t/1".into()),
            status: Value::Value("active".into()),
            ..Default::default()
        };
        s.copy_computed_from(&prior);
        assert_eq!(
            (s.id.clone(), s.status.clone()),
            (prior.id.clone(), prior.status.clone())
        );
        s.unknown_on_change();
        assert_eq!(s.id, prior.id, "stable values survive a change");
        assert_eq!(s.status, Value::Unknown);
        s.unknown_on_create();
        assert_eq!(s.id, Value::Unknown);
        assert_eq!(s.name, Value::Null, "arguments are never touched");
    }

    #[test]
    fn replacement_only_between_known_values() {
        let known = |t: &str| Sample {
            tenant_id: Value::Value(t.into()),
            ..Default::default()
        };
        assert_eq!(known("b").replaced_since(&known("a")), ["tenant_id"]);
        assert!(known("a").replaced_since(&known("a")).is_empty());
        assert!(known("a").replaced_since(&Sample::default()).is_empty());
        let mut s = known("a");
        assert_eq!(
            tenant_field(&mut s).cloned(),
            Some(Value::Value("a".into()))
        );
    }

    crate::attributes! {
        /// A nested block's rows.
        pub struct Inner {
            create: String => Optional, "C.";
        }
    }
    crate::block_type!(Inner);

    crate::attributes! {
        /// A table with an optional nested block.
        pub struct WithBlock {
            name: String => Required, "N.";
            #[serde(default, with = "crate::framework::attributes::optional_block")]
            timeouts: Inner => Block, "T.";
        }
    }

    #[test]
    fn an_optional_block_is_a_list_of_at_most_one() {
        use tf_provider::schema::NestedBlock;
        let schema = crate::framework::schema::schema_from_rows("d", WithBlock::rows());
        assert!(schema.block.attributes.contains_key("name"));
        assert!(!schema.block.attributes.contains_key("timeouts"));
        assert!(matches!(
            schema.block.blocks.get("timeouts"),
            Some(NestedBlock::Optional(b)) if b.attributes.contains_key("create")
        ));
        for absent in [serde_json::json!([]), serde_json::Value::Null] {
            let s: WithBlock =
                serde_json::from_value(serde_json::json!({"name": "x", "timeouts": absent}))
                    .unwrap();
            assert_eq!(s.timeouts, Value::Null);
            assert_eq!(
                serde_json::to_value(&s).unwrap()["timeouts"],
                serde_json::json!([]),
                "absent is an empty list for Terraform"
            );
        }
        let one = serde_json::json!({"name": "x", "timeouts": [{"create": "5m"}]});
        let s: WithBlock = serde_json::from_value(one.clone()).unwrap();
        assert_eq!(
            s.timeouts.as_ref_option().unwrap().create,
            Value::Value("5m".into())
        );
        assert_eq!(serde_json::to_value(&s).unwrap(), one);
        let mut unknown = s.clone();
        unknown.timeouts = Value::Unknown;
        unknown.unknown_to_null();
        assert_eq!(unknown.timeouts, Value::Null);
    }
}
