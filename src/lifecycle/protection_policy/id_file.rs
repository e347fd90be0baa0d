//! File-backed id sets (decision 1): `site_ids_file` / `user_ids_file` / `mailbox_ids_file` hold
//! one id per line, so that sets far above the inline limit never travel through Terraform's
//! messages. State keeps only the SHA-256 digest of the normalised set and counts; a plan whose
//! file digest differs from the state's proposes an update with a "+N / −M" warning.

use ring::digest::{SHA256, digest};

use super::ids::{check_id, duplicate_positions, thousands};
use super::notices::{Notice, bounded_lines};
use crate::graph::api::protection::Workload;

/// Reads an id file: one id per line; `#` starts a comment (ids never contain `#`); blanks
/// around ids and blank lines are ignored. Returns the ids in file order, as written, or one
/// error listing malformed and duplicate lines (by line number).
pub fn parse_id_file(workload: Workload, path: &str, text: &str) -> Result<Vec<String>, Notice> {
    let mut ids = Vec::new();
    let mut line_numbers = Vec::new();
    let mut problems = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let content = line.split('#').next().unwrap_or_default().trim();
        if content.is_empty() {
            continue;
        }
        match check_id(workload.unit_id_kind(), content) {
            Ok(()) => {
                ids.push(content.to_string());
                line_numbers.push(index + 1);
            }
            Err(reason) => problems.push(format!("line {}: {reason}", index + 1)),
        }
    }
    for (first, second) in duplicate_positions(ids.iter().map(String::as_str)) {
        problems.push(format!(
            "line {}: {:?} repeats line {} (ids compare case-insensitively)",
            line_numbers[second], ids[second], line_numbers[first]
        ));
    }
    if problems.is_empty() {
        return Ok(ids);
    }
    Err(Notice::on(
        workload.ids_file_attribute(),
        format!("Invalid {} {path}", workload.ids_file_attribute()),
        format!(
            "{} has {} problem(s):\n{}",
            path,
            problems.len(),
            bounded_lines(problems).join("\n")
        ),
    ))
}

/// The hex SHA-256 of a set: its case-normalised ids, de-duplicated and sorted, each followed by
/// a newline. Order and spelling of the input do not matter.
pub fn set_digest<'a>(ids: impl IntoIterator<Item = &'a str>) -> String {
    let mut keys: Vec<String> = ids.into_iter().map(super::ids::id_key).collect();
    keys.sort_unstable();
    keys.dedup();
    let mut text = String::with_capacity(keys.iter().map(|k| k.len() + 1).sum());
    for key in &keys {
        text.push_str(key);
        text.push('\n');
    }
    digest(&SHA256, text.as_bytes())
        .as_ref()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// How a desired set differs from the observed managed set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SetDifference {
    /// Ids to add.
    pub added: usize,
    /// Units to remove.
    pub removed: usize,
}

impl SetDifference {
    pub fn is_empty(&self) -> bool {
        self.added == 0 && self.removed == 0
    }
}

