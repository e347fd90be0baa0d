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
/// Kinds: `Required`, `Optional`, `OptionalComputed`, `Computed`. Flags, in this order when
/// present: `default = <expr>`, `replace = <bool>`, `stable = <bool>`.
#[macro_export]
macro_rules! attributes {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $(
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
            $(pub $field: tf_provider::value::Value<$ty>,)*
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
}
