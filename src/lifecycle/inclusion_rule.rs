//! Inclusion rules as pure decisions: the expression built from the configuration, plan-time
//! limits, what an update sends, the one-dynamic-rule check, how a created rule is judged, and
//! what the user is told. The three rule resources (one generic implementation, see
//! [`crate::resources::inclusion_rule`]) only translate.
//!
//! Binding decisions of `provider-spec.md` ("Part 2 — protection") implemented here: 3 (a
//! second dynamic rule is a deferral naming the existing one, never a plan-time error), 8
//! (adoption of a rule with the same expression after a lost create), 14 (dynamic rules: a
//! create that comes back static is an error, a null flag is never a diff, the rule being
//! replaced is ignored, SharePoint rules are static, attribute combinations checked at plan,
//! `completedWithErrors` warns) and 18 (import id `<tenantId>/<policyId>/<ruleId>`).

use crate::graph::api::protection::{ProtectionRule, ProtectionRuleStatus, Workload};
use crate::ids::is_guid;

use super::protection_policy::notices::{Notice, bounded_lines};

/// At most this many group ids in one expression (Graph: 413 above).
pub const MAX_GROUPS: usize = 100;
/// At most this many keywords in a site rule (name and url keywords together).
pub const MAX_KEYWORDS: usize = 10;
/// Keyword length bounds, in characters.
pub const KEYWORD_LENGTH: std::ops::RangeInclusive<usize> = 3..=255;

/// What the configuration says about one rule, free of Terraform types. `None` is an argument
/// left out (or not known yet).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuleConfig {
    pub group_ids: Option<Vec<String>>,
    pub site_name_keywords: Option<Vec<String>>,
    pub site_url_keywords: Option<Vec<String>>,
    pub expression: Option<String>,
    /// `auto_apply` (OneDrive and Exchange only; SharePoint rules have no such attribute).
    pub auto_apply: Option<bool>,
    pub unprotect_on_destroy: Option<bool>,
    /// Whether `rerun_triggers` is set (to anything, even an empty map).
    pub has_rerun_triggers: bool,
}

/// Whether a rule of `workload` is dynamic: SharePoint rules never are; otherwise
/// `auto_apply`, default true.
pub fn is_dynamic(workload: Workload, auto_apply: Option<bool>) -> bool {
    workload != Workload::SharePoint && auto_apply.unwrap_or(true)
}

/// The attributes that select what a rule of `workload` protects, besides `expression`.
pub fn selector_attributes(workload: Workload) -> &'static [&'static str] {
    match workload {
        Workload::SharePoint => &["site_name_keywords", "site_url_keywords"],
        Workload::OneDrive | Workload::Exchange => &["group_ids"],
    }
}

/// Plan-time checks of what the configuration alone decides (decision 3: nothing about the
/// tenant here). Every notice names its attribute.
pub fn validate(workload: Workload, config: &RuleConfig) -> Vec<Notice> {
    let mut problems = Vec::new();
    let selectors = selector_attributes(workload);
    let selector_set = config.group_ids.is_some()
        || config.site_name_keywords.is_some()
        || config.site_url_keywords.is_some();
    if config.expression.is_some() && selector_set {
        problems.push(Notice::on(
            "expression",
            format!("Conflicting expression and {}", selectors.join(" / ")),
            format!(
                "Set either expression (a raw Graph rule expression) or {} (the provider builds the expression), not both.",
                selectors.join(" / ")
            ),
        ));
    }
    if let Some(expression) = &config.expression
        && expression.trim().is_empty()
    {
        problems.push(Notice::on(
            "expression",
            "Empty expression",
            "expression is empty: write a Graph rule expression, or remove it and use the other arguments.",
        ));
    }
    if let Some(groups) = &config.group_ids {
        problems.extend(validate_groups(groups));
    }
    let names = config.site_name_keywords.as_deref().unwrap_or_default();
    let urls = config.site_url_keywords.as_deref().unwrap_or_default();
    if config.site_name_keywords.is_some() || config.site_url_keywords.is_some() {
        problems.extend(validate_keywords("site_name_keywords", names));
        problems.extend(validate_keywords("site_url_keywords", urls));
        let total = names.len() + urls.len();
        if total == 0 {
            problems.push(Notice::on(
                "site_name_keywords",
                "No keyword",
                "site_name_keywords and site_url_keywords are both empty: give at least one keyword, or remove them and use expression.",
            ));
        } else if total > MAX_KEYWORDS {
            problems.push(Notice::on(
                "site_name_keywords",
                "Too many keywords",
                format!(
                    "site_name_keywords and site_url_keywords hold {total} keywords together; a SharePoint rule takes at most {MAX_KEYWORDS}. Split them across policies, or write expression yourself."
                ),
            ));
        }
    }
    let dynamic = is_dynamic(workload, config.auto_apply);
    if config.unprotect_on_destroy == Some(true) && !dynamic {
        problems.push(Notice::on(
            "unprotect_on_destroy",
            "unprotect_on_destroy needs a dynamic rule",
            format!(
                "{} Graph can unprotect the units of a dynamic rule only; the units of a static rule stay protected when it is deleted (remove them from the policy instead). Remove unprotect_on_destroy{}.",
                static_reason(workload),
                if workload == Workload::SharePoint { "" } else { ", or set auto_apply = true" }
            ),
        ));
    }
    if config.has_rerun_triggers && dynamic {
        problems.push(Notice::on(
            "rerun_triggers",
            "rerun_triggers needs a static rule",
            "This rule is dynamic (auto_apply = true, the default): Graph re-evaluates it by itself and refuses to run it. Remove rerun_triggers, or set auto_apply = false for a rule that is applied once and again on each change of rerun_triggers.",
        ));
    }
    problems
}

