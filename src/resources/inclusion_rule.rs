//! `m365backup_{onedrive,exchange,sharepoint}_inclusion_rule`: which groups' members or which
//! sites a policy protects, kept up to date by Graph (dynamic rules) or applied on demand
//! (static rules). One generic implementation; each resource is a table (its selector
//! attributes differ) and a [`Workload`]. Decisions live in [`crate::lifecycle::inclusion_rule`],
//! Graph calls in [`crate::graph::api::inclusion_rules`]; gating and deferral are the
//! policies' ([`crate::lifecycle::protection_policy::gating`]).

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tf_provider::value::Value;

use super::controller::{gated_refusal, protection_gate};
use super::creating_post::{post_without_duplicates, throttled};
use super::protection_policy::stop;
use crate::framework::attributes::StringSet;
use crate::framework::values::{known, text, timestamp};
use crate::framework::{Attributes, Call, ImportId, ManagedResource, WriteError};
use crate::graph::GraphError;
use crate::graph::api::protection::{ProtectionRule, Workload};
use crate::lifecycle::Problem;
use crate::lifecycle::inclusion_rule::{
    self as rules, RuleConfig, RuleUpdate, Selection, blocking_dynamic_rule,
    completed_with_errors_notice, created_static_instead, find_adoptable_rule, is_deletable,
    is_dynamic, is_pending, rule_resource_id, second_dynamic_rule_reason,
};
use crate::lifecycle::protection_policy::gating::{
    Gate, WriteDecision, WriteSubject, decide_write,
};
use crate::lifecycle::protection_policy::notices::Notice;
use crate::lifecycle::protection_policy::references::{parse_policy_reference, resolve_tenant};
use crate::lifecycle::protection_policy::waiting::{
    FIRST_PAUSE, Operation, human, next_pause, timeout_of, validate_timeout,
};

crate::attributes! {
    /// The `timeouts` block of a rule.
    pub struct RuleTimeouts {
        create: String => Optional, "Bound of the wait after a create (default `20m`).";
        update: String => Optional, "Bound of the wait after an update (default `20m`).";
        delete: String => Optional, "Bound of destroy's waits: until Graph allows the deletion, then until the rule is gone (default `30m`).";
    }
}
crate::block_type!(RuleTimeouts);

/// Mutable views of the attributes every rule kind shares.
pub struct Common<'a> {
    pub tenant_id: &'a mut Value<String>,
    pub policy_id: &'a mut Value<String>,
    pub expression: &'a mut Value<String>,
    pub rerun_triggers: &'a mut Value<BTreeMap<String, Value<String>>>,
    pub unprotect_on_destroy: &'a mut Value<bool>,
    pub wait_for_completion: &'a mut Value<bool>,
    pub timeouts: &'a mut Value<RuleTimeouts>,
    pub id: &'a mut Value<String>,
    pub deferred_reason: &'a mut Value<String>,
    pub status: &'a mut Value<String>,
    pub error_code: &'a mut Value<String>,
    pub error_message: &'a mut Value<String>,
    pub created_date_time: &'a mut Value<String>,
    pub last_modified_date_time: &'a mut Value<String>,
}

/// What differs between the three rule kinds.
pub trait RuleState: Attributes {
    const WORKLOAD: Workload;
    const DESCRIPTION: &'static str;
    const RESOURCE_TYPE: &'static str;
    fn common(&mut self) -> Common<'_>;
    /// The configuration as plain values (unknown values as `None`).
    fn config(&self) -> RuleConfig;
    /// Whether a selector argument (groups, keywords, expression) is set, known or not.
    fn selects_something(&self) -> bool;
    /// Whether every selector argument is known (no unknown set or member): only then is the
    /// expression known.
    fn selection_known(&self) -> bool;
    fn rerun_triggers(&self) -> &Value<BTreeMap<String, Value<String>>>;
    /// `auto_apply` (always `None` for SharePoint).
    fn auto_apply(&self) -> Option<bool>;
    fn set_auto_apply(&mut self, value: Option<bool>);
    /// Puts what Graph's expression selects into the selector attributes.
    fn set_selection(&mut self, selection: Selection);
}

fn set_of(value: &Value<StringSet>) -> Option<Vec<String>> {
    value.as_ref_option().map(StringSet::texts)
}

/// Null, or a set whose every member is known.
fn set_known(value: &Value<StringSet>) -> bool {
    match value {
        Value::Unknown => false,
        Value::Null => true,
        Value::Value(set) => set.0.iter().all(|member| !member.is_unknown()),
    }
}

fn set_value(items: Vec<String>) -> Value<StringSet> {
    Value::Value(StringSet::from_texts(items))
}

