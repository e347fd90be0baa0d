//! Graph's evolvable enums as Rust enums that keep any member this provider does not know yet
//! (`unknownFutureValue`, or a member added later) verbatim, so decoding never fails and users
//! see the value as Graph sent it.

/// An enum Graph serialises as its member name, keeping unknown members (generic code, such as
/// comma-separated flag sets, works over it).
pub trait GraphEnum: Sized {
    fn parse(text: &str) -> Self;
    fn as_str(&self) -> &str;
}

/// Defines an open enum: the listed members, plus `Other(String)` for anything else. Serialises
/// as Graph's member name.
#[macro_export]
macro_rules! open_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident { $($variant:ident = $text:literal),* $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        $vis enum $name {
            $($variant,)*
            /// A member this provider does not know, kept as Graph sent it.
            Other(String),
        }

        impl $name {
            /// The members this provider knows, in the metadata's order.
            pub const KNOWN: &'static [$name] = &[$($name::$variant),*];

            pub fn parse(text: &str) -> Self {
                match text {
                    $($text => Self::$variant,)*
                    other => Self::Other(other.to_string()),
                }
            }

            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $text,)*
                    Self::Other(text) => text,
                }
            }
        }

        impl $crate::graph::enums::GraphEnum for $name {
            fn parse(text: &str) -> Self {
                $name::parse(text)
            }

            fn as_str(&self) -> &str {
                $name::as_str(self)
            }
        }

        impl From<&str> for $name {
            fn from(text: &str) -> Self {
                Self::parse(text)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
                Ok(Self::parse(&text))
            }
        }
    };
}

open_enum! {
    /// `microsoft.graph.serviceAppStatus`.
    pub enum ServiceAppStatus {
        Inactive = "inactive",
        Active = "active",
        PendingActive = "pendingActive",
        PendingInactive = "pendingInactive",
    }
}

open_enum! {
    /// `microsoft.graph.backupServiceStatus`.
    pub enum BackupServiceStatus {
        Disabled = "disabled",
        Enabled = "enabled",
        ProtectionChangeLocked = "protectionChangeLocked",
        RestoreLocked = "restoreLocked",
    }
}

open_enum! {
    /// `microsoft.graph.backupServiceConsumer`.
    pub enum BackupServiceConsumer {
        Unknown = "unknown",
        FirstParty = "firstparty",
        ThirdParty = "thirdparty",
    }
}

open_enum! {
    /// `microsoft.graph.disableReason`.
    pub enum DisableReason {
        None = "none",
        InvalidBillingProfile = "invalidBillingProfile",
        UserRequested = "userRequested",
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn known_and_unknown_members_round_trip() {
        let known: ServiceAppStatus = serde_json::from_str("\"pendingActive\"").unwrap();
        assert_eq!(known, ServiceAppStatus::PendingActive);
        let newer: DisableReason = serde_json::from_str("\"controllerServiceAppDeleted\"").unwrap();
        assert_eq!(
            newer,
            DisableReason::Other("controllerServiceAppDeleted".into())
        );
        assert_eq!(
            serde_json::to_string(&newer).unwrap(),
            "\"controllerServiceAppDeleted\""
        );
    }

    proptest! {
        #[test]
        fn any_text_round_trips_verbatim(text in "\\PC{0,24}") {
            let parsed = BackupServiceStatus::parse(&text);
            prop_assert_eq!(parsed.as_str(), text.as_str());
        }
    }
}