/// The requirement that the configuration selects something: checked only once every argument
/// is known (an unknown set is not "missing").
pub fn missing_selector(workload: Workload) -> Notice {
    let selectors = selector_attributes(workload);
    Notice::on(
        selectors[0],
        "Nothing selected",
        format!(
            "Set {} (the provider builds the rule expression) or expression (a raw Graph rule expression).",
            selectors.join(" / ")
        ),
    )
}

fn static_reason(workload: Workload) -> &'static str {
    if workload == Workload::SharePoint {
        "SharePoint rules are always static."
    } else {
        "This rule is static (auto_apply = false)."
    }
}

fn validate_groups(groups: &[String]) -> Vec<Notice> {
    let mut problems = Vec::new();
    if groups.is_empty() || groups.len() > MAX_GROUPS {
        problems.push(Notice::on(
            "group_ids",
            "Wrong number of groups",
            format!(
                "group_ids holds {} ids; a rule takes 1 to {MAX_GROUPS} groups (Graph's limit per expression). Split larger sets across rules of different policies, or nest them in fewer groups.",
                groups.len()
            ),
        ));
    }
    let bad: Vec<&str> = groups
        .iter()
        .filter(|g| !is_guid(g))
        .map(String::as_str)
        .collect();
    if !bad.is_empty() {
        let lines = bounded_lines(bad.iter().map(|b| format!("{b:?}")).collect());
        problems.push(Notice::on(
            "group_ids",
            "Invalid group id",
            format!(
                "group_ids takes Entra group object ids (GUIDs); these are not: {}.",
                lines.join(", ")
            ),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    let duplicates: Vec<&str> = groups
        .iter()
        .filter(|g| !seen.insert(g.to_ascii_lowercase()))
        .map(String::as_str)
        .collect();
    if !duplicates.is_empty() {
        problems.push(Notice::on(
            "group_ids",
            "Duplicate group id",
            format!(
                "group_ids lists these ids twice (ids compare case-insensitively): {}.",
                duplicates.join(", ")
            ),
        ));
    }
    problems
}

fn validate_keywords(attribute: &'static str, keywords: &[String]) -> Vec<Notice> {
    let bad: Vec<String> = keywords
        .iter()
        .filter(|k| !KEYWORD_LENGTH.contains(&k.chars().count()))
        .map(|k| format!("{k:?} ({} characters)", k.chars().count()))
        .collect();
    if bad.is_empty() {
        return Vec::new();
    }
    vec![Notice::on(
        attribute,
        "Keyword length out of range",
        format!(
            "{attribute}: each keyword has {} to {} characters (Graph's limit); these do not: {}.",
            KEYWORD_LENGTH.start(),
            KEYWORD_LENGTH.end(),
            bounded_lines(bad).join(", ")
        ),
    )]
}

/// A single-quoted expression literal (`'` doubled).
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Case-insensitive order, so that a set's order in Terraform never changes the expression.
fn sorted(items: &[String]) -> Vec<&String> {
    let mut items: Vec<&String> = items.iter().collect();
    items.sort_by_key(|s| (s.to_lowercase(), (*s).clone()));
    items
}

/// `(memberOf -any (group.id -in ['…','…']))`.
pub fn group_expression(groups: &[String]) -> String {
    let list: Vec<String> = sorted(groups).into_iter().map(|g| quote(g)).collect();
    format!("(memberOf -any (group.id -in [{}]))", list.join(", "))
}

/// `(displayName -contains '…')` / `(webUrl -contains '…')` clauses joined with `-or`, the
/// whole in parentheses when there are several (Graph's documented form).
pub fn site_expression(names: &[String], urls: &[String]) -> String {
    let clauses: Vec<String> = sorted(names)
        .into_iter()
        .map(|k| format!("(displayName -contains {})", quote(k)))
        .chain(
            sorted(urls)
                .into_iter()
                .map(|k| format!("(webUrl -contains {})", quote(k))),
        )
        .collect();
    match clauses.as_slice() {
        [one] => one.clone(),
        _ => format!("({})", clauses.join(" -or ")),
    }
}

/// The expression the configuration asks for; `None` when it selects nothing.
pub fn build_expression(workload: Workload, config: &RuleConfig) -> Option<String> {
    if let Some(expression) = &config.expression {
        return Some(expression.clone());
    }
    match workload {
        Workload::SharePoint => {
            let names = config.site_name_keywords.as_deref().unwrap_or_default();
            let urls = config.site_url_keywords.as_deref().unwrap_or_default();
            (!names.is_empty() || !urls.is_empty()).then(|| site_expression(names, urls))
        }
        Workload::OneDrive | Workload::Exchange => {
            config.group_ids.as_deref().map(group_expression)
        }
    }
}

/// An expression as Graph may echo it: whitespace collapsed around tokens, keywords and
/// operators compared case-insensitively.
pub fn normalize(expression: &str) -> String {
    let mut out = String::new();
    let mut in_quote = false;
    let mut pending_space = false;
    for c in expression.chars() {
        if c == '\'' {
            in_quote = !in_quote;
        }
        if !in_quote && c.is_whitespace() {
            pending_space = true;
            continue;
        }
        if pending_space {
            let last = out.chars().last();
            if !matches!(last, None | Some('(' | '[' | ',')) && !matches!(c, ')' | ']' | ',') {
                out.push(' ');
            }
            pending_space = false;
        }
        out.extend(c.to_lowercase());
    }
    out
}

/// Whether two expressions select the same thing as far as text can tell.
pub fn same_expression(a: &str, b: &str) -> bool {
    normalize(a) == normalize(b)
}

/// The quoted literals of an expression, in order.
fn literals(expression: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = expression.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\'' {
            continue;
        }
        let mut current = String::new();
        while let Some(c) = chars.next() {
            if c == '\'' {
                if chars.peek() == Some(&'\'') {
                    chars.next();
                    current.push('\'');
                    continue;
                }
                break;
            }
            current.push(c);
        }
        out.push(current);
    }
    out
}

/// What an expression read from Graph becomes in state: the provider's own forms go back to
/// `group_ids` or the keyword sets, anything else stays a raw `expression`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selection {
    Groups(Vec<String>),
    Keywords {
        names: Vec<String>,
        urls: Vec<String>,
    },
    Raw(String),
}

/// Reads an expression back (import, drift).
pub fn parse_expression(workload: Workload, expression: &str) -> Selection {
    let raw = || Selection::Raw(expression.to_string());
    match workload {
        Workload::OneDrive | Workload::Exchange => {
            let groups = literals(expression);
            if groups.is_empty() || !same_expression(&group_expression(&groups), expression) {
                return raw();
            }
            Selection::Groups(groups)
        }
        Workload::SharePoint => {
            let (mut names, mut urls) = (Vec::new(), Vec::new());
            let flat = normalize(expression);
            // Each clause names its field; the literals come in clause order.
            let fields: Vec<bool> = flat
                .match_indices("-contains")
                .map(|(at, _)| flat[..at].trim_end().ends_with("displayname"))
                .collect();
            let words = literals(expression);
            if words.is_empty() || fields.len() != words.len() {
                return raw();
            }
            for (is_name, word) in fields.into_iter().zip(words) {
                if is_name {
                    names.push(word)
                } else {
                    urls.push(word)
                }
            }
            if !same_expression(&site_expression(&names, &urls), expression) {
                return raw();
            }
            Selection::Keywords { names, urls }
        }
    }
}

/// What an update of an existing rule sends (a static rule whose selection changed is
/// replaced instead: [`needs_replacement`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RuleUpdate {
    /// Only state changes (wait settings, `unprotect_on_destroy`).
    Nothing,
    /// PATCH the dynamic rule's expression.
    Patch(String),
    /// `run` the static rule again (`rerun_triggers` changed).
    Run,
}