/// One rule kind's state: the shared rows around its selector rows.
macro_rules! rule_state {
    (
        $name:ident, $workload:expr, $type_name:literal, $description:literal,
        { $($selectors:tt)* },
        auto_apply: $auto:tt,
        config: |$s:ident| $config:expr,
        selects: |$s2:ident| $selects:expr,
        known: |$s4:ident| $known:expr,
        select: |$s3:ident, $sel:ident| $select:block
    ) => {
        rule_state!(@table $name, { $($selectors)* }, $auto);

        impl RuleState for $name {
            const WORKLOAD: Workload = $workload;
            const DESCRIPTION: &'static str = $description;
            const RESOURCE_TYPE: &'static str = $type_name;

            fn common(&mut self) -> Common<'_> {
                Common {
                    tenant_id: &mut self.tenant_id,
                    policy_id: &mut self.policy_id,
                    expression: &mut self.expression,
                    rerun_triggers: &mut self.rerun_triggers,
                    unprotect_on_destroy: &mut self.unprotect_on_destroy,
                    wait_for_completion: &mut self.wait_for_completion,
                    timeouts: &mut self.timeouts,
                    id: &mut self.id,
                    deferred_reason: &mut self.deferred_reason,
                    status: &mut self.status,
                    error_code: &mut self.error_code,
                    error_message: &mut self.error_message,
                    created_date_time: &mut self.created_date_time,
                    last_modified_date_time: &mut self.last_modified_date_time,
                }
            }

            fn config(&self) -> RuleConfig {
                let $s = self;
                let mut config: RuleConfig = $config;
                config.expression = self.expression.as_ref_option().cloned();
                config.auto_apply = self.auto_apply();
                config.unprotect_on_destroy = self.unprotect_on_destroy.as_option();
                config.has_rerun_triggers = !self.rerun_triggers.is_null();
                config
            }

            fn selects_something(&self) -> bool {
                let $s2 = self;
                !self.expression.is_null() || $selects
            }

            fn rerun_triggers(&self) -> &Value<BTreeMap<String, Value<String>>> {
                &self.rerun_triggers
            }

            fn selection_known(&self) -> bool {
                let $s4 = self;
                !self.expression.is_unknown() && $known
            }

            rule_state!(@auto $auto);

            fn set_selection(&mut self, selection: Selection) {
                let ($s3, $sel) = (self, selection);
                $select
            }
        }
    };
    (@table $name:ident, { $($selectors:tt)* }, true) => {
        crate::attributes! {
            pub struct $name {
                tenant_id: String => OptionalComputed, "Tenant ID. Defaults to the tenant of `policy_id` when it has the `<tenantId>/<policyId>` form, else the provider's `tenant_id`. Changing it replaces the rule.";
                policy_id: String => Required, "The policy: its `id` (`<tenantId>/<policyId>`) or Graph's policy ID. Null while the policy's creation is deferred: the rule then waits too. Changing it from one policy to another replaces the rule.";
                $($selectors)*
                expression: String => Optional, "A raw Graph rule expression, instead of the arguments that build one (conflicts with them).";
                auto_apply: bool => OptionalComputed, "Whether the rule is dynamic (default `true`): Graph re-evaluates it and adds and removes units as the groups change. `false`: applied once (and again on a change of `rerun_triggers`). Changing it replaces the rule.", default = true, replace = true;
                rerun_triggers: BTreeMap<String, Value<String>> => Optional, "Static rules only (`auto_apply = false`): arbitrary values; any change runs the rule again, protecting who is in the groups at that moment.";
                unprotect_on_destroy: bool => OptionalComputed, "Dynamic rules only: whether destroying the rule also stops protecting the units it added (Graph's `deleteAndUnprotect`). Default `false`: the rule is deleted and its units stay protected.", default = false;
                wait_for_completion: bool => OptionalComputed, "Whether apply waits until Graph has applied the rule (status no longer `active` or `updateRequested`), bounded by `timeouts` (default `false`). A wait that runs out is a warning.", default = false;
                #[serde(default, with = "crate::framework::attributes::optional_block")]
                timeouts: RuleTimeouts => Block, "How long waits may take.";
                id: String => Computed, "`<tenantId>/<policyId>/<ruleId>`.", stable = true;
                deferred_reason: String => Computed, "Why the creation waits (the policy is deferred, the tenant does not allow protection changes yet, or the policy already has a dynamic rule), or null.";
                status: String => Computed, "`active`, `completed`, `completedWithErrors`, `updateRequested`, `deleteRequested`, or a newer value.";
                error_code: String => Computed, "The code of the rule's error (e.g. with `completedWithErrors`), or null.";
                error_message: String => Computed, "The message of the rule's error, or null.";
                created_date_time: String => Computed, "When the rule was created.", stable = true;
                last_modified_date_time: String => Computed, "When Graph last changed the rule.";
            }
        }
    };
    (@table $name:ident, { $($selectors:tt)* }, false) => {
        crate::attributes! {
            pub struct $name {
                tenant_id: String => OptionalComputed, "Tenant ID. Defaults to the tenant of `policy_id` when it has the `<tenantId>/<policyId>` form, else the provider's `tenant_id`. Changing it replaces the rule.";
                policy_id: String => Required, "The policy: its `id` (`<tenantId>/<policyId>`) or Graph's policy ID. Null while the policy's creation is deferred: the rule then waits too. Changing it from one policy to another replaces the rule.";
                $($selectors)*
                expression: String => Optional, "A raw Graph rule expression, instead of the arguments that build one (conflicts with them).";
                rerun_triggers: BTreeMap<String, Value<String>> => Optional, "Arbitrary values; any change runs the rule again (SharePoint rules are static: applied once), protecting the sites that match at that moment.";
                unprotect_on_destroy: bool => OptionalComputed, "Not available: SharePoint rules are static, and Graph unprotects the units of dynamic rules only. Must stay `false` (the default).", default = false;
                wait_for_completion: bool => OptionalComputed, "Whether apply waits until Graph has applied the rule (status no longer `active`), bounded by `timeouts` (default `false`). A wait that runs out is a warning.", default = false;
                #[serde(default, with = "crate::framework::attributes::optional_block")]
                timeouts: RuleTimeouts => Block, "How long waits may take.";
                id: String => Computed, "`<tenantId>/<policyId>/<ruleId>`.", stable = true;
                deferred_reason: String => Computed, "Why the creation waits (the policy is deferred, or the tenant does not allow protection changes yet), or null.";
                status: String => Computed, "`active`, `completed`, `completedWithErrors`, `deleteRequested`, or a newer value.";
                error_code: String => Computed, "The code of the rule's error (e.g. with `completedWithErrors`), or null.";
                error_message: String => Computed, "The message of the rule's error, or null.";
                created_date_time: String => Computed, "When the rule was created.", stable = true;
                last_modified_date_time: String => Computed, "When Graph last changed the rule.";
            }
        }
    };
    (@auto true) => {
        fn auto_apply(&self) -> Option<bool> {
            self.auto_apply.as_option()
        }
        fn set_auto_apply(&mut self, value: Option<bool>) {
            if let Some(value) = value {
                self.auto_apply = Value::Value(value);
            }
        }
    };
    (@auto false) => {
        fn auto_apply(&self) -> Option<bool> {
            None
        }
        fn set_auto_apply(&mut self, _value: Option<bool>) {}
    };
}

const GROUP_IDS_DOC: &str = "Entra group object ids (1 to 100): their members are protected. The provider builds the expression `(memberOf -any (group.id -in ['…']))`. Changing them updates a dynamic rule in place and replaces a static one.";

/// A rule selecting the members of groups (OneDrive, Exchange): dynamic by default.
macro_rules! group_rule_state {
    ($name:ident, $workload:expr, $type_name:literal, $description:literal) => {
        rule_state!(
            $name,
            $workload,
            $type_name,
            $description,
            {
                group_ids: StringSet => Optional, GROUP_IDS_DOC;
            },
            auto_apply: true,
            config: |s| RuleConfig { group_ids: set_of(&s.group_ids), ..RuleConfig::default() },
            selects: |s| !s.group_ids.is_null(),
            known: |s| set_known(&s.group_ids),
            select: |s, selection| {
                match selection {
                    Selection::Groups(groups) => {
                        s.group_ids = set_value(groups);
                        s.expression = Value::Null;
                    }
                    Selection::Raw(expression) => {
                        s.group_ids = Value::Null;
                        s.expression = Value::Value(expression);
                    }
                    Selection::Keywords { .. } => {}
                }
            }
        );
    };
}

group_rule_state!(
    OneDriveRuleState,
    Workload::OneDrive,
    "m365backup_onedrive_inclusion_rule",
    "An inclusion rule of a OneDrive for Business protection policy of Microsoft 365 Backup: the OneDrive accounts of the members of some groups are protected, kept up to date by Graph (dynamic, the default) or applied once (static)."
);

group_rule_state!(
    ExchangeRuleState,
    Workload::Exchange,
    "m365backup_exchange_inclusion_rule",
    "An inclusion rule of an Exchange protection policy of Microsoft 365 Backup: the mailboxes of the members of some groups are protected, kept up to date by Graph (dynamic, the default) or applied once (static)."
);

rule_state!(
    SharePointRuleState,
    Workload::SharePoint,
    "m365backup_sharepoint_inclusion_rule",
    "An inclusion rule of a SharePoint protection policy of Microsoft 365 Backup: the sites whose name or url contains a keyword are protected. SharePoint rules are static: applied once, and again on each change of `rerun_triggers`.",
    {
        site_name_keywords: StringSet => Optional, "Sites whose name contains one of these keywords are protected (with `site_url_keywords`: at most 10 keywords, each 3 to 255 characters). Changing them replaces the rule.";
        site_url_keywords: StringSet => Optional, "Sites whose url contains one of these keywords are protected (with `site_name_keywords`: at most 10 keywords, each 3 to 255 characters). Changing them replaces the rule.";
    },
    auto_apply: false,
    config: |s| RuleConfig {
        site_name_keywords: set_of(&s.site_name_keywords),
        site_url_keywords: set_of(&s.site_url_keywords),
        ..RuleConfig::default()
    },
    selects: |s| !s.site_name_keywords.is_null() || !s.site_url_keywords.is_null(),
    known: |s| set_known(&s.site_name_keywords) && set_known(&s.site_url_keywords),
    select: |s, selection| {
        match selection {
            Selection::Keywords { names, urls } => {
                // An empty side stays null when it is null in the configuration.
                let keep_null = |current: &Value<StringSet>, items: Vec<String>| {
                    if items.is_empty() && current.is_null() { Value::Null } else { set_value(items) }
                };
                s.site_name_keywords = keep_null(&s.site_name_keywords, names);
                s.site_url_keywords = keep_null(&s.site_url_keywords, urls);
                s.expression = Value::Null;
            }
            Selection::Raw(expression) => {
                s.site_name_keywords = Value::Null;
                s.site_url_keywords = Value::Null;
                s.expression = Value::Value(expression);
            }
            Selection::Groups(_) => {}
        }
    }
);

