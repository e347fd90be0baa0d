//! [`ManagedResource`]: what a resource implements, and [`ResourceAdapter`], the one
//! implementation of tf-provider's `Resource` for all of them. The adapter owns what every
//! resource would otherwise repeat: the method signatures, context lookup, tenant defaulting
//! and GUID checks, defaults, unknown and copied computed values, replacement from the
//! attribute table, partial state after a failed write, 404-is-gone, `<tenantId>/<id>` import
//! ids, and turning [`Problem`]s into diagnostics.

use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tf_provider::schema::Schema;
use tf_provider::value::{Value, ValueEmpty};
use tf_provider::{AttributePath, Diagnostics, Resource};

use super::attributes::{Attributes, tenant_field};
use super::context::{ProviderContext, SharedContext, invalid_tenant};
use super::diagnostics::report;
use super::schema::schema_from_rows;
use crate::ids::is_guid;
use crate::lifecycle::Problem;

/// One call from Terraform: the provider context and the warnings gathered on the way.
pub struct Call {
    pub ctx: Arc<ProviderContext>,
    warnings: Vec<Problem>,
}

impl Call {
    pub fn new(ctx: Arc<ProviderContext>) -> Self {
        Call {
            ctx,
            warnings: Vec::new(),
        }
    }

    /// Records a warning; the operation goes on.
    pub fn warn(&mut self, problem: Problem) {
        self.warnings.push(problem.as_warning());
    }

    /// Records every warning of a decision (an `Option` or a list).
    pub fn warn_all(&mut self, problems: impl IntoIterator<Item = Problem>) {
        problems.into_iter().for_each(|problem| self.warn(problem));
    }

    pub(super) fn flush(self, diags: &mut Diagnostics) {
        for warning in &self.warnings {
            report(diags, warning);
        }
    }
}

/// A write that failed. `Partial` carries what Graph already holds, so that Terraform records
/// it (tainted after a create) instead of losing track of it.
#[derive(Debug)]
pub enum WriteError<S> {
    Failed(Problem),
    Partial(S, Problem),
}

impl<S, E: Into<Problem>> From<E> for WriteError<S> {
    fn from(error: E) -> Self {
        WriteError::Failed(error.into())
    }
}

/// How a resource's import id looks after the optional `<tenantId>/` prefix.
pub struct ImportId {
    /// The key's name in messages, e.g. `serviceAppId`.
    pub key: &'static str,
    /// What the key is, for the error when it is not a GUID.
    pub key_meaning: &'static str,
    /// Whether the key alone (in the provider's tenant) is accepted.
    pub bare_key: bool,
    /// Why the id has this shape, when that is not obvious.
    pub note: &'static str,
    /// The attribute the default import stores the key in.
    pub key_attribute: &'static str,
    /// Whether the `id` attribute is `<tenantId>/<key>` (else `tenant_id` alone).
    pub id_has_key: bool,
}

impl ImportId {
    fn forms(&self) -> String {
        // A key of several segments (`policyId/ruleId`) is written `<policyId>/<ruleId>`.
        let key = self.key.replace('/', ">/<");
        if self.bare_key {
            format!("`<tenantId>/<{key}>`, or `<{key}>` in the provider's tenant")
        } else {
            format!("`<tenantId>/<{key}>`{}", self.note)
        }
    }
}

type Planned<S, P> = Result<(S, P), Problem>;
type Written<S, P> = Result<(S, P), WriteError<S>>;