/// The update of a rule that exists in Graph, from its expression there and the configuration.
pub fn plan_update(
    dynamic: bool,
    observed_expression: Option<&str>,
    wanted_expression: &str,
    triggers_changed: bool,
) -> RuleUpdate {
    let differs = observed_expression.is_none_or(|seen| !same_expression(seen, wanted_expression));
    match (dynamic, differs) {
        (true, true) => RuleUpdate::Patch(wanted_expression.to_string()),
        (false, _) if triggers_changed => RuleUpdate::Run,
        _ => RuleUpdate::Nothing,
    }
}

/// Decision 14 and the spec's table: a static rule cannot be changed, so a change of what it
/// selects replaces it. (`auto_apply` itself is `replace = true` in the table.)
pub fn needs_replacement(
    dynamic: bool,
    prior_expression: Option<&str>,
    wanted: Option<&str>,
) -> bool {
    match (prior_expression, wanted) {
        (Some(prior), Some(wanted)) => !dynamic && !same_expression(prior, wanted),
        _ => false,
    }
}

/// Decision 3: a dynamic rule to create on a policy that already has one (Graph allows one)
/// waits, with a warning naming the existing rule. `replacing` is the rule this one replaces
/// (ignored: it is destroyed first). `None` when nothing stands in the way.
pub fn blocking_dynamic_rule<'r>(
    rules: &'r [ProtectionRule],
    replacing: Option<&str>,
) -> Option<&'r ProtectionRule> {
    rules.iter().find(|rule| {
        rule.is_auto_apply_enabled == Some(true)
            && !replacing.is_some_and(|r| r.eq_ignore_ascii_case(&rule.id))
    })
}