/// What the plan decided, carried to apply.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct RulePlan {
    /// Write to Graph (create, PATCH or run).
    #[serde(default, skip_serializing_if = "super::is_false")]
    pub write: bool,
}

/// One of the three rule resources.
pub struct InclusionRuleResource<S>(PhantomData<S>);

pub type OneDriveRule = InclusionRuleResource<OneDriveRuleState>;
pub type ExchangeRule = InclusionRuleResource<ExchangeRuleState>;
pub type SharePointRule = InclusionRuleResource<SharePointRuleState>;

impl<S> Default for InclusionRuleResource<S> {
    fn default() -> Self {
        InclusionRuleResource(PhantomData)
    }
}

fn warning(n: Notice) -> Problem {
    let problem = Problem::warning(n.summary, n.detail);
    match n.attribute {
        Some(attribute) => problem.at(attribute),
        None => problem,
    }
}

fn error(n: Notice) -> Problem {
    let problem = Problem::error(n.summary, n.detail);
    match n.attribute {
        Some(attribute) => problem.at(attribute),
        None => problem,
    }
}

/// Where the rule lives: the tenant, and Graph's policy and rule ids when known.
struct Target {
    tenant: String,
    policy_id: Option<String>,
    rule_id: Option<String>,
}

/// The tenant and the policy from `tenant_id` and `policy_id` (either form, decision 18).
fn target<S: RuleState>(state: &mut S) -> Result<Target, Problem> {
    let c = state.common();
    let tenant = known(c.tenant_id, "tenant_id")?.to_string();
    let policy_id = match c.policy_id.as_ref_option() {
        Some(text) => {
            let reference = parse_policy_reference(text, "policy_id").map_err(error)?;
            resolve_tenant(&reference, Some(&tenant), &tenant).map_err(error)?;
            Some(reference.policy_id)
        }
        None => None,
    };
    // An existing rule's own id names its policy: that is where it lives, whatever form or
    // value `policy_id` has now.
    let (policy_id, rule_id) = match c
        .id
        .as_ref_option()
        .map(|id| id.split('/').collect::<Vec<_>>())
    {
        Some(parts) if parts.len() == 3 => (Some(parts[1].to_string()), Some(parts[2].to_string())),
        _ => (policy_id, None),
    };
    Ok(Target {
        tenant,
        policy_id,
        rule_id,
    })
}

fn wanted_expression<S: RuleState>(state: &S) -> Option<String> {
    rules::build_expression(S::WORKLOAD, &state.config())
}

fn dynamic_of<S: RuleState>(state: &S) -> bool {
    is_dynamic(S::WORKLOAD, state.auto_apply())
}

/// A static rule's units look manual: an authoritative set on the same policy (seen in this
/// process) would remove them, so the two together are a configuration error (decision 9).
fn claim_static<S: RuleState>(state: &S, tenant: &str, policy_id: &str) -> Result<(), Problem> {
    if dynamic_of(state) {
        return Ok(());
    }
    let claimant = format!(
        "{}/{}",
        S::WORKLOAD.name(),
        wanted_expression(state).unwrap_or_default()
    );
    crate::lifecycle::protection_units::claims::static_rule(
        S::WORKLOAD,
        tenant,
        policy_id,
        &claimant,
    )
    .map_err(error)
}

fn what<S: RuleState>(state: &S) -> String {
    let kind = if dynamic_of(state) {
        "dynamic"
    } else {
        "static"
    };
    let workload = match S::WORKLOAD {
        Workload::SharePoint => "SharePoint",
        Workload::OneDrive => "OneDrive",
        Workload::Exchange => "Exchange",
    };
    format!("{kind} {workload} inclusion rule")
}

async fn gate(call: &Call, tenant: &str) -> Result<Gate, Problem> {
    protection_gate(
        call,
        tenant,
        "Inclusion rules are changed by the controller app",
    )
    .await
}

fn memo_key(tenant: &str, rule_id: &str) -> String {
    format!(
        "rule/{}/{}",
        tenant.to_ascii_lowercase(),
        rule_id.to_ascii_lowercase()
    )
}

fn replaced_key(tenant: &str, policy_id: &str) -> String {
    format!(
        "rule-replaced/{}/{}",
        tenant.to_ascii_lowercase(),
        policy_id.to_ascii_lowercase()
    )
}

type Seen = Option<ProtectionRule>;

/// The rule as Graph holds it now (remembered for the plan of this run).
async fn observe(
    call: &Call,
    workload: Workload,
    tenant: &str,
    policy_id: &str,
    rule_id: &str,
) -> Result<Seen, Problem> {
    let rule = call
        .ctx
        .graph
        .get_rule(tenant, workload, policy_id, rule_id)
        .await?;
    call.ctx.memo.put(memo_key(tenant, rule_id), rule.clone());
    Ok(rule)
}

/// The rule as read earlier in this process (the refresh before the plan), else from Graph.
async fn observe_shared(
    call: &Call,
    workload: Workload,
    tenant: &str,
    policy_id: &str,
    rule_id: &str,
) -> Result<Seen, Problem> {
    match call.ctx.memo.get::<Seen>(&memo_key(tenant, rule_id)) {
        Some(seen) => Ok(seen),
        None => observe(call, workload, tenant, policy_id, rule_id).await,
    }
}

/// Copies what Graph holds into the state. The selector attributes change only when Graph's
/// expression differs from the one they build (drift, import).
fn apply_rule<S: RuleState>(state: &mut S, tenant: &str, policy_id: &str, rule: &ProtectionRule) {
    if let Some(seen) = rule.expression() {
        let same = wanted_expression(state).is_some_and(|mine| rules::same_expression(&mine, seen));
        if !same {
            state.set_selection(rules::parse_expression(S::WORKLOAD, seen));
        }
    }
    let prior_auto_apply = state.auto_apply();
    state.set_auto_apply(rules::observed_auto_apply(
        rule.is_auto_apply_enabled,
        prior_auto_apply,
    ));
    let failure = rule.error.as_ref().filter(|e| e.is_failure());
    let c = state.common();
    *c.id = Value::Value(rule_resource_id(tenant, policy_id, &rule.id));
    *c.deferred_reason = Value::Null;
    *c.status = text(rule.status.as_ref().map(|s| s.as_str()));
    *c.error_code = text(failure.and_then(|e| e.code.as_deref()));
    *c.error_message = text(failure.and_then(|e| e.message.as_deref()));
    *c.created_date_time = timestamp(rule.created_date_time.as_deref());
    *c.last_modified_date_time = timestamp(rule.last_modified_date_time.as_deref());
}

/// Records a create that waits (decision 4): no id, the reason.
fn record_deferred<S: RuleState>(state: &mut S, reason: &str) {
    let c = state.common();
    for v in [
        c.id,
        c.status,
        c.error_code,
        c.error_message,
        c.created_date_time,
        c.last_modified_date_time,
    ] {
        *v = Value::Null;
    }
    *c.deferred_reason = Value::Value(reason.to_string());
}

fn policy_deferred_reason<S: RuleState>(state: &mut S) -> String {
    let tenant = state
        .common()
        .tenant_id
        .as_ref_option()
        .cloned()
        .unwrap_or_else(|| "(unknown)".into());
    format!(
        "Tenant {tenant}: the {} waits for its protection policy, whose creation is deferred (policy_id is null). It is created by the first apply after the policy exists.",
        what(state)
    )
}

/// Whether the rule may be created now: the tenant allows it (decision 5) and, for a dynamic
/// rule, the policy has no other dynamic rule (decision 3; `replacing` is ignored).
enum CreateCheck {
    Proceed(Option<Notice>),
    Defer(String, Notice),
}