/// A Terraform resource on this framework. The state type comes from [`crate::attributes!`];
/// every method returns problems as values and reports warnings through [`Call::warn`].
#[async_trait]
pub trait ManagedResource: Send + Sync + 'static {
    type State: Attributes;
    /// What the plan decided, carried to apply (Terraform's private state). Keep fields at
    /// their default out of the encoding: it is stored for every instance.
    type Private: Serialize + DeserializeOwned + Default + Clone + Send + Sync;

    const DESCRIPTION: &'static str;
    const IMPORT: ImportId;

    /// Configuration checks that need no Graph call (tenant GUIDs are checked by the adapter).
    fn validate(_config: &Self::State) -> Vec<Problem> {
        Vec::new()
    }

    /// The tenant another attribute names when `tenant_id` is null (a dependent's
    /// `<tenantId>/<id>` reference): `Unknown` while that attribute is unknown, `Null` when it
    /// names none (the provider's tenant applies).
    fn referenced_tenant(_state: &Self::State) -> Value<String> {
        Value::Null
    }

    /// Replacements the attribute table cannot express (a change that replaces the object only
    /// in some states); `table` lists those the `replace` flags found. Also where a resource
    /// notes, for the create planned next, which object is being replaced.
    async fn plan_replacement(
        &self,
        _call: &mut Call,
        _prior: &Self::State,
        _planned: &Self::State,
        _table: &[&'static str],
    ) -> Result<Vec<&'static str>, Problem> {
        Ok(Vec::new())
    }

    /// The object as Graph holds it now; `None` when it is gone.
    async fn read(
        &self,
        call: &mut Call,
        state: Self::State,
        private: Self::Private,
    ) -> Result<Option<(Self::State, Self::Private)>, Problem>;

    /// `planned` has defaults, the tenant, and every computed value unknown.
    async fn plan_create(
        &self,
        call: &mut Call,
        planned: Self::State,
        config: &Self::State,
    ) -> Planned<Self::State, Self::Private>;

    /// `planned` has defaults and the prior computed values; it is not a replacement.
    async fn plan_update(
        &self,
        call: &mut Call,
        prior: &Self::State,
        planned: Self::State,
        config: &Self::State,
        private: Self::Private,
    ) -> Planned<Self::State, Self::Private>;

    async fn plan_destroy(
        &self,
        _call: &mut Call,
        _prior: &Self::State,
        private: Self::Private,
    ) -> Result<Self::Private, Problem> {
        Ok(private)
    }

    async fn create(
        &self,
        call: &mut Call,
        planned: Self::State,
        config: &Self::State,
        private: Self::Private,
    ) -> Written<Self::State, Self::Private>;

    async fn update(
        &self,
        call: &mut Call,
        prior: &Self::State,
        planned: Self::State,
        config: &Self::State,
        private: Self::Private,
    ) -> Written<Self::State, Self::Private>;

    async fn delete(
        &self,
        call: &mut Call,
        prior: Self::State,
        private: Self::Private,
    ) -> Result<(), Problem>;

    /// The state to read next, from a parsed import id (tenant and key are checked GUIDs). By
    /// default the one [`imported_state`] builds from [`ManagedResource::IMPORT`]; a resource
    /// that checks the object first calls that after its check.
    async fn import(
        &self,
        _call: &mut Call,
        tenant: String,
        key: String,
    ) -> Planned<Self::State, Self::Private> {
        let state = imported_state(&Self::IMPORT, tenant, key);
        Ok((state, Self::Private::default()))
    }
}

/// The state an import hands to the read that follows: `tenant_id`, the key in its attribute,
/// `id`, and the defaults; the read fills the rest from Graph.
pub fn imported_state<S: Attributes>(form: &ImportId, tenant: String, key: String) -> S {
    let mut state = S::default();
    set_text(&mut state, "tenant_id", tenant);
    set_text(&mut state, form.key_attribute, key.clone());
    let tenant = tenant_field(&mut state).and_then(|t| t.as_ref_option().cloned());
    let tenant = tenant.unwrap_or_default();
    let id = match form.id_has_key {
        true => format!("{tenant}/{key}"),
        false => tenant,
    };
    set_text(&mut state, "id", id);
    state.fill_defaults();
    state
}

/// Sets a string attribute by name (the table must have it).
fn set_text<S: Attributes>(state: &mut S, name: &str, value: String) {
    let field = state.field_mut(name).and_then(|f| f.downcast_mut());
    debug_assert!(field.is_some(), "no string attribute {name}");
    if let Some(field) = field {
        *field = Value::Value(value);
    }
}