/// The deferral reason and warning for [`blocking_dynamic_rule`].
pub fn second_dynamic_rule_reason(
    tenant_id: &str,
    policy_id: &str,
    existing: &ProtectionRule,
    resource_type: &str,
) -> String {
    let status = existing
        .status
        .as_ref()
        .map(|s| format!(", status {s}"))
        .unwrap_or_default();
    format!(
        "Tenant {tenant_id}: policy {policy_id} already has a dynamic inclusion rule, {} (expression {}{status}), and Graph allows one per policy. This rule is created once that one is deleted. What you can do: manage the existing rule here (terraform import {resource_type}.<name> {tenant_id}/{policy_id}/{}), or delete it, or make this rule static (auto_apply = false).",
        existing.id,
        existing.expression().unwrap_or("unknown"),
        existing.id
    )
}

/// Decision 14: asked for a dynamic rule, Graph created a static one (`isAutoApplyEnabled`
/// false). A null flag is no evidence either way.
pub fn created_static_instead(wanted_dynamic: bool, created: &ProtectionRule) -> Option<Notice> {
    (wanted_dynamic && created.is_auto_apply_enabled == Some(false)).then(|| {
        Notice::new(
            "Graph created a static rule instead of a dynamic one",
            format!(
                "Rule {} was created with isAutoApplyEnabled = false although auto_apply = true was asked for, so it would never follow group changes. The provider deleted it again. Graph may not allow dynamic rules for this policy or tenant; set auto_apply = false for a rule applied once, or retry later.",
                created.id
            ),
        )
    })
}

/// The `auto_apply` shown in state: Graph's flag when it sends one, else what state held
/// (decision 14: a null flag is never a diff).
pub fn observed_auto_apply(graph_flag: Option<bool>, prior: Option<bool>) -> Option<bool> {
    graph_flag.or(prior)
}

/// Graph deletes a rule only when it is done (`completed` or `completedWithErrors`).
pub fn is_deletable(status: Option<&ProtectionRuleStatus>) -> bool {
    matches!(
        status,
        Some(ProtectionRuleStatus::Completed | ProtectionRuleStatus::CompletedWithErrors)
    )
}