async fn check_create<S: RuleState>(
    call: &Call,
    state: &S,
    tenant: &str,
    policy_id: &str,
    subject: WriteSubject,
) -> Result<CreateCheck, Problem> {
    let what = format!("{} on policy {policy_id} in tenant {tenant}", what(state));
    let proceed = match decide_write(&gate(call, tenant).await?, subject, &what) {
        WriteDecision::Proceed(n) => n,
        WriteDecision::Defer { reason, notice } => return Ok(CreateCheck::Defer(reason, notice)),
        WriteDecision::WarnOnly(n) => return Ok(CreateCheck::Defer(n.detail.clone(), n)),
    };
    if dynamic_of(state) {
        let existing = call
            .ctx
            .graph
            .list_rules(tenant, S::WORKLOAD, policy_id)
            .await
            .map_err(|e| policy_missing(e, tenant, policy_id))?;
        let replacing = call
            .ctx
            .memo
            .get::<String>(&replaced_key(tenant, policy_id));
        if let Some(other) = blocking_dynamic_rule(&existing, replacing.as_deref()) {
            let reason = second_dynamic_rule_reason(tenant, policy_id, other, S::RESOURCE_TYPE);
            let notice = Notice::new(
                format!(
                    "The {what} is deferred: the policy already has a dynamic rule ({})",
                    other.id
                ),
                reason.clone(),
            );
            return Ok(CreateCheck::Defer(reason, notice));
        }
    }
    Ok(CreateCheck::Proceed(proceed))
}

/// A 404 on the policy's rules: the policy is gone.
fn policy_missing(e: GraphError, tenant: &str, policy_id: &str) -> Problem {
    if e.is_not_found() {
        return Problem::error(
            "Protection policy not found",
            format!(
                "Policy {policy_id} does not exist in tenant {tenant} (request-id {}), so no inclusion rule can be added to it. Check policy_id; a policy deleted outside Terraform is recreated by its resource on the next apply.",
                e.request_id.as_deref().unwrap_or("unknown")
            ),
        )
        .at("policy_id");
    }
    e.into()
}

fn configured_timeout(timeouts: &Value<RuleTimeouts>, operation: Operation) -> Option<String> {
    let Value::Value(t) = timeouts else {
        return None;
    };
    let value = match operation {
        Operation::Create => &t.create,
        Operation::Update => &t.update,
        Operation::Delete => &t.delete,
    };
    value.as_ref_option().cloned()
}

fn timeout<S: RuleState>(state: &mut S, operation: Operation) -> Duration {
    timeout_of(
        operation,
        configured_timeout(state.common().timeouts, operation).as_deref(),
    )
}

/// The creating POST without blind retries (decision 8): after a lost answer or a 500/502/504
/// the policy's rules are listed and one with this expression is adopted before posting again.
async fn post_rule(
    call: &Call,
    workload: Workload,
    tenant: &str,
    policy_id: &str,
    body: &ProtectionRule,
    dynamic: bool,
) -> Result<ProtectionRule, PostError> {
    let expression = body.expression().unwrap_or_default().to_string();
    let graph = &call.ctx.graph;
    let created = post_without_duplicates(
        || graph.create_rule(tenant, workload, policy_id, body),
        || async {
            let existing = graph.list_rules(tenant, workload, policy_id).await?;
            Ok(find_adoptable_rule(&existing, &expression, dynamic).cloned())
        },
    )
    .await;
    match created {
        Ok(rule) => Ok(rule),
        Err(e) => match gated_refusal(call, tenant, &e).await {
            Some(reason) => Err(PostError::Gated(reason)),
            None => Err(PostError::Failed(create_failed(e, tenant, policy_id))),
        },
    }
}

/// Why a creating POST did not create a rule.
enum PostError {
    /// Refused because the tenant does not allow protection changes now (decision 6): the
    /// reason to record in `deferred_reason`.
    Gated(String),
    Failed(Problem),
}

/// A refused create, with what the user can do for Graph's documented codes.
fn create_failed(e: GraphError, tenant: &str, policy_id: &str) -> Problem {
    let hint = if e.has_code("InvalidRuleExpression") {
        Some(
            "Check expression (or the groups / keywords it is built from): Graph documents `(memberOf -any (group.id -in ['<guid>']))` for OneDrive and Exchange, and `displayName -contains '<kw>'` / `webUrl -contains '<kw>'` clauses for SharePoint.",
        )
    } else if e.has_code("InvalidRuleExpressionGroupLimitExceeded") {
        Some("A rule names at most 100 groups.")
    } else if e.has_code("InvalidInclusionRuleCreateRequest") {
        Some(
            "Graph allows one dynamic rule per policy and none for SharePoint: import the existing rule, or set auto_apply = false.",
        )
    } else {
        None
    };
    let mut problem = Problem::from(&e);
    problem.detail = format!(
        "Creating an inclusion rule on policy {policy_id} in tenant {tenant} failed. {}{}",
        problem.detail,
        hint.map(|h| format!(" {h}")).unwrap_or_default()
    );
    problem
}

/// Polls until Graph no longer works on the rule (`wait_for_completion`), bounded by
/// `timeouts.<operation>`; an expiry or Ctrl-C is a warning (decision 7). The state gets what
/// Graph showed last.
async fn wait_for_completion<S: RuleState>(
    call: &mut Call,
    state: &mut S,
    target: (&str, &str, &str),
    operation: Operation,
) {
    let (tenant, policy_id, rule_id) = target;
    if state.common().wait_for_completion.as_option() != Some(true) {
        return;
    }
    let limit = timeout(state, operation);
    let deadline = tokio::time::Instant::now() + limit;
    let mut pause = FIRST_PAUSE;
    stop::listen();
    loop {
        let rule = match observe(call, S::WORKLOAD, tenant, policy_id, rule_id).await {
            Ok(Some(rule)) => rule,
            Ok(None) => return,
            Err(problem) => {
                call.warn(problem);
                return;
            }
        };
        apply_rule(state, tenant, policy_id, &rule);
        if !is_pending(rule.status.as_ref()) {
            return;
        }
        let expired = tokio::time::Instant::now() + pause > deadline;
        if expired || !stop::sleep(pause).await {
            let why = if expired {
                format!(
                    "wait_for_completion waited {} (timeouts.{})",
                    human(limit),
                    operation.name()
                )
            } else {
                "Terraform was interrupted".to_string()
            };
            call.warn(Problem::warning(
                format!("Inclusion rule {rule_id} still being applied in tenant {tenant}"),
                format!(
                    "{why} and rule {rule_id} of policy {policy_id} in tenant {tenant} is still {}. Microsoft 365 keeps applying it; the status updates on the next refresh. Raise timeouts.{} to wait longer.",
                    rule.status.as_ref().map_or("pending".to_string(), |s| s.to_string()),
                    operation.name()
                ),
            ));
            return;
        }
        pause = next_pause(pause);
    }
}

/// Polls until the rule is done (Graph deletes, runs and PATCHes only then) or gone; `None`
/// when gone. Bounded by `limit`; an expiry or Ctrl-C is an error naming what to do.
async fn wait_until_done(
    call: &Call,
    workload: Workload,
    target: (&str, &str, &str),
    limit: Duration,
    operation: Operation,
) -> Result<Option<ProtectionRule>, Problem> {
    let (tenant, policy_id, rule_id) = target;
    let deadline = tokio::time::Instant::now() + limit;
    let mut pause = FIRST_PAUSE;
    stop::listen();
    loop {
        let Some(rule) = observe(call, workload, tenant, policy_id, rule_id).await? else {
            return Ok(None);
        };
        if is_deletable(rule.status.as_ref()) {
            return Ok(Some(rule));
        }
        let status = rule
            .status
            .as_ref()
            .map_or("unknown".to_string(), |s| s.to_string());
        if tokio::time::Instant::now() + pause > deadline || !stop::sleep(pause).await {
            return Err(Problem::error(
                "Inclusion rule still being applied",
                format!(
                    "Rule {rule_id} of policy {policy_id} in tenant {tenant} is still {status} after {} (timeouts.{}), and Graph changes a rule only once it is completed. Nothing was changed; run terraform apply again later, or raise timeouts.{}.",
                    human(limit),
                    operation.name(),
                    operation.name()
                ),
            ));
        }
        pause = next_pause(pause);
    }
}