/// The plan warning of a file-backed set whose digest changed: "+N / −M".
pub fn file_change_notice(
    workload: Workload,
    tenant_id: &str,
    policy: &str,
    path: &str,
    listed: usize,
    difference: SetDifference,
) -> Notice {
    let attribute = workload.ids_file_attribute();
    Notice::on(
        attribute,
        format!(
            "{attribute} changes policy {policy} in tenant {tenant_id}: +{} / −{}",
            thousands(difference.added),
            thousands(difference.removed)
        ),
        format!(
            "{path} lists {} {}. Compared with the policy's units in tenant {tenant_id}, apply adds \
             {} and removes {}.",
            thousands(listed),
            workload.noun(),
            workload.count_of(difference.added),
            workload.count_of(difference.removed)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const A: &str = "3f2504e0-4f89-11d3-9a0c-0305e82c3301";
    const B: &str = "3f2504e0-4f89-11d3-9a0c-0305e82c3302";

    #[test]
    fn parses_comments_blanks_and_keeps_spelling() {
        let text = format!(
            "# exported 2026-12-01\n\n  {}  \n{B} # shared mailbox\n\t\n",
            A.to_uppercase()
        );
        let ids = parse_id_file(Workload::Exchange, "m.txt", &text).unwrap();
        assert_eq!(ids, vec![A.to_uppercase(), B.to_string()]);
        assert!(
            parse_id_file(Workload::Exchange, "m.txt", "")
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn reports_bad_and_duplicate_lines_by_number() {
        let text = format!("{A}\nnot-an-id\n\n{}\n", A.to_uppercase());
        let error = parse_id_file(Workload::OneDrive, "u.txt", &text).unwrap_err();
        assert_eq!(error.attribute, Some("user_ids_file"));
        assert!(
            error.detail.contains("line 2: \"not-an-id\""),
            "{}",
            error.detail
        );
        assert!(error.detail.contains("line 4:") && error.detail.contains("repeats line 1"));
        let site = format!("contoso.sharepoint.com,{A},{B}");
        assert!(parse_id_file(Workload::SharePoint, "s", &site).is_ok());
        assert!(parse_id_file(Workload::SharePoint, "s", A).is_err());
    }

    #[test]
    fn digest_is_sha256_of_sorted_normalised_lines() {
        // printf 'a\nb\n' | sha256sum
        assert_eq!(set_digest(["B", "a", "b"]), set_digest(["a", "b"]));
        assert_eq!(
            set_digest(["a", "b"]),
            "911169ddaaf146aff539f58c26c489af3b892dff0fe283c1c264c65ae5aa59a2"
        );
        assert_eq!(
            set_digest([]),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn change_notice_shows_both_directions() {
        let notice = file_change_notice(
            Workload::Exchange,
            "t-1",
            "Mail",
            "mailboxes.txt",
            20_000,
            SetDifference {
                added: 12,
                removed: 1,
            },
        );
        assert_eq!(
            notice.summary,
            "mailbox_ids_file changes policy Mail in tenant t-1: +12 / −1"
        );
        assert!(notice.detail.contains("lists 20,000 mailboxes"));
        assert!(
            notice
                .detail
                .contains("adds 12 mailboxes and removes 1 mailbox")
        );
    }

    proptest! {
        /// The digest depends on the set only: not on order, case or repetition.
        #[test]
        fn digest_ignores_order_case_and_repeats(ids in prop::collection::vec("[a-fA-F0-9]{1,6}", 0..10), seed in any::<u64>()) {
            let mut shuffled: Vec<String> = ids.iter().map(|id| id.to_uppercase()).collect();
            shuffled.extend(ids.iter().take(2).cloned());
            let n = shuffled.len().max(1);
            shuffled.rotate_left((seed as usize) % n);
            prop_assert_eq!(
                set_digest(ids.iter().map(String::as_str)),
                set_digest(shuffled.iter().map(String::as_str))
            );
        }

        /// Different sets give different digests.
        #[test]
        fn digest_tells_sets_apart(ids in prop::collection::btree_set("[a-f0-9]{1,6}", 0..10), extra in "[g-z]{1,3}") {
            let with_extra: Vec<&str> = ids.iter().map(String::as_str).chain([extra.as_str()]).collect();
            prop_assert_ne!(set_digest(ids.iter().map(String::as_str)), set_digest(with_extra));
        }

        /// Every id written to a file comes back, whatever comments and blanks surround it.
        #[test]
        fn file_round_trip(count in 0usize..30, comment in "[ a-z]{0,10}") {
            let ids: Vec<String> = (0..count).map(|i| format!("00000000-0000-0000-0000-{i:012}")).collect();
            let text: String = ids.iter().map(|id| format!("  {id}\t# {comment}\n\n")).collect();
            prop_assert_eq!(parse_id_file(Workload::OneDrive, "f", &text).unwrap(), ids);
        }
    }
}
