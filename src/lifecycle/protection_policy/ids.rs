//! Plan-time checks of what the configuration alone decides (decision 3 keeps tenant conditions
//! out of here): unit ids (decision 18: GUIDs, and Graph's site ids `host[/path],guid,guid`,
//! compared case-insensitively while the configured spelling is kept), duplicates, the inline
//! set limit (decision 1), the display name length and the retention value.

use std::collections::HashMap;

use super::notices::{Notice, bounded_lines};
use crate::graph::api::protection::{UnitIdKind, Workload};

/// Inline id sets above this would push Terraform's plan request past tf-provider's 4 MiB limit.
pub const MAX_INLINE_IDS: usize = 15_000;
/// From this many inline ids on, Terraform's own apply gets slow: it checks the applied set
/// against the planned one element by element, pair by pair, so its work grows with the square
/// of the set (measured on Terraform 1.11: 8 s of CPU for 1,000 ids, 29 s for 2,000).
pub const SLOW_INLINE_IDS: usize = 2_000;
/// Graph's `InvalidDisplayName` limit.
pub const MAX_DISPLAY_NAME_CHARS: usize = 1024;
/// The only weekly retention periods Graph accepts.
pub const RETENTION_PERIODS: [&str; 12] = [
    "P90D", "P180D", "P365D", "P730D", "P1095D", "P1460D", "P1825D", "P2190D", "P2555D", "P2920D",
    "P3285D", "P3650D",
];

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` in hex digits of either case.
pub fn is_guid(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(index, byte)| match index {
            8 | 13 | 18 | 23 => *byte == b'-',
            _ => byte.is_ascii_hexdigit(),
        })
}

/// Graph's site id: `host[/path],siteCollectionGuid,webGuid`.
pub fn is_site_id(text: &str) -> bool {
    let mut parts = text.split(',');
    let (Some(location), Some(collection), Some(web), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let (host, path) = match location.split_once('/') {
        Some((host, path)) => (host, Some(path)),
        None => (location, None),
    };
    let host_ok = !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    let path_ok = path.is_none_or(|path| {
        !path.is_empty() && !path.chars().any(|c| c.is_whitespace() || c.is_control())
    });
    host_ok && path_ok && is_guid(collection) && is_guid(web)
}

/// Why `text` is not a valid unit id of this kind, or `Ok`.
pub fn check_id(kind: UnitIdKind, text: &str) -> Result<(), String> {
    match kind {
        UnitIdKind::DirectoryObjectId if is_guid(text) => Ok(()),
        UnitIdKind::DirectoryObjectId => Err(format!(
            "{text:?} is not an Entra object id (a GUID such as \"00000000-0000-0000-0000-000000000000\")"
        )),
        UnitIdKind::SiteId if is_site_id(text) => Ok(()),
        UnitIdKind::SiteId => Err(format!(
            "{text:?} is not a SharePoint site id (\"host[/path],siteCollectionGuid,webGuid\", e.g. \
             \"contoso.sharepoint.com,<guid>,<guid>\")"
        )),
    }
}

/// The comparison key of an id: GUIDs, host names and SharePoint paths are case-insensitive.
pub fn id_key(text: &str) -> String {
    text.to_ascii_lowercase()
}

/// `1234567` -> `1,234,567`, for counts in messages.
pub fn thousands(count: usize) -> String {
    let digits = count.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

pub fn validate_display_name(name: &str) -> Result<(), Notice> {
    let length = name.chars().count();
    if (1..=MAX_DISPLAY_NAME_CHARS).contains(&length) {
        return Ok(());
    }
    Err(Notice::on(
        "display_name",
        "Invalid display_name",
        format!(
            "display_name must have 1 to {MAX_DISPLAY_NAME_CHARS} characters; this one has {length}."
        ),
    ))
}

pub fn validate_retention_period(period: &str) -> Result<(), Notice> {
    if RETENTION_PERIODS.contains(&period) {
        return Ok(());
    }
    Err(Notice::on(
        "retention_period",
        "Invalid retention_period",
        format!(
            "{period:?} is not a retention period Microsoft Graph accepts. Use one of {}.",
            RETENTION_PERIODS.join(", ")
        ),
    ))
}

/// Pairs of positions holding the same id up to case, in order of the second occurrence.
pub fn duplicate_positions<'a>(ids: impl IntoIterator<Item = &'a str>) -> Vec<(usize, usize)> {
    let mut first_seen: HashMap<String, usize> = HashMap::new();
    let mut duplicates = Vec::new();
    for (position, id) in ids.into_iter().enumerate() {
        if let Some(first) = first_seen.get(&id_key(id)) {
            duplicates.push((*first, position));
        } else {
            first_seen.insert(id_key(id), position);
        }
    }
    duplicates
}

/// The warning for an inline set large enough to make Terraform's apply slow (it still works);
/// `instead` says what to write instead.
pub fn slow_inline_set_notice(
    attribute: &'static str,
    count: usize,
    instead: &str,
) -> Option<Notice> {
    (count > SLOW_INLINE_IDS).then(|| {
        Notice::on(
            attribute,
            format!("{attribute} is large for an inline set"),
            format!(
                "{attribute} lists {} ids. Terraform compares every element of a set with every \
                 other when it checks an apply, so its own work grows with the square of the set: \
                 about 30 s of CPU for 2,000 ids, and four times more each time the set doubles. \
                 {instead}",
                thousands(count)
            ),
        )
    })
}

/// Every error of an inline id set (`site_ids` / `user_ids` / `mailbox_ids`): malformed ids,
/// ids that differ only in case, and more than [`MAX_INLINE_IDS`] entries.
pub fn validate_inline_ids(workload: Workload, ids: &[String]) -> Vec<Notice> {
    let attribute = workload.ids_attribute();
    let mut errors = Vec::new();
    if ids.len() > MAX_INLINE_IDS {
        errors.push(Notice::on(
            attribute,
            format!("{attribute} is too large for an inline set"),
            format!(
                "{attribute} lists {} ids; inline sets are limited to {} because Terraform's \
                 plan request (configuration, prior and planned state) would exceed the provider's \
                 4 MiB message limit. Put the ids in a file, one per line, and set {} = \"<path>\" \
                 instead; or let inclusion rules or {} resources add the units.",
                thousands(ids.len()),
                thousands(MAX_INLINE_IDS),
                workload.ids_file_attribute(),
                workload.units_resource_type()
            ),
        ));
    }
    let malformed: Vec<String> = ids
        .iter()
        .filter_map(|id| check_id(workload.unit_id_kind(), id).err())
        .collect();
    if !malformed.is_empty() {
        errors.push(Notice::on(
            attribute,
            format!("Invalid ids in {attribute}"),
            bounded_lines(malformed).join("\n"),
        ));
    }
    let duplicates: Vec<String> = duplicate_positions(ids.iter().map(String::as_str))
        .into_iter()
        .map(|(first, second)| format!("{:?} and {:?} are the same id", ids[first], ids[second]))
        .collect();
    if !duplicates.is_empty() {
        errors.push(Notice::on(
            attribute,
            format!("Duplicate ids in {attribute}"),
            format!(
                "Ids compare case-insensitively; list each once.\n{}",
                bounded_lines(duplicates).join("\n")
            ),
        ));
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const GUID: &str = "3f2504e0-4f89-11d3-9a0c-0305e82c3301";
    const SITE: &str = "contoso.sharepoint.com,3F2504E0-4F89-11D3-9A0C-0305E82C3301,3f2504e0-4f89-11d3-9a0c-0305e82c3302";

    #[test]
    fn guids() {
        assert!(is_guid(GUID));
        assert!(is_guid(&GUID.to_uppercase()));
        assert!(!is_guid(&GUID[1..]));
        assert!(!is_guid("3f2504e0x4f89-11d3-9a0c-0305e82c3301"));
        assert!(!is_guid("3f2504e0-4f89-11d3-9a0c-0305e82c330g"));
        assert!(!is_guid(&format!("{{{GUID}}}")));
    }

    #[test]
    fn site_ids() {
        assert!(is_site_id(SITE));
        assert!(is_site_id(&format!(
            "contoso.sharepoint.com/sites/hr,{GUID},{GUID}"
        )));
        assert!(!is_site_id(&format!("contoso.sharepoint.com,{GUID}")));
        assert!(!is_site_id(&format!(",{GUID},{GUID}")));
        assert!(!is_site_id(&format!("contoso..com,{GUID},{GUID}")));
        assert!(!is_site_id(&format!("contoso.com/,{GUID},{GUID}")));
        assert!(!is_site_id(&format!("contoso.com/sites/a b,{GUID},{GUID}")));
        assert!(!is_site_id(&format!("contoso.com,{GUID},{GUID},{GUID}")));
        assert!(!is_site_id(&format!("https://contoso.com,{GUID},{GUID}")));
        assert!(check_id(UnitIdKind::SiteId, GUID).is_err());
        assert!(check_id(UnitIdKind::DirectoryObjectId, SITE).is_err());
    }

    #[test]
    fn names_and_retention() {
        assert!(validate_display_name("x").is_ok());
        assert!(validate_display_name(&"é".repeat(1024)).is_ok());
        assert!(validate_display_name("").is_err());
        let error = validate_display_name(&"x".repeat(1025)).unwrap_err();
        assert_eq!(error.attribute, Some("display_name"));
        assert!(error.detail.contains("1025"));
        assert!(validate_retention_period("P3650D").is_ok());
        assert!(validate_retention_period("P1Y").is_err());
        assert!(validate_retention_period("p90d").is_err());
    }

    #[test]
    fn inline_sets() {
        let ids = vec![GUID.to_string(), GUID.to_uppercase(), "nope".to_string()];
        let errors = validate_inline_ids(Workload::Exchange, &ids);
        assert_eq!(errors.len(), 2);
        assert!(errors[0].detail.contains("\"nope\""));
        assert!(errors[1].summary.contains("Duplicate ids in mailbox_ids"));
        assert!(validate_inline_ids(Workload::Exchange, &ids[..1]).is_empty());

        let many: Vec<String> = (0..=MAX_INLINE_IDS)
            .map(|i| format!("00000000-0000-0000-0000-{i:012}"))
            .collect();
        assert!(validate_inline_ids(Workload::OneDrive, &many[..MAX_INLINE_IDS]).is_empty());
        let errors = validate_inline_ids(Workload::OneDrive, &many);
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].detail.contains("user_ids_file"),
            "{}",
            errors[0].detail
        );
        assert!(errors[0].detail.contains("15,001"));
    }

    #[test]
    fn large_inline_sets_get_a_warning() {
        assert!(slow_inline_set_notice("mailbox_ids", SLOW_INLINE_IDS, "x").is_none());
        let n = slow_inline_set_notice("mailbox_ids", 2_500, "Use a file.").unwrap();
        assert!(
            n.detail.starts_with("mailbox_ids lists 2,500 ids."),
            "{}",
            n.detail
        );
        assert!(n.detail.ends_with("Use a file."));
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }

    proptest! {
        /// A GUID is valid in any case, and its key does not depend on the case.
        #[test]
        fn guid_case_does_not_matter(guid in "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}") {
            prop_assert!(is_guid(&guid));
            prop_assert_eq!(id_key(&guid), id_key(&guid.to_uppercase()));
            let site = format!("h.example.com/sites/x,{guid},{}", guid.to_lowercase());
            prop_assert!(is_site_id(&site));
        }

        /// Duplicates are found exactly when two entries match ignoring case.
        #[test]
        fn duplicates_match_case_insensitive_equality(ids in prop::collection::vec("[a-cA-C]{1,2}", 0..8)) {
            let found = duplicate_positions(ids.iter().map(String::as_str));
            let distinct: std::collections::HashSet<String> = ids.iter().map(|i| i.to_lowercase()).collect();
            prop_assert_eq!(found.len(), ids.len() - distinct.len());
            for (first, second) in found {
                prop_assert!(first < second);
                prop_assert!(ids[first].eq_ignore_ascii_case(&ids[second]));
            }
        }
    }
}