/// Creates the rule: POST (no blind retry), then decision 14's check, the wait and the
/// `completedWithErrors` warning. A deferral is recorded in state with a warning.
async fn create_rule<S: RuleState>(call: &mut Call, state: &mut S) -> Result<(), WriteError<S>> {
    let Target {
        tenant, policy_id, ..
    } = target(state)?;
    let Some(policy_id) = policy_id else {
        let reason = policy_deferred_reason(state);
        call.warn(Problem::warning(
            format!("Inclusion rule deferred in tenant {tenant}"),
            reason.clone(),
        ));
        record_deferred(state, &reason);
        return Ok(());
    };
    claim_static(state, &tenant, &policy_id)?;
    match check_create(call, state, &tenant, &policy_id, WriteSubject::NewObject).await? {
        CreateCheck::Proceed(_) => {}
        CreateCheck::Defer(reason, notice) => {
            call.warn(warning(notice));
            record_deferred(state, &reason);
            return Ok(());
        }
    }
    let Some(expression) = wanted_expression(state) else {
        return Err(WriteError::Failed(error(rules::missing_selector(
            S::WORKLOAD,
        ))));
    };
    let dynamic = dynamic_of(state);
    let auto_apply = (S::WORKLOAD != Workload::SharePoint).then_some(dynamic);
    let body = ProtectionRule::create_body(S::WORKLOAD, &expression, auto_apply);
    stop::listen();
    let created = match post_rule(call, S::WORKLOAD, &tenant, &policy_id, &body, dynamic).await {
        Ok(created) => created,
        Err(PostError::Failed(problem)) => return Err(WriteError::Failed(problem)),
        Err(PostError::Gated(reason)) => {
            call.warn(Problem::warning(
                format!("Inclusion rule deferred in tenant {tenant}"),
                format!("Graph refused to create the rule on policy {policy_id}. {reason}"),
            ));
            record_deferred(state, &reason);
            return Ok(());
        }
    };
    if let Some(n) = created_static_instead(dynamic, &created) {
        // Decision 14: a static rule where a dynamic one was asked for is deleted again.
        let target = (tenant.as_str(), policy_id.as_str(), created.id.as_str());
        let limit = timeout(state, Operation::Create);
        let cleanup =
            match wait_until_done(call, S::WORKLOAD, target, limit, Operation::Create).await {
                Ok(Some(_)) => call
                    .ctx
                    .graph
                    .delete_rule(&tenant, S::WORKLOAD, &policy_id, &created.id)
                    .await
                    .map_err(Problem::from),
                Ok(None) => Ok(()),
                Err(p) => Err(p),
            };
        let mut problem = error(n);
        problem.detail = format!("Tenant {tenant}, policy {policy_id}: {}", problem.detail);
        if let Err(p) = cleanup {
            problem.detail.push_str(&format!(
                " Deleting it failed too ({}): delete rule {} of policy {policy_id} in the admin center.",
                p.detail, created.id
            ));
        }
        return Err(WriteError::Failed(problem));
    }
    apply_rule(state, &tenant, &policy_id, &created);
    let target = (tenant.as_str(), policy_id.as_str(), created.id.as_str());
    if let Ok(Some(rule)) = observe(call, S::WORKLOAD, &tenant, &policy_id, &created.id).await {
        apply_rule(state, &tenant, &policy_id, &rule);
    }
    wait_for_completion(call, state, target, Operation::Create).await;
    report_health(call, &tenant, &policy_id, &created.id);
    Ok(())
}

/// Warns when the rule (as last read) finished with errors.
fn report_health(call: &mut Call, tenant: &str, policy_id: &str, rule_id: &str) {
    let seen = call
        .ctx
        .memo
        .get::<Seen>(&memo_key(tenant, rule_id))
        .flatten();
    if let Some(n) = seen.and_then(|rule| completed_with_errors_notice(tenant, policy_id, &rule)) {
        call.warn(warning(n));
    }
}

/// Whether two `policy_id` values name the same policy (either form, ids case-insensitive).
fn same_policy(a: &str, b: &str, tenant: &str) -> bool {
    let (Ok(a), Ok(b)) = (
        parse_policy_reference(a, "policy_id"),
        parse_policy_reference(b, "policy_id"),
    ) else {
        return a == b;
    };
    let tenant_of = |r: &crate::lifecycle::protection_policy::references::PolicyReference| {
        r.tenant_id.clone().unwrap_or_else(|| tenant.to_string())
    };
    a.policy_id.eq_ignore_ascii_case(&b.policy_id)
        && tenant_of(&a).eq_ignore_ascii_case(&tenant_of(&b))
}

/// The attributes whose change replaces an existing rule beyond the table's `replace` flags:
/// another policy (or one being replaced, its id unknown), another tenant, and a new selection
/// of a static rule (Graph cannot change it; one known only at apply may differ). A deferred
/// rule (nothing in Graph) is never replaced (decision 4).
fn replaced_attributes<S: RuleState>(prior: &S, planned: &S) -> Vec<&'static str> {
    let (mut prior, mut planned) = (prior.clone(), planned.clone());
    let Ok(Target {
        tenant,
        policy_id: Some(_),
        rule_id: Some(_),
    }) = target(&mut prior)
    else {
        return Vec::new();
    };
    let mut replace = Vec::new();
    let dynamic = dynamic_of(&prior);
    let wanted = wanted_expression(&planned);
    let had = wanted_expression(&prior);
    let selection_known = planned.selection_known();
    let expression_set = !planned.common().expression.is_null();
    let (p, n) = (prior.common(), planned.common());
    match (&*p.policy_id, &*n.policy_id) {
        (Value::Value(a), Value::Value(b)) if !same_policy(a, b, &tenant) => {
            replace.push("policy_id")
        }
        (Value::Value(_), Value::Unknown) => replace.push("policy_id"),
        _ => {}
    }
    if let (Value::Value(a), Value::Value(b)) = (&*p.tenant_id, &*n.tenant_id)
        && !a.eq_ignore_ascii_case(b)
    {
        replace.push("tenant_id");
    }
    let selection_changes = if selection_known {
        rules::needs_replacement(dynamic, had.as_deref(), wanted.as_deref())
    } else {
        !dynamic
    };
    if selection_changes {
        replace.push(if expression_set {
            "expression"
        } else {
            rules::selector_attributes(S::WORKLOAD)[0]
        });
    }
    replace
}

#[async_trait]
impl<S: RuleState> ManagedResource for InclusionRuleResource<S> {
    type State = S;
    type Private = RulePlan;

    const DESCRIPTION: &'static str = S::DESCRIPTION;
    const IMPORT: ImportId = ImportId {
        key: "policyId/ruleId",
        key_meaning: "a protection policy ID and a rule ID",
        bare_key: false,
        note: " (Graph's policy and rule IDs, as in the rule's `id`)",
        // `import` below reads the rule first; the default import is not used.
        key_attribute: "id",
        id_has_key: true,
    };

    fn validate(config: &S) -> Vec<Problem> {
        let mut config = config.clone();
        let mut plain = config.config();
        if !config.selection_known() {
            // Limits and conflicts are checked once the values are known (at plan): a set
            // with unknown members is not a short one.
            plain.group_ids = None;
            plain.site_name_keywords = None;
            plain.site_url_keywords = None;
            plain.expression = None;
        }
        let mut problems: Vec<Problem> = rules::validate(S::WORKLOAD, &plain)
            .into_iter()
            .map(error)
            .collect();
        if !config.selects_something() {
            problems.push(error(rules::missing_selector(S::WORKLOAD)));
        }
        let c = config.common();
        if let Value::Value(text) = &*c.policy_id {
            match parse_policy_reference(text, "policy_id") {
                Err(n) => problems.push(error(n)),
                // Decision 18: the reference's tenant and a configured tenant_id must agree.
                Ok(reference) => {
                    if let Value::Value(tenant) = &*c.tenant_id
                        && let Err(n) = resolve_tenant(&reference, Some(tenant), tenant)
                    {
                        problems.push(error(n));
                    }
                }
            }
        }
        for operation in [Operation::Create, Operation::Update, Operation::Delete] {
            if let Some(text) = configured_timeout(c.timeouts, operation)
                && let Err(n) = validate_timeout(operation, &text)
            {
                problems.push(error(n));
            }
        }
        problems
    }