/// Implements tf-provider's `Resource` for a [`ManagedResource`].
pub struct ResourceAdapter<R> {
    resource: R,
    shared: SharedContext,
}

impl<R: ManagedResource> ResourceAdapter<R> {
    pub fn new(resource: R, shared: SharedContext) -> Self {
        ResourceAdapter { resource, shared }
    }

    fn call(&self, diags: &mut Diagnostics) -> Option<Call> {
        match self.shared.get() {
            Ok(ctx) => Some(Call::new(ctx)),
            Err(problem) => {
                report(diags, &problem);
                None
            }
        }
    }

    /// Reports configuration problems; `false` when any is an error.
    fn check_config(config: &R::State, diags: &mut Diagnostics) -> bool {
        let problems = R::validate(config);
        problems.iter().for_each(|p| report(diags, p));
        problems.iter().all(Problem::is_warning)
    }
}

/// Fills a null `tenant_id` with the tenant another attribute names, else the provider's, and
/// checks a known one.
fn default_tenant<S: Attributes>(
    state: &mut S,
    referenced: Value<String>,
    ctx: &ProviderContext,
) -> Result<(), Problem> {
    let Some(field) = tenant_field(state) else {
        return Ok(());
    };
    match field {
        Value::Unknown => Ok(()),
        Value::Value(t) => ctx.tenant_for(Some(t)).map(|_| ()),
        Value::Null => {
            *field = match referenced {
                Value::Value(t) => Value::Value(ctx.tenant_for(Some(&t))?),
                Value::Unknown => Value::Unknown,
                Value::Null => Value::Value(ctx.tenant_for(None)?),
            };
            Ok(())
        }
    }
}

/// The warning for a failure of one tenant only (binding decision 2).
fn kept_state_warning(problem: Problem) -> Problem {
    Problem::warning(
        format!("{} (kept the last known state)", problem.summary),
        format!(
            "{} Terraform keeps this object's last known state and plans no change in this \
             tenant until it can be read again; every other tenant is planned as usual.",
            problem.detail
        ),
    )
}

/// Ends one call: warnings always, the problem when there is one, the value otherwise.
fn finish<T>(call: Call, diags: &mut Diagnostics, outcome: Result<T, Problem>) -> Option<T> {
    call.flush(diags);
    outcome.map_err(|problem| report(diags, &problem)).ok()
}

#[async_trait]
impl<R: ManagedResource> Resource for ResourceAdapter<R> {
    type State<'a> = R::State;
    type PrivateState<'a> = R::Private;
    type ProviderMetaState<'a> = ValueEmpty;

    fn schema(&self, _diags: &mut Diagnostics) -> Option<Schema> {
        Some(schema_from_rows(R::DESCRIPTION, R::State::rows()))
    }