/// Whether Graph is still working on the rule (`wait_for_completion`); statuses newer than
/// this provider count as finished, so that a wait never hangs on them.
pub fn is_pending(status: Option<&ProtectionRuleStatus>) -> bool {
    matches!(
        status,
        Some(
            ProtectionRuleStatus::Active
                | ProtectionRuleStatus::UpdateRequested
                | ProtectionRuleStatus::DeleteRequested
        )
    )
}

/// Decision 14 and 22: a rule that finished with errors is a warning naming the tenant and
/// each failed item (at most 20 lines).
pub fn completed_with_errors_notice(
    tenant_id: &str,
    policy_id: &str,
    rule: &ProtectionRule,
) -> Option<Notice> {
    if rule.status != Some(ProtectionRuleStatus::CompletedWithErrors) {
        return None;
    }
    let error = rule.error.as_ref();
    let lines: Vec<String> = error
        .map(|e| {
            e.details
                .iter()
                .map(|d| {
                    let target = d.target.as_deref().unwrap_or("(no target)");
                    let code = d.code.as_deref().unwrap_or("error");
                    let message = d.message.as_deref().unwrap_or("");
                    format!("tenant {tenant_id}: {target}: {code}: {message}")
                        .trim_end_matches([':', ' '])
                        .to_string()
                })
                .collect()
        })
        .unwrap_or_default();
    let summary = error
        .filter(|e| e.is_failure())
        .map(|e| e.describe())
        .unwrap_or_else(|| "no error reported".to_string());
    let mut detail = format!(
        "Inclusion rule {} of policy {policy_id} in tenant {tenant_id} finished with errors ({summary}); the items it could not protect are not backed up.",
        rule.id
    );
    if !lines.is_empty() {
        detail.push('\n');
        detail.push_str(&bounded_lines(lines).join("\n"));
    }
    detail.push_str("\nFix the items (e.g. a deleted group, a user without a mailbox) and the rule is applied again: a dynamic rule by itself, a static rule on a change of rerun_triggers.");
    Some(Notice::new(
        format!("Inclusion rule completed with errors in tenant {tenant_id}"),
        detail,
    ))
}

/// Decision 8: after a lost answer to the creating POST, the rule with the same expression is
/// the one just created (the newest when several).
pub fn find_adoptable_rule<'r>(
    rules: &'r [ProtectionRule],
    expression: &str,
    dynamic: bool,
) -> Option<&'r ProtectionRule> {
    rules
        .iter()
        .filter(|r| {
            r.expression()
                .is_some_and(|e| same_expression(e, expression))
                && r.is_auto_apply_enabled.is_none_or(|flag| flag == dynamic)
                && r.status != Some(ProtectionRuleStatus::DeleteRequested)
        })
        .max_by(|a, b| a.created_date_time.cmp(&b.created_date_time))
}