    fn referenced_tenant(state: &S) -> Value<String> {
        let mut state = state.clone();
        match &*state.common().policy_id {
            Value::Value(text) => match parse_policy_reference(text, "policy_id") {
                Ok(reference) => reference.tenant_id.map_or(Value::Null, Value::Value),
                Err(_) => Value::Null,
            },
            Value::Unknown => Value::Unknown,
            Value::Null => Value::Null,
        }
    }

    async fn plan_replacement(
        &self,
        call: &mut Call,
        prior: &S,
        planned: &S,
        table: &[&'static str],
    ) -> Result<Vec<&'static str>, Problem> {
        let replace = replaced_attributes(prior, planned);
        let mut prior = prior.clone();
        if let Ok(Target {
            tenant,
            policy_id: Some(policy_id),
            rule_id: Some(rule_id),
        }) = target(&mut prior)
            && (!replace.is_empty() || !table.is_empty())
        {
            // The create planned next ignores this rule in the one-dynamic-rule check.
            call.ctx
                .memo
                .put(replaced_key(&tenant, &policy_id), rule_id);
        }
        Ok(replace)
    }

    async fn read(
        &self,
        call: &mut Call,
        mut state: S,
        private: RulePlan,
    ) -> Result<Option<(S, RulePlan)>, Problem> {
        let Target {
            tenant,
            policy_id,
            rule_id,
        } = target(&mut state)?;
        let (Some(policy_id), Some(rule_id)) = (policy_id, rule_id) else {
            return Ok(Some((state, private))); // deferred: nothing in Graph to read
        };
        let Some(rule) = observe(call, S::WORKLOAD, &tenant, &policy_id, &rule_id).await? else {
            return Ok(None);
        };
        apply_rule(&mut state, &tenant, &policy_id, &rule);
        report_health(call, &tenant, &policy_id, &rule_id);
        Ok(Some((state, private)))
    }

    async fn plan_create(
        &self,
        call: &mut Call,
        mut planned: S,
        _config: &S,
    ) -> Result<(S, RulePlan), Problem> {
        let write = RulePlan { write: true };
        if planned.common().tenant_id.is_unknown() || planned.common().policy_id.is_unknown() {
            return Ok((planned, write)); // the policy is created in this apply
        }
        let Target {
            tenant, policy_id, ..
        } = target(&mut planned)?;
        let Some(policy_id) = policy_id else {
            let reason = policy_deferred_reason(&mut planned);
            call.warn(Problem::warning(
                format!("Inclusion rule deferred in tenant {tenant}"),
                reason.clone(),
            ));
            record_deferred(&mut planned, &reason);
            return Ok((planned, RulePlan::default()));
        };
        claim_static(&planned, &tenant, &policy_id)?;
        match check_create(call, &planned, &tenant, &policy_id, WriteSubject::NewObject).await? {
            CreateCheck::Proceed(n) => n.into_iter().for_each(|n| call.warn(warning(n))),
            // Apply decides again and records the deferral.
            CreateCheck::Defer(_, n) => call.warn(warning(n)),
        }
        Ok((planned, write))
    }

    async fn plan_update(
        &self,
        call: &mut Call,
        prior: &S,
        mut planned: S,
        config: &S,
        _private: RulePlan,
    ) -> Result<(S, RulePlan), Problem> {
        let nothing = RulePlan::default();
        let mut prior = prior.clone();
        let Target {
            tenant,
            policy_id: prior_policy,
            rule_id,
        } = target(&mut prior)?;
        let Some(rule_id) = rule_id else {
            // Deferred create (decision 4): propose it once nothing stands in the way.
            if planned.common().policy_id.is_unknown() || planned.common().tenant_id.is_unknown() {
                planned.unknown_on_create();
                return Ok((planned, RulePlan { write: true }));
            }
            let Target {
                tenant, policy_id, ..
            } = target(&mut planned)?;
            let Some(policy_id) = policy_id else {
                // Still waiting for the policy: the recorded reason stays.
                return Ok((planned, nothing));
            };
            return match check_create(
                call,
                &planned,
                &tenant,
                &policy_id,
                WriteSubject::DeferredObject,
            )
            .await?
            {
                CreateCheck::Proceed(n) => {
                    let n = n.unwrap_or_else(|| {
                        Notice::new(
                            format!("The deferred inclusion rule can be created in tenant {tenant}"),
                            format!(
                                "Policy {policy_id} in tenant {tenant} now exists, so the rule is created by this apply; its id and computed values are known after apply."
                            ),
                        )
                    });
                    call.warn(warning(n));
                    planned.unknown_on_create();
                    Ok((planned, RulePlan { write: true }))
                }
                CreateCheck::Defer(_, n) => {
                    call.warn(warning(n));
                    Ok((planned, nothing))
                }
            };
        };
        let Some(policy_id) = prior_policy else {
            return Ok((planned, nothing));
        };
        claim_static(&prior, &tenant, &policy_id)?;
        let Some(rule) = observe_shared(call, S::WORKLOAD, &tenant, &policy_id, &rule_id).await?
        else {
            return Ok((planned, nothing));
        };
        let wanted = wanted_expression(config).filter(|_| config.selection_known());
        let Some(wanted) = wanted else {
            // An unknown selector: known at apply, where the update is decided again.
            planned.unknown_on_change();
            return Ok((planned, RulePlan { write: true }));
        };
        let triggers_changed = prior.rerun_triggers() != config.rerun_triggers();
        let update = rules::plan_update(
            dynamic_of(&prior),
            rule.expression(),
            &wanted,
            triggers_changed,
        );
        if update == RuleUpdate::Nothing {
            return Ok((planned, nothing));
        }
        let what = format!(
            "{} {rule_id} of policy {policy_id} in tenant {tenant}",
            what(&prior)
        );
        match decide_write(
            &gate(call, &tenant).await?,
            WriteSubject::ExistingObject,
            &what,
        ) {
            WriteDecision::Proceed(n) => {
                n.into_iter().for_each(|n| call.warn(warning(n)));
                planned.unknown_on_change();
                Ok((planned, RulePlan { write: true }))
            }
            WriteDecision::Defer { notice: n, .. } | WriteDecision::WarnOnly(n) => {
                call.warn(warning(n));
                Ok((planned, nothing))
            }
        }
    }

    async fn create(
        &self,
        call: &mut Call,
        mut state: S,
        _config: &S,
        _private: RulePlan,
    ) -> Result<(S, RulePlan), WriteError<S>> {
        create_rule(call, &mut state).await?;
        Ok((state, RulePlan::default()))
    }