    async fn validate<'a>(&self, diags: &mut Diagnostics, mut config: R::State) -> Option<()> {
        if let Some(Value::Value(t)) = tenant_field(&mut config)
            && !is_guid(t)
        {
            report(diags, &invalid_tenant(t));
        }
        Self::check_config(&config, diags);
        Some(())
    }

    async fn read<'a>(
        &self,
        diags: &mut Diagnostics,
        state: R::State,
        private: R::Private,
        _meta: ValueEmpty,
    ) -> Option<(R::State, R::Private)> {
        let mut call = self.call(diags)?;
        let kept = (state.clone(), private.clone());
        let outcome = match self.resource.read(&mut call, state, private).await {
            // One tenant's failure keeps its last known state: the fleet's plan goes on.
            Err(problem) if problem.tenant_condition => {
                call.warn(kept_state_warning(problem));
                Ok(Some(kept))
            }
            other => other,
        };
        let (mut state, private) = finish(call, diags, outcome)??;
        state.fill_defaults();
        Some((state, private))
    }

    async fn plan_create<'a>(
        &self,
        diags: &mut Diagnostics,
        proposed: R::State,
        config: R::State,
        _meta: ValueEmpty,
    ) -> Option<(R::State, R::Private)> {
        let mut call = self.call(diags)?;
        if !Self::check_config(&config, diags) {
            return None;
        }
        let mut planned = proposed;
        let referenced = R::referenced_tenant(&planned);
        let outcome = match default_tenant(&mut planned, referenced, &call.ctx) {
            Ok(()) => {
                planned.defaults_from_config(&config);
                planned.unknown_on_create();
                self.resource.plan_create(&mut call, planned, &config).await
            }
            Err(problem) => Err(problem),
        };
        finish(call, diags, outcome)
    }

    async fn plan_update<'a>(
        &self,
        diags: &mut Diagnostics,
        prior: R::State,
        proposed: R::State,
        config: R::State,
        private: R::Private,
        _meta: ValueEmpty,
    ) -> Option<(R::State, R::Private, Vec<AttributePath>)> {
        let mut call = self.call(diags)?;
        if !Self::check_config(&config, diags) {
            return None;
        }
        let mut planned = proposed;
        let referenced = R::referenced_tenant(&planned);
        let mut config_tenant = config.clone();
        if !referenced.is_null()
            && tenant_field(&mut config_tenant).is_some_and(|field| field.is_null())
            && let Some(field) = tenant_field(&mut planned)
        {
            // Not configured: it follows the reference, not the prior state.
            *field = Value::Null;
        }
        if let Err(problem) = default_tenant(&mut planned, referenced, &call.ctx) {
            return finish(call, diags, Err(problem));
        }
        planned.defaults_from_config(&config);
        planned.copy_computed_from(&prior);
        let mut replaced = planned.replaced_since(&prior);
        match (self.resource)
            .plan_replacement(&mut call, &prior, &planned, &replaced)
            .await
        {
            Ok(more) => {
                for name in more {
                    if !replaced.contains(&name) {
                        replaced.push(name);
                    }
                }
            }
            Err(problem) => return finish(call, diags, Err(problem)),
        }
        if !replaced.is_empty() {
            // A different object: Terraform plans its creation separately.
            planned.unknown_on_create();
            let paths = replaced.into_iter().map(AttributePath::new).collect();
            return finish(call, diags, Ok((planned, R::Private::default(), paths)));
        }
        let kept = planned.clone();
        let outcome = match (self.resource)
            .plan_update(&mut call, &prior, planned, &config, private)
            .await
        {
            Ok((state, private)) => Ok((state, private, Vec::new())),
            // The tenant cannot be read now: plan no write there; the others go on.
            Err(problem) if problem.tenant_condition => {
                call.warn(kept_state_warning(problem));
                Ok((kept, R::Private::default(), Vec::new()))
            }
            Err(problem) => Err(problem),
        };
        finish(call, diags, outcome)
    }

    async fn plan_destroy<'a>(
        &self,
        diags: &mut Diagnostics,
        prior: R::State,
        private: R::Private,
        _meta: ValueEmpty,
    ) -> Option<R::Private> {
        let mut call = self.call(diags)?;
        let outcome = self.resource.plan_destroy(&mut call, &prior, private).await;
        finish(call, diags, outcome)
    }

    async fn create<'a>(
        &self,
        diags: &mut Diagnostics,
        planned: R::State,
        config: R::State,
        private: R::Private,
        _meta: ValueEmpty,
    ) -> Option<(R::State, R::Private)> {
        let mut call = self.call(diags)?;
        let outcome = self
            .resource
            .create(&mut call, planned, &config, private)
            .await;
        written(call, diags, outcome)
    }

    async fn update<'a>(
        &self,
        diags: &mut Diagnostics,
        prior: R::State,
        planned: R::State,
        config: R::State,
        private: R::Private,
        _meta: ValueEmpty,
    ) -> Option<(R::State, R::Private)> {
        let mut call = self.call(diags)?;
        let outcome = self
            .resource
            .update(&mut call, &prior, planned, &config, private)
            .await;
        written(call, diags, outcome)
    }

    async fn destroy<'a>(
        &self,
        diags: &mut Diagnostics,
        prior: R::State,
        private: R::Private,
        _meta: ValueEmpty,
    ) -> Option<()> {
        let mut call = self.call(diags)?;
        let outcome = self.resource.delete(&mut call, prior, private).await;
        finish(call, diags, outcome)
    }

    async fn import<'a>(
        &self,
        diags: &mut Diagnostics,
        id: String,
    ) -> Option<(R::State, R::Private)> {
        let mut call = self.call(diags)?;
        let outcome = match parse_import_id(&id, &R::IMPORT, &call.ctx) {
            Ok((tenant, key)) => self.resource.import(&mut call, tenant, key).await,
            Err(problem) => Err(problem),
        };
        finish(call, diags, outcome)
    }
}

