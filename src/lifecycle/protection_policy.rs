//! Protection policies as pure decisions: (configuration, prior state, observed Graph objects)
//! -> what to send and what to tell the user. No I/O, no tf-provider: the policy resources (one
//! generic implementation for SharePoint, OneDrive and Exchange, see
//! [`crate::graph::api::protection::Workload`]) only translate between these types and Terraform.
//!
//! Which binding decision of `provider-spec.md` ("Part 2 — protection") each part implements:
//!
//! | module | decisions |
//! |---|---|
//! | [`ids`] | 1 (inline limit), 18 (GUIDs, site ids, case-insensitive duplicates); name and retention checks |
//! | [`id_file`] | 1 (file-backed sets: parsing, SHA-256 digest, +N / −M) |
//! | [`unit_set`] | 1 (file-set plan), 3 (rule-owned units never removed, not drift), 7 (create order), 9 (managed set), 12 (null vs `[]`, removal warnings); 50-unit chunks and bulk jobs |
//! | [`answers`] | 7 (PATCH answers: "not found" / "already in this policy" succeed, other per-item failures), 8 (bulk job nonce) |
//! | [`retention`] | 11 |
//! | [`activation`] | 3 (another active policy), 8 (adoption after a lost create), 10 (`active` from `isEnabled`), destroy safety |
//! | [`gating`] | 4 (deferral per resource), 5 (when writes are allowed, deferred, or read-only), 6 (403/409/423 to a write) |
//! | [`references`] | 18 (`<tenantId>/<policyId>` ids, tenant from the reference, import of another workload) |
//! | [`plan`] | one update composed: 7 (order), 10, 11, 12, 3 — rename and retention in the first PATCH, activation last |
//! | [`notices`] | 7 and 22 (per-item failures of PATCH answers, units and bulk jobs as warnings naming the tenant, at most 20 lines); unit counts; `activeWithErrors` |

pub mod activation;
pub mod answers;
pub mod gating;
pub mod id_file;
pub mod ids;
pub mod notices;
pub mod plan;
pub mod references;
pub mod retention;
pub mod unit_set;
pub mod waiting;

pub use notices::Notice;