    async fn update(
        &self,
        call: &mut Call,
        prior: &S,
        mut state: S,
        config: &S,
        private: RulePlan,
    ) -> Result<(S, RulePlan), WriteError<S>> {
        let mut prior = prior.clone();
        let Target {
            tenant,
            policy_id: prior_policy,
            rule_id,
        } = target(&mut prior)?;
        if !private.write {
            // A change of state only (or one that still waits): recorded without a Graph call.
            state.copy_computed_from(&prior);
            return Ok((state, RulePlan::default()));
        }
        let (Some(rule_id), Some(policy_id)) = (rule_id, prior_policy) else {
            create_rule(call, &mut state).await?;
            return Ok((state, RulePlan::default()));
        };
        let target3 = (tenant.as_str(), policy_id.as_str(), rule_id.as_str());
        let Some(rule) = observe(call, S::WORKLOAD, &tenant, &policy_id, &rule_id).await? else {
            return Err(WriteError::Failed(Problem::error(
                "Inclusion rule not found",
                format!(
                    "Rule {rule_id} of policy {policy_id} no longer exists in tenant {tenant}; run terraform plan again to recreate it."
                ),
            )));
        };
        let Some(wanted) = wanted_expression(config) else {
            return Err(WriteError::Failed(error(rules::missing_selector(
                S::WORKLOAD,
            ))));
        };
        let triggers_changed = prior.rerun_triggers() != config.rerun_triggers();
        let update = rules::plan_update(
            dynamic_of(&prior),
            rule.expression(),
            &wanted,
            triggers_changed,
        );
        let graph = &call.ctx.graph;
        // Graph changes or runs a rule only once it is done with the last change.
        let limit = timeout(&mut state, Operation::Update);
        let sent: Result<(), (Problem, Option<GraphError>)> = match &update {
            RuleUpdate::Nothing => Ok(()),
            RuleUpdate::Patch(_) | RuleUpdate::Run => {
                match wait_until_done(call, S::WORKLOAD, target3, limit, Operation::Update).await {
                    Err(p) => Err((p, None)),
                    Ok(None) => Err((
                        Problem::error(
                            "Inclusion rule not found",
                            format!(
                                "Rule {rule_id} of policy {policy_id} disappeared from tenant {tenant} during the update; run terraform plan again to recreate it."
                            ),
                        ),
                        None,
                    )),
                    Ok(Some(_)) => {
                        let (action, outcome) = match &update {
                            RuleUpdate::Patch(expression) => (
                                "update",
                                graph
                                    .patch_rule_expression(
                                        &tenant,
                                        S::WORKLOAD,
                                        &policy_id,
                                        &rule_id,
                                        expression,
                                    )
                                    .await
                                    .map(|_| ()),
                            ),
                            _ => ("run", run_with_backoff(call, S::WORKLOAD, target3).await),
                        };
                        outcome
                            .map_err(|e| (rule_write_failed(e.clone(), action, target3), Some(e)))
                    }
                }
            }
        };
        if let Err((problem, refused)) = sent {
            let gated = match &refused {
                Some(e) => gated_refusal(call, &tenant, e).await,
                None => None,
            };
            if let Some(reason) = gated {
                // Decision 6: the change waits; the next plan proposes it again (a run waits
                // for the next change of rerun_triggers).
                call.warn(Problem::warning(
                    format!("Change of inclusion rule {rule_id} deferred in tenant {tenant}"),
                    format!(
                        "Graph refused to change rule {rule_id} of policy {policy_id}. {reason}"
                    ),
                ));
                state.copy_computed_from(&prior);
                return Ok((state, RulePlan::default()));
            }
            let mut kept = prior.clone();
            if let Ok(Some(rule)) = observe(call, S::WORKLOAD, &tenant, &policy_id, &rule_id).await
            {
                apply_rule(&mut kept, &tenant, &policy_id, &rule);
            }
            return Err(WriteError::Partial(kept, problem));
        }
        if let Ok(Some(rule)) = observe(call, S::WORKLOAD, &tenant, &policy_id, &rule_id).await {
            apply_rule(&mut state, &tenant, &policy_id, &rule);
        }
        wait_for_completion(call, &mut state, target3, Operation::Update).await;
        report_health(call, &tenant, &policy_id, &rule_id);
        Ok((state, RulePlan::default()))
    }

    async fn delete(
        &self,
        call: &mut Call,
        mut prior: S,
        _private: RulePlan,
    ) -> Result<(), Problem> {
        let Target {
            tenant,
            policy_id,
            rule_id,
        } = target(&mut prior)?;
        let (Some(policy_id), Some(rule_id)) = (policy_id, rule_id) else {
            return Ok(()); // deferred: nothing in Graph
        };
        let target3 = (tenant.as_str(), policy_id.as_str(), rule_id.as_str());
        if let Gate::Deferred(reason) = gate(call, &tenant).await? {
            // Decision 4: we no longer control the tenant; the rule stays in Graph.
            call.warn(Problem::warning(
                format!("Inclusion rule {rule_id} left in tenant {tenant}"),
                format!(
                    "Rule {rule_id} of policy {policy_id} was removed from the Terraform state but not deleted in tenant {tenant}: this app cannot change protection there now. {reason}"
                ),
            ));
            return Ok(());
        }
        let limit = timeout(&mut prior, Operation::Delete);
        let deadline = tokio::time::Instant::now() + limit;
        let unprotect =
            prior.common().unprotect_on_destroy.as_option() == Some(true) && dynamic_of(&prior);
        let Some(rule) =
            wait_until_done(call, S::WORKLOAD, target3, limit, Operation::Delete).await?
        else {
            return Ok(()); // already gone
        };
        let unprotect = unprotect && rule.is_auto_apply_enabled != Some(false);
        let graph = &call.ctx.graph;
        let sent = if unprotect {
            graph
                .delete_and_unprotect_rule(&tenant, S::WORKLOAD, &policy_id, &rule_id)
                .await
        } else {
            graph
                .delete_rule(&tenant, S::WORKLOAD, &policy_id, &rule_id)
                .await
        };
        match sent {
            Err(e) if !e.is_not_found() => {
                if let Some(reason) = gated_refusal(call, &tenant, &e).await {
                    call.warn(Problem::warning(
                        format!("Inclusion rule {rule_id} left in tenant {tenant}"),
                        format!(
                            "Graph refused to delete rule {rule_id} of policy {policy_id}; it was removed from the Terraform state but stays in tenant {tenant}. {reason}"
                        ),
                    ));
                    return Ok(());
                }
                return Err(rule_write_failed(e, "delete", target3));
            }
            _ => {}
        }
        // Decision 14: destroy returns once the rule is gone, so that a rule replacing it (the
        // one dynamic rule a policy may have) can be created.
        let mut pause = FIRST_PAUSE;
        loop {
            if observe(call, S::WORKLOAD, &tenant, &policy_id, &rule_id)
                .await?
                .is_none()
            {
                return Ok(());
            }
            if tokio::time::Instant::now() + pause > deadline || !stop::sleep(pause).await {
                call.warn(Problem::warning(
                    format!("Inclusion rule {rule_id} still being deleted in tenant {tenant}"),
                    format!(
                        "Graph accepted the deletion{} of rule {rule_id} of policy {policy_id} in tenant {tenant}, but it was still listed after {} (timeouts.delete). Graph finishes it by itself; a new dynamic rule on this policy waits until then.",
                        if unprotect { " (and unprotection of its units)" } else { "" },
                        human(limit)
                    ),
                ));
                return Ok(());
            }
            pause = next_pause(pause);
        }
    }

    async fn import(
        &self,
        call: &mut Call,
        tenant: String,
        key: String,
    ) -> Result<(S, RulePlan), Problem> {
        let Some((policy_id, rule_id)) = key.split_once('/') else {
            return Err(Problem::error(
                "Invalid import ID",
                format!("Import IDs are `<tenantId>/<policyId>/<ruleId>`; got {key:?}."),
            ));
        };
        let Some(rule) = call
            .ctx
            .graph
            .get_rule(&tenant, S::WORKLOAD, policy_id, rule_id)
            .await?
        else {
            return Err(Problem::error(
                "Cannot import inclusion rule",
                format!(
                    "Rule {rule_id} was not found in policy {policy_id} of tenant {tenant}. Check that the policy is a {} policy (rules are imported with the resource of their policy's workload) and the ids are current.",
                    S::WORKLOAD.name()
                ),
            ));
        };
        let mut state = S::default();
        {
            let c = state.common();
            *c.tenant_id = Value::Value(tenant.clone());
            *c.policy_id = Value::Value(format!("{tenant}/{policy_id}"));
        }
        state.set_auto_apply(rule.is_auto_apply_enabled.or(Some(true)));
        apply_rule(&mut state, &tenant, policy_id, &rule);
        state.fill_defaults();
        Ok((state, RulePlan::default()))
    }
}