/// Ends a write: a partial state is returned with its error so Terraform keeps track of it.
/// Nothing unknown survives an apply.
fn written<S: Attributes, P: Default>(
    call: Call,
    diags: &mut Diagnostics,
    outcome: Result<(S, P), WriteError<S>>,
) -> Option<(S, P)> {
    match outcome {
        Ok((mut state, private)) => {
            state.unknown_to_null();
            finish(call, diags, Ok((state, private)))
        }
        Err(WriteError::Failed(problem)) => finish(call, diags, Err(problem)),
        Err(WriteError::Partial(mut state, problem)) => {
            state.unknown_to_null();
            call.flush(diags);
            report(diags, &problem);
            Some((state, P::default()))
        }
    }
}

/// `<tenantId>/<key>`, or `<key>` in the provider's tenant when the resource allows it.
fn parse_import_id(
    id: &str,
    form: &ImportId,
    ctx: &ProviderContext,
) -> Result<(String, String), Problem> {
    let invalid = |why: String| {
        Problem::error(
            "Invalid import ID",
            format!("{why} Import IDs are {}; got {id:?}.", form.forms()),
        )
    };
    let (tenant, key) = match id.split_once('/') {
        Some((tenant, key)) => (Some(tenant), key),
        None if form.bare_key => (None, id),
        None => return Err(invalid("The tenant is missing.".into())),
    };
    let tenant = ctx.tenant_for(tenant).map_err(|p| invalid(p.detail))?;
    // Each segment of a several-segment key is a GUID of its own.
    let segments = form.key.split('/').count();
    let parts: Vec<&str> = key.split('/').collect();
    if parts.len() != segments || !parts.iter().all(|part| is_guid(part)) {
        let shape = if segments == 1 {
            "a GUID"
        } else {
            "GUIDs separated by /"
        };
        return Err(invalid(format!(
            "{key:?} is not {} ({shape}).",
            form.key_meaning
        )));
    }
    Ok((tenant, key.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::attributes! {
        struct Imported {
            tenant_id: String => OptionalComputed, "Tenant.";
            owner: String => Required, "Key.";
            on: bool => OptionalComputed, "Flag.", default = true;
            id: String => Computed, "ID.";
            status: String => Computed, "Filled by read.";
        }
    }

    const FORM: ImportId = ImportId {
        key: "ownerId",
        key_meaning: "an owner ID",
        bare_key: true,
        note: "",
        key_attribute: "owner",
        id_has_key: true,
    };

    #[test]
    fn imported_state_has_tenant_key_id_and_defaults_only() {
        let state: Imported = imported_state(&FORM, "t".into(), "k".into());
        let v = |s: &str| Value::Value(s.to_string());
        assert_eq!(state.tenant_id, v("t"));
        assert_eq!(state.owner, v("k"));
        assert_eq!(state.id, v("t/k"));
        assert_eq!(state.on, Value::Value(true));
        assert_eq!(state.status, Value::Null);
        // The key may be the tenant itself: `id` follows the tenant it names.
        let form = ImportId {
            key_attribute: "tenant_id",
            id_has_key: false,
            ..FORM
        };
        let state: Imported = imported_state(&form, "t".into(), "k".into());
        assert_eq!((state.tenant_id, state.id), (v("k"), v("k")));
    }
}
