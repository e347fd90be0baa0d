//! A small OData path parser for `solutions/backupRestore/...`: entity sets and navigation
//! properties, keys in both forms (`x/{id}` and `x('{id}')`), type casts
//! (`/microsoft.graph.siteProtectionUnit`), bound actions (`/run`, `/microsoft.graph.run`) and
//! the `$count` segment. It knows names, not handlers: `graph::dispatch` matches the result.

/// One parsed path below `solutions/backupRestore`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ODataPath {
    /// Root navigation property or bound action of the root (canonical spelling); `None` for
    /// the root itself.
    pub set: Option<&'static str>,
    /// Type cast right after the set (`microsoft.graph.` stripped, canonical spelling).
    pub cast: Option<&'static str>,
    pub key: Option<String>,
    /// A navigation property of the keyed entity, with its own key.
    pub nav: Option<(&'static str, Option<String>)>,
    /// A bound action at the end of the path.
    pub action: Option<&'static str>,
    /// Ends in `$count`.
    pub count: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathError {
    /// A segment that does not exist in the model.
    Segment(String),
    /// A navigation property of backupRestoreRoot the emulator does not serve.
    NotImplemented(String),
}

/// Root navigation properties the emulator serves.
pub const SETS: &[&str] = &[
    "serviceApps",
    "protectionPolicies",
    "sharePointProtectionPolicies",
    "oneDriveForBusinessProtectionPolicies",
    "exchangeProtectionPolicies",
    "protectionUnits",
    "siteProtectionUnits",
    "driveProtectionUnits",
    "mailboxProtectionUnits",
    "siteInclusionRules",
    "driveInclusionRules",
    "mailboxInclusionRules",
    "siteProtectionUnitsBulkAdditionJobs",
    "driveProtectionUnitsBulkAdditionJobs",
    "mailboxProtectionUnitsBulkAdditionJobs",
    "emailNotificationsSetting",
    "restorePoints",
];

/// Navigation properties of backupRestoreRoot (v1.0 + beta) that are not served: 501.
const NOT_SERVED: &[&str] = &[
    "activityLogs",
    "browseSessions",
    "driveExclusionUnits",
    "driveExclusionUnitsBulkAdditionJobs",
    "exchangeRestoreSessions",
    "exclusionUnits",
    "mailboxExclusionUnits",
    "mailboxExclusionUnitsBulkAdditionJobs",
    "oneDriveForBusinessBrowseSessions",
    "oneDriveForBusinessRestoreSessions",
    "reports",
    "restoreSessions",
    "sharePointBrowseSessions",
    "sharePointRestoreSessions",
    "siteExclusionUnits",
    "siteExclusionUnitsBulkAdditionJobs",
];

/// Navigation properties of the derived policy types.
const NAVS: &[&str] = &[
    "siteInclusionRules",
    "driveInclusionRules",
    "mailboxInclusionRules",
    "siteProtectionUnits",
    "driveProtectionUnits",
    "mailboxProtectionUnits",
    "siteProtectionUnitsBulkAdditionJobs",
    "driveProtectionUnitsBulkAdditionJobs",
    "mailboxProtectionUnitsBulkAdditionJobs",
];

/// Bound actions (of any binding type; the dispatcher checks the binding).
const ACTIONS: &[&str] = &[
    "enable",
    "activate",
    "deactivate",
    "offboard",
    "cancelOffboard",
    "run",
    "deleteAndUnprotect",
    "search",
];

/// Derived types usable as casts.
const CASTS: &[&str] = &[
    "siteProtectionUnit",
    "driveProtectionUnit",
    "mailboxProtectionUnit",
    "sharePointProtectionPolicy",
    "oneDriveForBusinessProtectionPolicy",
    "exchangeProtectionPolicy",
];

fn find(names: &[&'static str], s: &str) -> Option<&'static str> {
    names.iter().copied().find(|n| n.eq_ignore_ascii_case(s))
}

/// `microsoft.graph.x` -> `x`.
fn unqualified(s: &str) -> Option<&str> {
    let p = "microsoft.graph.";
    s.get(..p.len())
        .filter(|h| h.eq_ignore_ascii_case(p))
        .map(|_| &s[p.len()..])
}

/// A raw segment: a name, optionally followed by `(key)` / `('key')`.
fn split_key(seg: &str) -> (&str, Option<String>) {
    if let Some(open) = seg.find('(')
        && let Some(inner) = seg[open + 1..].strip_suffix(')')
    {
        let inner = inner.strip_prefix("id=").unwrap_or(inner);
        let inner = inner
            .strip_prefix('\'')
            .and_then(|s| s.strip_suffix('\''))
            .unwrap_or(inner);
        return (&seg[..open], Some(inner.replace("''", "'")));
    }
    (seg, None)
}

fn decode(seg: &str) -> String {
    let bytes = seg.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
            .and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
        if bytes[i] == b'%'
            && let Some(b) = hex
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| seg.to_string())
}

/// Parses the part of a Graph path after the version (`/solutions/backupRestore/...`).
pub fn parse(rest: &str) -> Result<ODataPath, PathError> {
    let segs: Vec<String> = rest
        .split('/')
        .filter(|s| !s.is_empty())
        .map(decode)
        .collect();
    let bad = |s: &str| Err(PathError::Segment(s.to_string()));
    match segs.first() {
        Some(s) if s.eq_ignore_ascii_case("solutions") => {}
        Some(s) => return bad(s),
        None => return bad(""),
    }
    match segs.get(1) {
        Some(s) if s.eq_ignore_ascii_case("backupRestore") => {}
        Some(s) => return bad(s),
        None => return bad("solutions"),
    }
    let mut out = ODataPath::default();
    let mut it = segs[2..].iter().map(String::as_str).peekable();
    let Some(first) = it.next() else {
        return Ok(out);
    };
    let (name, key) = split_key(first);
    let name = unqualified(name).unwrap_or(name);
    if let Some(set) = find(SETS, name) {
        out.set = Some(set);
        out.key = key;
    } else if let Some(a) = find(ACTIONS, name).filter(|_| key.is_none()) {
        out.action = Some(a);
        return match it.next() {
            None => Ok(out),
            Some(s) => bad(s),
        };
    } else if find(NOT_SERVED, name).is_some() {
        return Err(PathError::NotImplemented(name.to_string()));
    } else {
        return bad(first);
    }
    // set [cast] [key] [nav [key]] [action] [$count]
    while let Some(seg) = it.next() {
        if seg == "$count" {
            if it.peek().is_some() {
                return bad(seg);
            }
            out.count = true;
            break;
        }
        let (name, key) = split_key(seg);
        let qualified = unqualified(name);
        let plain = qualified.unwrap_or(name);
        if let Some(a) = find(ACTIONS, plain).filter(|_| key.is_none()) {
            out.action = Some(a);
            if let Some(s) = it.next() {
                return bad(s);
            }
            break;
        }
        if qualified.is_some() {
            match find(CASTS, plain) {
                Some(c) if out.cast.is_none() && out.key.is_none() && out.nav.is_none() => {
                    out.cast = Some(c);
                    out.key = key;
                    continue;
                }
                _ => return bad(seg),
            }
        }
        if out.key.is_some()
            && out.nav.is_none()
            && let Some(n) = find(NAVS, plain)
        {
            out.nav = Some((n, key));
            continue;
        }
        if key.is_some() {
            return bad(seg);
        }
        match &mut out.nav {
            Some((_, k @ None)) => *k = Some(seg.to_string()),
            None if out.key.is_none() => out.key = Some(seg.to_string()),
            _ => return bad(seg),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> ODataPath {
        parse(s).unwrap()
    }

    #[test]
    fn root_and_root_actions() {
        assert_eq!(p("/solutions/backupRestore"), ODataPath::default());
        assert_eq!(p("/Solutions/BackupRestore/").set, None);
        assert_eq!(
            p("/solutions/backupRestore/microsoft.graph.enable").action,
            Some("enable")
        );
        assert!(parse("/solutions/backupRestore/enable/x").is_err());
        assert!(matches!(
            parse("/solutions/nope"),
            Err(PathError::Segment(_))
        ));
        assert!(matches!(
            parse("/solutions/backupRestore/restoreSessions"),
            Err(PathError::NotImplemented(_))
        ));
    }

    #[test]
    fn keys_in_both_forms_and_actions() {
        let a = p("/solutions/backupRestore/serviceApps/abc/microsoft.graph.activate");
        assert_eq!(
            (a.set, a.key.as_deref(), a.action),
            (Some("serviceApps"), Some("abc"), Some("activate"))
        );
        let b = p("/solutions/backupRestore/serviceApps('abc')/activate");
        assert_eq!(a, b);
        assert_eq!(
            p("/solutions/backupRestore/ServiceApps(abc)")
                .key
                .as_deref(),
            Some("abc")
        );
        let c = p("/solutions/backupRestore/serviceApps/$count");
        assert!(c.count && c.key.is_none());
    }

    #[test]
    fn casts_navigations_and_nested_keys() {
        let u = p("/solutions/backupRestore/protectionUnits/microsoft.graph.siteProtectionUnit");
        assert_eq!(
            (u.set, u.cast, u.key),
            (Some("protectionUnits"), Some("siteProtectionUnit"), None)
        );
        let r = p(
            "/solutions/backupRestore/exchangeProtectionPolicies('p1')/mailboxInclusionRules/r1/run",
        );
        assert_eq!(r.key.as_deref(), Some("p1"));
        assert_eq!(
            r.nav,
            Some(("mailboxInclusionRules", Some("r1".to_string())))
        );
        assert_eq!(r.action, Some("run"));
        let s = p("/solutions/backupRestore/restorePoints/search");
        assert_eq!(
            (s.set, s.key, s.action),
            (Some("restorePoints"), None, Some("search"))
        );
        let site =
            p("/solutions/backupRestore/sharePointProtectionPolicies/p/siteProtectionUnits/$count");
        assert!(site.count && site.nav == Some(("siteProtectionUnits", None)));
        assert!(parse("/solutions/backupRestore/serviceApps/a/b/c").is_err());
        assert!(parse("/solutions/backupRestore/protectionUnits/microsoft.graph.nope").is_err());
    }
}