/// The resource id and import id: `<tenantId>/<policyId>/<ruleId>`.
pub fn rule_resource_id(tenant_id: &str, policy_id: &str, rule_id: &str) -> String {
    format!("{tenant_id}/{policy_id}/{rule_id}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn guid(n: u128) -> String {
        uuid::Uuid::from_u128(n).to_string()
    }

    fn groups(n: usize) -> Vec<String> {
        (0..n as u128).map(|i| guid(0x100 + i)).collect()
    }

    fn attributes(notices: &[Notice]) -> Vec<&'static str> {
        notices.iter().filter_map(|n| n.attribute).collect()
    }

    #[test]
    fn group_expression_is_graphs_documented_form_in_a_stable_order() {
        let a = "B0000000-0000-0000-0000-000000000000".to_string();
        let b = "a0000000-0000-0000-0000-000000000000".to_string();
        let one = group_expression(&[a.clone(), b.clone()]);
        assert_eq!(
            one,
            "(memberOf -any (group.id -in ['a0000000-0000-0000-0000-000000000000', 'B0000000-0000-0000-0000-000000000000']))"
        );
        assert_eq!(one, group_expression(&[b, a]), "set order does not matter");
    }

    #[test]
    fn site_expression_joins_clauses_and_escapes_quotes() {
        assert_eq!(
            site_expression(&["Finance".into()], &[]),
            "(displayName -contains 'Finance')"
        );
        assert_eq!(
            site_expression(&["Finance".into()], &["Legal".into(), "O'Neil".into()]),
            "((displayName -contains 'Finance') -or (webUrl -contains 'Legal') -or (webUrl -contains 'O''Neil'))"
        );
    }

    #[test]
    fn raw_expression_wins_and_nothing_selected_is_none() {
        let config = RuleConfig {
            expression: Some("(x)".into()),
            ..RuleConfig::default()
        };
        assert_eq!(
            build_expression(Workload::OneDrive, &config).as_deref(),
            Some("(x)")
        );
        assert_eq!(
            build_expression(Workload::SharePoint, &RuleConfig::default()),
            None
        );
        assert_eq!(
            build_expression(Workload::Exchange, &RuleConfig::default()),
            None
        );
    }

    #[test]
    fn limits_name_their_attribute() {
        let check = |w, c: RuleConfig| attributes(&validate(w, &c));
        assert!(
            check(
                Workload::Exchange,
                RuleConfig {
                    group_ids: Some(groups(100)),
                    ..Default::default()
                }
            )
            .is_empty()
        );
        assert_eq!(
            check(
                Workload::Exchange,
                RuleConfig {
                    group_ids: Some(groups(101)),
                    ..Default::default()
                }
            ),
            ["group_ids"]
        );
        assert_eq!(
            check(
                Workload::Exchange,
                RuleConfig {
                    group_ids: Some(vec![]),
                    ..Default::default()
                }
            ),
            ["group_ids"]
        );
        assert_eq!(
            check(
                Workload::OneDrive,
                RuleConfig {
                    group_ids: Some(vec!["nope".into()]),
                    ..Default::default()
                }
            ),
            ["group_ids"]
        );
        let twice = vec![guid(1), guid(1).to_uppercase()];
        assert_eq!(
            check(
                Workload::OneDrive,
                RuleConfig {
                    group_ids: Some(twice),
                    ..Default::default()
                }
            ),
            ["group_ids"]
        );
        let kw = |n: usize, len: usize| {
            (0..n)
                .map(|i| format!("{i}{}", "k".repeat(len - 1)))
                .collect::<Vec<_>>()
        };
        assert!(
            check(
                Workload::SharePoint,
                RuleConfig {
                    site_name_keywords: Some(kw(5, 3)),
                    site_url_keywords: Some(kw(5, 255)),
                    ..Default::default()
                }
            )
            .is_empty()
        );
        assert_eq!(
            check(
                Workload::SharePoint,
                RuleConfig {
                    site_name_keywords: Some(kw(6, 3)),
                    site_url_keywords: Some(kw(5, 3)),
                    ..Default::default()
                }
            ),
            ["site_name_keywords"]
        );
        assert_eq!(
            check(
                Workload::SharePoint,
                RuleConfig {
                    site_url_keywords: Some(vec!["ab".into()]),
                    ..Default::default()
                }
            ),
            ["site_url_keywords"]
        );
        assert_eq!(
            check(
                Workload::SharePoint,
                RuleConfig {
                    site_url_keywords: Some(kw(1, 256)),
                    ..Default::default()
                }
            ),
            ["site_url_keywords"]
        );
        assert_eq!(
            check(
                Workload::SharePoint,
                RuleConfig {
                    site_url_keywords: Some(vec![]),
                    ..Default::default()
                }
            ),
            ["site_name_keywords"]
        );
        assert_eq!(
            check(
                Workload::Exchange,
                RuleConfig {
                    group_ids: Some(groups(1)),
                    expression: Some("(e)".into()),
                    ..Default::default()
                }
            ),
            ["expression"]
        );
    }

    #[test]
    fn flags_fit_the_kind_of_rule() {
        let sel = || RuleConfig {
            group_ids: Some(groups(1)),
            ..Default::default()
        };
        let on = |c: RuleConfig, w| attributes(&validate(w, &c));
        // unprotect_on_destroy: dynamic only.
        assert!(
            on(
                RuleConfig {
                    unprotect_on_destroy: Some(true),
                    ..sel()
                },
                Workload::Exchange
            )
            .is_empty()
        );
        assert_eq!(
            on(
                RuleConfig {
                    unprotect_on_destroy: Some(true),
                    auto_apply: Some(false),
                    ..sel()
                },
                Workload::Exchange
            ),
            ["unprotect_on_destroy"]
        );
        let sp = RuleConfig {
            site_name_keywords: Some(vec!["Finance".into()]),
            ..Default::default()
        };
        let sp_unprotect = validate(
            Workload::SharePoint,
            &RuleConfig {
                unprotect_on_destroy: Some(true),
                ..sp.clone()
            },
        );
        assert_eq!(attributes(&sp_unprotect), ["unprotect_on_destroy"]);
        assert!(sp_unprotect[0].detail.contains("always static"));
        assert!(
            on(
                RuleConfig {
                    unprotect_on_destroy: Some(false),
                    auto_apply: Some(false),
                    ..sel()
                },
                Workload::OneDrive
            )
            .is_empty()
        );
        // rerun_triggers: static only.
        assert_eq!(
            on(
                RuleConfig {
                    has_rerun_triggers: true,
                    ..sel()
                },
                Workload::OneDrive
            ),
            ["rerun_triggers"]
        );
        assert!(
            on(
                RuleConfig {
                    has_rerun_triggers: true,
                    auto_apply: Some(false),
                    ..sel()
                },
                Workload::OneDrive
            )
            .is_empty()
        );
        assert!(
            on(
                RuleConfig {
                    has_rerun_triggers: true,
                    ..sp
                },
                Workload::SharePoint
            )
            .is_empty()
        );
    }

    #[test]
    fn updates_patch_dynamic_rules_run_static_ones_and_replace_changed_static_ones() {
        let e1 = group_expression(&groups(1));
        let e2 = group_expression(&groups(2));
        assert_eq!(
            plan_update(true, Some(&e1), &e2, false),
            RuleUpdate::Patch(e2.clone())
        );
        assert_eq!(plan_update(true, Some(&e1), &e1, true), RuleUpdate::Nothing);
        assert_eq!(plan_update(false, Some(&e1), &e1, true), RuleUpdate::Run);
        assert_eq!(
            plan_update(false, Some(&e1), &e1, false),
            RuleUpdate::Nothing
        );
        let spaced = e1.replace(", ", " ,  ").to_uppercase();
        assert_eq!(
            plan_update(true, Some(&spaced), &e1, false),
            RuleUpdate::Nothing,
            "Graph's spelling is no change"
        );
        assert!(needs_replacement(false, Some(&e1), Some(&e2)));
        assert!(!needs_replacement(true, Some(&e1), Some(&e2)));
        assert!(!needs_replacement(false, Some(&e1), Some(&e1)));
        assert!(
            !needs_replacement(false, None, Some(&e1)),
            "deferred: nothing to replace"
        );
        assert!(
            !needs_replacement(false, Some(&e1), None),
            "unknown: decided at apply"
        );
    }

    fn rule(id: &str, dynamic: Option<bool>, expression: &str) -> ProtectionRule {
        let mut rule = ProtectionRule::create_body(Workload::Exchange, expression, dynamic);
        rule.id = id.into();
        rule.status = Some(ProtectionRuleStatus::Completed);
        rule
    }

    #[test]
    fn second_dynamic_rule_is_named_and_the_replaced_one_ignored() {
        let rules = vec![
            rule("static", Some(false), "(a)"),
            rule("dyn", Some(true), "(b)"),
        ];
        let found = blocking_dynamic_rule(&rules, None).unwrap();
        assert_eq!(found.id, "dyn");
        assert!(blocking_dynamic_rule(&rules, Some("DYN")).is_none());
        assert!(blocking_dynamic_rule(&rules[..1], None).is_none());
        let reason =
            second_dynamic_rule_reason("t-1", "p-1", found, "m365backup_exchange_inclusion_rule");
        assert!(reason.starts_with("Tenant t-1: policy p-1"));
        assert!(reason.contains("dyn (expression (b), status completed)"));
        assert!(
            reason
                .contains("terraform import m365backup_exchange_inclusion_rule.<name> t-1/p-1/dyn")
        );
    }

    #[test]
    fn created_rules_are_judged_and_null_flags_kept() {
        assert!(created_static_instead(true, &rule("r", Some(false), "(a)")).is_some());
        assert!(created_static_instead(true, &rule("r", None, "(a)")).is_none());
        assert!(created_static_instead(false, &rule("r", Some(false), "(a)")).is_none());
        assert_eq!(observed_auto_apply(None, Some(true)), Some(true));
        assert_eq!(observed_auto_apply(Some(false), Some(true)), Some(false));
    }

    #[test]
    fn statuses() {
        use ProtectionRuleStatus as S;
        assert!(is_deletable(Some(&S::Completed)) && is_deletable(Some(&S::CompletedWithErrors)));
        assert!(!is_deletable(Some(&S::Active)) && !is_deletable(None));
        assert!(is_pending(Some(&S::UpdateRequested)) && !is_pending(Some(&S::parse("brandNew"))));
    }

    #[test]
    fn completed_with_errors_lists_items_naming_the_tenant() {
        let mut r = rule("r", Some(true), "(a)");
        assert!(completed_with_errors_notice("t-1", "p", &r).is_none());
        r.status = Some(ProtectionRuleStatus::CompletedWithErrors);
        r.error = Some(serde_json::from_value(serde_json::json!({
            "code": "ProtectionRuleCompletedWithErrors", "message": "1 resources could not be protected.",
            "details": [{"code": "GroupNotFound", "message": "gone", "target": "g-1"}]
        })).unwrap());
        let n = completed_with_errors_notice("t-1", "p", &r).unwrap();
        assert!(n.summary.contains("t-1"));
        assert!(
            n.detail.contains("tenant t-1: g-1: GroupNotFound: gone"),
            "{}",
            n.detail
        );
    }

    #[test]
    fn adoption_matches_the_expression() {
        let e = group_expression(&groups(2));
        let rules = vec![
            rule("other", Some(true), "(memberOf -any (group.id -in ['x']))"),
            rule("mine", Some(true), &e.to_uppercase()),
        ];
        assert_eq!(
            find_adoptable_rule(&rules, &e, true).map(|r| r.id.as_str()),
            Some("mine")
        );
        assert!(find_adoptable_rule(&rules, &e, false).is_none());
    }

    #[test]
    fn foreign_expressions_stay_raw() {
        assert_eq!(
            parse_expression(
                Workload::OneDrive,
                "(memberOf -any (group.id -in ['a'])) -and x"
            ),
            Selection::Raw("(memberOf -any (group.id -in ['a'])) -and x".into())
        );
        assert_eq!(
            parse_expression(
                Workload::SharePoint,
                "((displayName -contains 'Fin') -and (webUrl -contains 'Leg'))"
            ),
            Selection::Raw("((displayName -contains 'Fin') -and (webUrl -contains 'Leg'))".into())
        );
    }

    proptest! {
        #[test]
        fn group_expressions_read_back(ids in proptest::collection::hash_set(any::<u128>(), 1..20)) {
            let ids: Vec<String> = ids.into_iter().map(guid).collect();
            let expression = group_expression(&ids);
            let Selection::Groups(mut back) = parse_expression(Workload::Exchange, &expression) else {
                panic!("not read back: {expression}");
            };
            let mut ids = ids;
            back.sort();
            ids.sort();
            prop_assert_eq!(back, ids);
        }

        #[test]
        fn keyword_expressions_read_back(
            names in proptest::collection::btree_set("[A-Za-z' ]{3,12}", 0..5),
            urls in proptest::collection::btree_set("[a-z/']{3,12}", 0..5),
        ) {
            prop_assume!(!names.is_empty() || !urls.is_empty());
            let (names, urls): (Vec<String>, Vec<String>) = (names.into_iter().collect(), urls.into_iter().collect());
            let expression = site_expression(&names, &urls);
            match parse_expression(Workload::SharePoint, &expression) {
                Selection::Keywords { names: n, urls: u } => {
                    prop_assert!(same_expression(&site_expression(&n, &u), &expression));
                    prop_assert_eq!(n.len() + u.len(), names.len() + urls.len());
                }
                other => prop_assert!(false, "not read back: {:?}", other),
            }
        }

        #[test]
        fn normalize_ignores_spacing_and_case_outside_quotes(ids in proptest::collection::vec(any::<u128>(), 1..5)) {
            let ids: Vec<String> = ids.into_iter().map(guid).collect();
            let expression = group_expression(&ids);
            let spaced = expression.replace('(', "( ").replace(", ", " , ").replace("memberOf", "MEMBEROF");
            prop_assert!(same_expression(&spaced, &expression));
        }

        #[test]
        fn replacement_only_for_a_changed_static_rule(dynamic in any::<bool>(), a in 0u128..4, b in 0u128..4) {
            let (ea, eb) = (group_expression(&[guid(a)]), group_expression(&[guid(b)]));
            prop_assert_eq!(needs_replacement(dynamic, Some(&ea), Some(&eb)), !dynamic && a != b);
            let update = plan_update(dynamic, Some(&ea), &eb, false);
            prop_assert_eq!(matches!(update, RuleUpdate::Patch(_)), dynamic && a != b);
        }
    }
}
