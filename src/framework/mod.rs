//! The only code besides `main` and `provider` that knows tf-provider. A resource implements
//! [`ManagedResource`] over a state from [`crate::attributes!`]; a data source implements
//! [`ReadOnlySource`]; the generic adapters do the rest (see `docs/contributing.md`).

pub mod attributes;
pub mod context;
pub mod data_source;
pub mod diagnostics;
pub mod gates;
pub mod memo;
pub mod resource;
pub mod schema;
pub mod values;

pub use attributes::Attributes;
pub use context::{ProviderContext, SharedContext};
pub use data_source::{DataSourceAdapter, ReadOnlySource};
pub use resource::{Call, ImportId, ManagedResource, ResourceAdapter, WriteError};
