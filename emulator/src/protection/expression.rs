//! Inclusion rule expressions, as far as Graph documents them:
//! - drive and mailbox rules: `(memberOf -any (group.id -in ['<guid>', ...]))`;
//! - site rules: `displayName -contains '<kw>'` and `webUrl -contains '<kw>'` clauses joined
//!   with `-or` or `-and`, optionally in parentheses.
//!
//! Anything else is `InvalidRuleExpression` (Graph publishes no grammar; the emulator accepts
//! only the documented forms).

use crate::lifecycle::is_guid;

/// At most this many groups in one expression (413 above).
pub const MAX_GROUPS: usize = 100;
/// At most this many keywords in a site rule.
pub const MAX_KEYWORDS: usize = 10;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    Groups(Vec<String>),
    Sites {
        clauses: Vec<(SiteField, String)>,
        all: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SiteField {
    DisplayName,
    WebUrl,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExprError {
    Invalid(String),
    TooManyGroups(usize),
}

/// The quoted strings of `s`, in order (`''` escapes a quote).
fn quoted(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\'' {
            continue;
        }
        let mut cur = String::new();
        while let Some(c) = chars.next() {
            if c == '\'' {
                if chars.peek() == Some(&'\'') {
                    chars.next();
                    cur.push('\'');
                    continue;
                }
                break;
            }
            cur.push(c);
        }
        out.push(cur);
    }
    out
}

fn squash(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_lowercase()
}

pub fn parse_groups(expr: &str) -> Result<Expr, ExprError> {
    let flat = squash(expr);
    let shape = flat.contains("memberof -any") && flat.contains("group.id -in [");
    if !shape || !flat.trim_end().ends_with(')') {
        return Err(ExprError::Invalid(
            "expected (memberOf -any (group.id -in ['<group id>', ...]))".into(),
        ));
    }
    let ids = quoted(expr);
    if ids.is_empty() {
        return Err(ExprError::Invalid("the expression names no group".into()));
    }
    if ids.len() > MAX_GROUPS {
        return Err(ExprError::TooManyGroups(ids.len()));
    }
    if let Some(bad) = ids.iter().find(|g| !is_guid(g)) {
        return Err(ExprError::Invalid(format!("'{bad}' is not a group id")));
    }
    Ok(Expr::Groups(ids))
}

pub fn parse_sites(expr: &str) -> Result<Expr, ExprError> {
    let flat = squash(expr);
    let has_or = flat.contains(" -or ");
    let has_and = flat.contains(" -and ");
    if has_or && has_and {
        return Err(ExprError::Invalid(
            "mixing -or and -and is not supported".into(),
        ));
    }
    let sep = if has_and { " -and " } else { " -or " };
    let mut clauses = Vec::new();
    for part in flat.split(sep) {
        let p = part
            .trim()
            .trim_start_matches('(')
            .trim_end_matches(')')
            .trim();
        let field = if p.starts_with("displayname -contains ") {
            SiteField::DisplayName
        } else if p.starts_with("weburl -contains ") {
            SiteField::WebUrl
        } else {
            return Err(ExprError::Invalid(format!("unsupported clause '{p}'")));
        };
        let kws = quoted(p);
        let [kw] = kws.as_slice() else {
            return Err(ExprError::Invalid(format!(
                "clause '{p}' needs one quoted keyword"
            )));
        };
        if !(3..=255).contains(&kw.chars().count()) {
            return Err(ExprError::Invalid(format!(
                "keyword '{kw}' must have 3 to 255 characters"
            )));
        }
        clauses.push((field, kw.clone()));
    }
    if clauses.len() > MAX_KEYWORDS {
        return Err(ExprError::Invalid(format!(
            "at most {MAX_KEYWORDS} keywords are allowed"
        )));
    }
    Ok(Expr::Sites {
        clauses,
        all: has_and,
    })
}

impl Expr {
    /// Whether a site (display name, url) matches a site expression.
    pub fn matches_site(&self, name: &str, url: &str) -> bool {
        let Expr::Sites { clauses, all } = self else {
            return false;
        };
        let hit = |(f, kw): &(SiteField, String)| {
            let hay = match f {
                SiteField::DisplayName => name,
                SiteField::WebUrl => url,
            };
            hay.to_ascii_lowercase().contains(&kw.to_ascii_lowercase())
        };
        if *all {
            clauses.iter().all(hit)
        } else {
            clauses.iter().any(hit)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const G: &str = "11111111-2222-3333-4444-555555555555";

    #[test]
    fn group_expressions() {
        let e = parse_groups(&format!("(memberOf -any (group.id -in ['{G}']))")).unwrap();
        assert_eq!(e, Expr::Groups(vec![G.into()]));
        assert!(parse_groups("(memberOf -any (group.id -in []))").is_err());
        assert!(parse_groups("displayName -contains 'x'").is_err());
        let many = (0..101)
            .map(|_| format!("'{G}'"))
            .collect::<Vec<_>>()
            .join(",");
        assert_eq!(
            parse_groups(&format!("(memberOf -any (group.id -in [{many}]))")),
            Err(ExprError::TooManyGroups(101))
        );
    }

    #[test]
    fn site_expressions() {
        let e = parse_sites("((displayName -contains 'Finance') -or (webUrl -contains 'Legal'))")
            .unwrap();
        assert!(e.matches_site("Finance team", "https://x/sites/a"));
        assert!(e.matches_site("A", "https://x/sites/legal"));
        assert!(!e.matches_site("A", "https://x/sites/b"));
        let e = parse_sites("displayName -contains 'Fin' -and webUrl -contains 'human'").unwrap();
        assert!(!e.matches_site("Fin", "https://x/sites/b"));
        assert!(parse_sites("displayName -contains 'ab'").is_err());
        assert!(parse_sites("owner -eq 'abc'").is_err());
    }
}