/// `run` without blind retries (decision 8): throttling is retried with backoff.
async fn run_with_backoff(
    call: &Call,
    workload: Workload,
    target: (&str, &str, &str),
) -> Result<(), GraphError> {
    let (tenant, policy_id, rule_id) = target;
    let mut pause = Duration::from_secs(1);
    let mut attempt = 0;
    loop {
        attempt += 1;
        match call
            .ctx
            .graph
            .run_rule(tenant, workload, policy_id, rule_id)
            .await
        {
            Ok(()) => return Ok(()),
            Err(e) if attempt < 4 && throttled(&e) && !stop::requested() => {
                if !stop::sleep(pause).await {
                    return Err(e);
                }
                pause *= 2;
            }
            Err(e) => return Err(e),
        }
    }
}

/// A refused write to an existing rule, naming it and what to do for Graph's state errors.
fn rule_write_failed(e: GraphError, action: &str, target: (&str, &str, &str)) -> Problem {
    let (tenant, policy_id, rule_id) = target;
    let hint = if e.has_code("PatchNotAllowedForStaticRule") {
        " Graph changes static rules only by replacement: run terraform plan again."
    } else if e.is_status(422) || e.has_code("ProtectionRuleActionNotAllowed") {
        " The rule is still being processed (or being deleted): run terraform apply again once its status is completed."
    } else {
        ""
    };
    let mut problem = Problem::from(&e);
    problem.detail = format!(
        "Could not {action} rule {rule_id} of policy {policy_id} in tenant {tenant}. {}{hint}",
        problem.detail
    );
    problem
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guid(n: u128) -> String {
        uuid::Uuid::from_u128(n).to_string()
    }

    fn exchange(groups: &[String]) -> ExchangeRuleState {
        ExchangeRuleState {
            tenant_id: Value::Value(guid(1)),
            policy_id: Value::Value(format!("{}/{}", guid(1), guid(2))),
            group_ids: set_value(groups.to_vec()),
            ..ExchangeRuleState::default()
        }
    }

    fn graph_rule(expression: &str, dynamic: Option<bool>) -> ProtectionRule {
        let mut rule = ProtectionRule::create_body(Workload::Exchange, expression, dynamic);
        rule.id = guid(3);
        rule.status = Some(crate::graph::api::protection::ProtectionRuleStatus::Completed);
        rule
    }

    #[test]
    fn replacement_only_for_an_existing_rule_moved_or_a_changed_static_one() {
        let (t, p) = (guid(1), guid(2));
        let mut prior = exchange(&[guid(10)]);
        prior.auto_apply = Value::Value(true);
        prior.id = Value::Value(format!("{t}/{p}/{}", guid(3)));
        let mut planned = prior.clone();
        assert!(replaced_attributes(&prior, &planned).is_empty());
        planned.policy_id = Value::Value(p.to_uppercase());
        assert!(
            replaced_attributes(&prior, &planned).is_empty(),
            "the same policy, another form"
        );
        planned.policy_id = Value::Unknown;
        assert_eq!(
            replaced_attributes(&prior, &planned),
            ["policy_id"],
            "the policy is replaced"
        );
        planned.policy_id = Value::Value(format!("{t}/{}", guid(4)));
        assert_eq!(replaced_attributes(&prior, &planned), ["policy_id"]);
        let mut groups = prior.clone();
        groups.group_ids = set_value(vec![guid(11)]);
        assert!(
            replaced_attributes(&prior, &groups).is_empty(),
            "dynamic: PATCH"
        );
        let (mut static_prior, mut static_groups) = (prior.clone(), groups.clone());
        static_prior.auto_apply = Value::Value(false);
        static_groups.auto_apply = Value::Value(false);
        assert_eq!(
            replaced_attributes(&static_prior, &static_groups),
            ["group_ids"]
        );
        static_groups.group_ids = Value::Unknown;
        assert_eq!(
            replaced_attributes(&static_prior, &static_groups),
            ["group_ids"],
            "unknown: may differ"
        );
        let mut deferred = static_prior.clone();
        deferred.id = Value::Null;
        deferred.policy_id = Value::Null;
        assert!(
            replaced_attributes(&deferred, &static_groups).is_empty(),
            "deferred: in place"
        );
    }

    #[test]
    fn policy_references_compare_across_forms() {
        let (t, p) = (guid(1), guid(2));
        assert!(same_policy(&format!("{t}/{p}"), &p.to_uppercase(), &t));
        assert!(!same_policy(&format!("{t}/{p}"), &guid(9), &t));
        assert!(!same_policy(&format!("{}/{p}", guid(8)), &p, &t));
    }

    #[test]
    fn graphs_spelling_keeps_the_configuration_and_other_expressions_show_as_drift() {
        let groups = vec![guid(10).to_uppercase(), guid(11)];
        let mut state = exchange(&groups);
        let echoed = rules::group_expression(&groups).to_lowercase();
        apply_rule(&mut state, &guid(1), &guid(2), &graph_rule(&echoed, None));
        assert_eq!(
            state.group_ids,
            set_value(groups.clone()),
            "same selection, configured spelling"
        );
        assert_eq!(state.auto_apply, Value::Null, "a null flag changes nothing");
        assert_eq!(
            state.id,
            Value::Value(format!("{}/{}/{}", guid(1), guid(2), guid(3)))
        );

        apply_rule(
            &mut state,
            &guid(1),
            &guid(2),
            &graph_rule(&rules::group_expression(&[guid(12)]), Some(true)),
        );
        assert_eq!(
            state.group_ids,
            set_value(vec![guid(12)]),
            "drift shows in group_ids"
        );
        assert_eq!(state.auto_apply, Value::Value(true));

        apply_rule(
            &mut state,
            &guid(1),
            &guid(2),
            &graph_rule("(something else)", Some(true)),
        );
        assert_eq!(state.group_ids, Value::Null);
        assert_eq!(state.expression, Value::Value("(something else)".into()));
    }

    #[test]
    fn a_keyword_side_left_null_stays_null() {
        let mut state = SharePointRuleState {
            site_name_keywords: set_value(vec!["Finance".into()]),
            ..SharePointRuleState::default()
        };
        state.set_selection(rules::parse_expression(
            Workload::SharePoint,
            "(displayName -contains 'Legal')",
        ));
        assert_eq!(state.site_name_keywords, set_value(vec!["Legal".into()]));
        assert_eq!(state.site_url_keywords, Value::Null);
    }

    #[test]
    fn sets_known_only_later_are_not_checked_against_limits() {
        let mut state = exchange(&[]);
        state.group_ids = Value::Value(StringSet(vec![Value::Unknown]));
        assert!(!state.selection_known());
        assert!(InclusionRuleResource::<ExchangeRuleState>::validate(&state).is_empty());
        state.group_ids = set_value(vec![]);
        let problems = InclusionRuleResource::<ExchangeRuleState>::validate(&state);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].attribute, Some("group_ids"));
    }

    #[test]
    fn the_policys_tenant_must_match_tenant_id() {
        let mut state = exchange(&[guid(10)]);
        state.tenant_id = Value::Value(guid(7));
        let problems = InclusionRuleResource::<ExchangeRuleState>::validate(&state);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].attribute, Some("tenant_id"));
        assert_eq!(
            InclusionRuleResource::<ExchangeRuleState>::referenced_tenant(&exchange(&[])),
            Value::Value(guid(1))
        );
    }

    #[test]
    fn nothing_selected_is_an_error_naming_the_selector() {
        let state = ExchangeRuleState {
            policy_id: Value::Value(guid(2)),
            ..ExchangeRuleState::default()
        };
        let problems = InclusionRuleResource::<ExchangeRuleState>::validate(&state);
        assert_eq!(problems.len(), 1);
        assert!(problems[0].detail.contains("group_ids"));
    }
}
