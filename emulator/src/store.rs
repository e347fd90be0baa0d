//! Shared emulator state: persisted part (tenants, apps, clock offset, token cutoff) in
//! `state.json`, volatile part (device codes, auth codes, faults, request log) in memory.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

use anyhow::{Context, Result};
use base64::Engine;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::lifecycle::{InitialController, Tenant};
use crate::protection::{Protection, Settings};

pub const STATE_FILE: &str = "state.json";
/// Each tenant's protection objects live in `protection/<tenant>.json`, written only when
/// that tenant changed, so that a large tenant does not make every other write large.
pub const PROTECTION_DIR: &str = "protection";
pub const JWT_KEY_FILE: &str = "jwt-hs256.key";
/// The request log keeps at most this many entries (oldest dropped first).
pub const REQUEST_LOG_CAP: usize = 50_000;
/// How long changes gather before `state.json` is written (a crash loses at most this much).
pub const PERSIST_DELAY: std::time::Duration = std::time::Duration::from_millis(500);
/// A tenant's protection file is written at the latest this long after its first unwritten
/// change, even while changes keep coming.
pub const PROTECTION_MAX_DELAY: std::time::Duration = std::time::Duration::from_secs(10);

/// An Entra app registration the token endpoint accepts.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct AppReg {
    pub client_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_pem: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub federated_subject: Option<String>,
    #[serde(default)]
    pub public_client: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Home tenant of a managed identity (tokens from the MSI endpoint); default: demo tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Persisted {
    pub version: u32,
    /// Virtual clock = real clock + this offset.
    pub clock_offset_ns: i64,
    /// Access tokens issued at or before this real time (unix microseconds) are expired.
    #[serde(default)]
    pub tokens_not_before_us: i64,
    pub tenants: BTreeMap<String, Tenant>,
    pub apps: BTreeMap<String, AppReg>,
    /// Per tenant, per client id (lower case): consent changed through the admin API.
    #[serde(default)]
    pub consents: BTreeMap<String, BTreeMap<String, Consent>>,
    #[serde(default)]
    pub settings: Settings,
    /// Per tenant id (stored spelling); persisted in [`PROTECTION_DIR`].
    #[serde(skip)]
    pub protection: BTreeMap<String, Protection>,
}

/// An app's consent in one tenant (admin `POST /tenants/{id}/consent`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Consent {
    pub granted: bool,
    /// Only these permissions (None: the default set).
    #[serde(default)]
    pub roles: Option<Vec<String>>,
}

impl Persisted {
    fn fresh(now: OffsetDateTime) -> Self {
        let mut s = Self {
            version: 1,
            clock_offset_ns: 0,
            tokens_not_before_us: 0,
            tenants: BTreeMap::new(),
            apps: BTreeMap::new(),
            consents: BTreeMap::new(),
            settings: Settings::default(),
            protection: BTreeMap::new(),
        };
        s.tenants.insert(
            crate::demo::TENANT_ID.to_string(),
            Tenant::new(crate::demo::TENANT_ID, InitialController::None, now),
        );
        s.apps.insert(
            crate::demo::CLIENT_ID.to_string(),
            AppReg {
                client_id: crate::demo::CLIENT_ID.to_string(),
                client_secret: Some(crate::demo::CLIENT_SECRET.to_string()),
                public_client: true,
                display_name: Some("m365backup demo controller".to_string()),
                ..Default::default()
            },
        );
        s
    }

    pub fn tenant_mut(&mut self, id: &str) -> Option<&mut Tenant> {
        let key = stored_key(&self.tenants, id)?.to_string();
        self.tenants.get_mut(&key)
    }

    pub fn tenant_id(&self, id: &str) -> Option<String> {
        stored_key(&self.tenants, id).map(str::to_string)
    }

    /// The tenant's protection objects (created on first use).
    pub fn protection_mut(&mut self, tenant: &str) -> &mut Protection {
        self.protection.entry(tenant.to_string()).or_default()
    }

    /// The permissions `client_id` holds in `tenant`, or None when consent was revoked.
    pub fn permissions(&self, tenant: &str, client_id: &str) -> Option<Vec<String>> {
        let consent = self
            .consents
            .get(&tenant.to_ascii_lowercase())
            .and_then(|m| m.get(&client_id.to_ascii_lowercase()));
        match consent {
            Some(c) if !c.granted => None,
            Some(Consent {
                roles: Some(roles), ..
            }) => Some(roles.clone()),
            _ => Some(
                crate::tokens::DEFAULT_PERMISSIONS
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
            ),
        }
    }

    pub fn app(&self, client_id: &str) -> Option<&AppReg> {
        self.apps.get(stored_key(&self.apps, client_id)?)
    }
}

/// The stored spelling of a GUID key, matched case-insensitively as Entra and Graph do.
/// Every request looks a tenant up, so the exact spelling (what tokens carry) is tried
/// first in O(log n); only a differently-cased id pays for the scan.
pub(crate) fn stored_key<'m, V>(map: &'m BTreeMap<String, V>, id: &str) -> Option<&'m str> {
    if let Some((key, _)) = map.get_key_value(id) {
        return Some(key);
    }
    map.keys()
        .find(|k| k.eq_ignore_ascii_case(id))
        .map(String::as_str)
}

#[derive(Debug, Clone, Serialize)]
pub struct DeviceCode {
    pub device_code: String,
    pub user_code: String,
    pub client_id: String,
    pub tenant: String,
    pub scope: String,
    #[serde(skip)]
    pub expires_at: OffsetDateTime,
    pub expires_at_rfc3339: String,
    pub approved_user: Option<String>,
}

#[derive(Debug, Clone)]
pub struct AuthCode {
    pub client_id: String,
    pub tenant: String,
    pub scope: String,
    pub redirect_uri: String,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub user_id: String,
    pub expires_at: OffsetDateTime,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Fault {
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub path_prefix: Option<String>,
    #[serde(default)]
    pub status: Option<u16>,
    /// `"<seconds>"` (or a number) for a delta-seconds Retry-After, `"http-date"` for an
    /// HTTP-date `retry_after_seconds` (default 2) ahead.
    #[serde(default)]
    pub retry_after: Option<serde_json::Value>,
    #[serde(default)]
    pub retry_after_seconds: Option<u64>,
    #[serde(default)]
    pub count: Option<u64>,
    #[serde(default)]
    pub delay_ms: Option<u64>,
    #[serde(default)]
    pub drop: Option<String>,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub content_type: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LogEntry {
    pub method: String,
    pub path: String,
    pub status: Option<u16>,
    pub token_kind: Option<&'static str>,
    pub tenant: Option<String>,
    pub time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault: Option<&'static str>,
}

#[derive(Default)]
pub struct Volatile {
    pub device_codes: Vec<DeviceCode>,
    pub auth_codes: HashMap<String, AuthCode>,
    pub faults: Vec<Fault>,
    pub requests: VecDeque<LogEntry>,
}

pub struct Emu {
    pub state_dir: PathBuf,
    state: Mutex<Persisted>,
    generation: AtomicU64,
    written: Mutex<u64>,
    /// The persisted state changed since `state.json` was last written.
    dirty: AtomicBool,
    /// Tenants whose protection file is due for writing.
    /// (first unwritten change, latest change) per tenant.
    protection_dirty: Mutex<BTreeMap<String, (std::time::Instant, std::time::Instant)>>,
    changed: tokio::sync::Notify,
    pub volatile: Mutex<Volatile>,
    pub jwt_key: Vec<u8>,
    /// Mirror of `Persisted::clock_offset_ns`, readable without the state lock.
    clock_offset_ns: AtomicI64,
    pub ca_cert_path: PathBuf,
    pub trust_bundle_path: PathBuf,
}

fn random_bytes(n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n + 16);
    while out.len() < n {
        out.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    }
    out.truncate(n);
    out
}

/// A random URL-safe token of about `n` bytes of entropy (UUID v4 based).
pub fn random_token(n: usize) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes(n))
}

impl Emu {
    pub fn open(
        state_dir: &Path,
        ca_cert_path: PathBuf,
        trust_bundle_path: PathBuf,
    ) -> Result<Self> {
        let key_path = state_dir.join(JWT_KEY_FILE);
        let jwt_key = if key_path.exists() {
            let s = std::fs::read_to_string(&key_path)
                .with_context(|| format!("reading {}", key_path.display()))?;
            base64::engine::general_purpose::STANDARD
                .decode(s.trim())
                .with_context(|| format!("decoding {}", key_path.display()))?
        } else {
            let k = random_bytes(32);
            crate::tls::write_private(
                &key_path,
                base64::engine::general_purpose::STANDARD
                    .encode(&k)
                    .as_bytes(),
            )?;
            k
        };
        let state_path = state_dir.join(STATE_FILE);
        let state = if state_path.exists() {
            let bytes = std::fs::read(&state_path)
                .with_context(|| format!("reading {}", state_path.display()))?;
            serde_json::from_slice::<Persisted>(&bytes).with_context(|| {
                format!(
                    "parsing {} (delete it to start afresh)",
                    state_path.display()
                )
            })?
        } else {
            Persisted::fresh(OffsetDateTime::now_utc())
        };
        let mut state = state;
        state.protection = load_protection(state_dir)?;
        let offset = state.clock_offset_ns;
        let emu = Self {
            clock_offset_ns: AtomicI64::new(offset),
            state_dir: state_dir.to_path_buf(),
            state: Mutex::new(state),
            generation: AtomicU64::new(1),
            written: Mutex::new(0),
            dirty: AtomicBool::new(false),
            protection_dirty: Mutex::new(Default::default()),
            changed: tokio::sync::Notify::new(),
            volatile: Mutex::new(Volatile::default()),
            jwt_key,
            ca_cert_path,
            trust_bundle_path,
        };
        // Written at once, so that an unwritable state directory fails the start.
        emu.dirty.store(true, Ordering::SeqCst);
        emu.flush()?;
        Ok(emu)
    }

    /// The virtual clock.
    pub fn now(&self) -> OffsetDateTime {
        let offset = self.clock_offset_ns.load(Ordering::SeqCst);
        OffsetDateTime::now_utc() + time::Duration::nanoseconds(offset)
    }

    /// Moves the virtual clock forward by `seconds` (negative values are refused by the caller).
    pub fn advance_clock(&self, seconds: f64) -> OffsetDateTime {
        let delta = (seconds * 1e9) as i64;
        self.mutate(|p| {
            p.clock_offset_ns = p.clock_offset_ns.saturating_add(delta);
            self.clock_offset_ns
                .store(p.clock_offset_ns, Ordering::SeqCst);
        });
        self.now()
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, Persisted> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn volatile(&self) -> std::sync::MutexGuard<'_, Volatile> {
        self.volatile.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads the state without persisting.
    pub fn read<R>(&self, f: impl FnOnce(&Persisted) -> R) -> R {
        f(&self.lock())
    }

    /// Changes the state; `state.json` follows shortly (see [`Emu::flush`]).
    pub fn mutate<R>(&self, f: impl FnOnce(&mut Persisted) -> R) -> R {
        self.mutate_if(|p| (f(p), true))
    }

    /// Like [`Emu::mutate`] but marks the state for writing only when `f` reports a change.
    pub fn mutate_if<R>(&self, f: impl FnOnce(&mut Persisted) -> (R, bool)) -> R {
        let (r, changed) = {
            let mut g = self.lock();
            let (r, changed) = f(&mut g);
            if changed {
                // Set under the state lock, so that a flush never misses a change.
                self.dirty.store(true, Ordering::SeqCst);
            }
            (r, changed)
        };
        if changed {
            self.changed.notify_one();
        }
        r
    }

    /// Marks a tenant's protection for writing (see [`Emu::flush`]).
    pub fn protection_changed(&self, tenant: &str) {
        let now = std::time::Instant::now();
        self.protection_dirty
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(tenant.to_string())
            .and_modify(|e| e.1 = now)
            .or_insert((now, now));
        self.changed.notify_one();
    }

    /// Writes `state.json` now if anything changed since the last write (atomically, newest
    /// generation wins). Writing after every change would cost O(tenants) per Graph call, which
    /// at fleet scale made the emulator the busiest process on the machine; the server writes
    /// from [`Emu::persist_changes`] instead, and once more when it stops.
    pub fn flush(&self) -> Result<()> {
        self.flush_protection(true)?;
        self.flush_state()
    }

    fn flush_state(&self) -> Result<()> {
        let (bytes, generation) = {
            let g = self.lock();
            if !self.dirty.swap(false, Ordering::SeqCst) {
                return Ok(());
            }
            (
                serde_json::to_vec_pretty(&*g)?,
                self.generation.fetch_add(1, Ordering::SeqCst),
            )
        };
        self.write(generation, &bytes)
    }

    /// Writes the protection file of tenants that changed since their last write: all of them
    /// when `all` (shutdown), otherwise those idle for [`PERSIST_DELAY`] or unwritten for
    /// [`PROTECTION_MAX_DELAY`], so that a burst of changes to a large tenant costs one write.
    /// Each file is serialized under the state lock and written outside it. Returns whether
    /// some tenant is left for later.
    fn flush_protection(&self, all: bool) -> Result<bool> {
        let now = std::time::Instant::now();
        let (tenants, left) = {
            let mut dirty = self
                .protection_dirty
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let due: Vec<String> = dirty
                .iter()
                .filter(|(_, (first, last))| {
                    all || now - *last >= PERSIST_DELAY || now - *first >= PROTECTION_MAX_DELAY
                })
                .map(|(t, _)| t.clone())
                .collect();
            for t in &due {
                dirty.remove(t);
            }
            (due, !dirty.is_empty())
        };
        if tenants.is_empty() {
            return Ok(left);
        }
        let dir = self.state_dir.join(PROTECTION_DIR);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        for t in tenants {
            let bytes = {
                let g = self.lock();
                match g.protection.get(&t) {
                    Some(p) => Some(serde_json::to_vec(p)?),
                    None => None,
                }
            };
            let path = dir.join(format!("{t}.json"));
            match bytes {
                Some(b) => {
                    let tmp = dir.join(format!("{t}.json.tmp"));
                    std::fs::write(&tmp, &b)
                        .with_context(|| format!("writing {}", tmp.display()))?;
                    std::fs::rename(&tmp, &path)
                        .with_context(|| format!("writing {}", path.display()))?;
                }
                None => {
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
        Ok(left)
    }

    /// [`Emu::flush`] without the busy tenants' protection files; whether some are left.
    fn flush_background(&self) -> Result<bool> {
        let left = self.flush_protection(false)?;
        self.flush_state()?;
        Ok(left)
    }

    /// Writes changes in the background, at most one write per [`PERSIST_DELAY`].
    pub async fn persist_changes(self: std::sync::Arc<Self>) {
        loop {
            self.changed.notified().await;
            tokio::time::sleep(PERSIST_DELAY).await;
            let emu = self.clone();
            match tokio::task::spawn_blocking(move || emu.flush_background()).await {
                Ok(Ok(true)) => self.changed.notify_one(),
                Ok(Ok(false)) => {}
                Ok(Err(e)) => tracing::error!(error = format!("{e:#}"), "cannot write the state"),
                Err(e) => tracing::error!(error = %e, "state writer stopped"),
            }
        }
    }

    fn write(&self, generation: u64, bytes: &[u8]) -> Result<()> {
        let mut written = self.written.lock().unwrap_or_else(|e| e.into_inner());
        if generation <= *written {
            return Ok(());
        }
        let path = self.state_dir.join(STATE_FILE);
        let tmp = self.state_dir.join(format!("{STATE_FILE}.tmp"));
        std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
        *written = generation;
        Ok(())
    }

    pub fn log(&self, entry: LogEntry) {
        let mut v = self.volatile();
        if v.requests.len() >= REQUEST_LOG_CAP {
            v.requests.pop_front();
        }
        v.requests.push_back(entry);
    }
}

/// Reads every `protection/<tenant>.json`.
fn load_protection(state_dir: &Path) -> Result<BTreeMap<String, Protection>> {
    let dir = state_dir.join(PROTECTION_DIR);
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(out);
    };
    for e in entries {
        let path = e?.path();
        let Some(tenant) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".json"))
            .map(str::to_string)
        else {
            continue;
        };
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let mut p: Protection = serde_json::from_slice(&bytes)
            .with_context(|| format!("parsing {} (delete it to start afresh)", path.display()))?;
        p.reindex();
        out.insert(tenant, p);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_and_app_lookups_ignore_case_and_return_the_stored_spelling() {
        let p = Persisted::fresh(OffsetDateTime::now_utc());
        let tenant = crate::demo::TENANT_ID;
        assert_eq!(p.tenant_id(tenant).as_deref(), Some(tenant));
        assert_eq!(
            p.tenant_id(&tenant.to_ascii_uppercase()).as_deref(),
            Some(tenant)
        );
        assert!(
            p.tenant_id("00000000-0000-0000-0000-000000000000")
                .is_none()
        );
        let app = crate::demo::CLIENT_ID;
        assert_eq!(
            p.app(&app.to_ascii_uppercase())
                .map(|a| a.client_id.as_str()),
            Some(app)
        );
        assert!(p.app("not-an-app").is_none());
    }

    #[test]
    fn changes_reach_state_json_on_flush_and_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let open = || {
            Emu::open(
                dir.path(),
                dir.path().join("ca.pem"),
                dir.path().join("bundle.pem"),
            )
            .unwrap()
        };
        let emu = open();
        let tenant = "0f0f0f0f-0000-4000-8000-000000000001";
        emu.mutate(|p| {
            p.tenants.insert(
                tenant.into(),
                Tenant::new(tenant, InitialController::None, OffsetDateTime::now_utc()),
            )
        });
        let on_disk = || std::fs::read_to_string(dir.path().join(STATE_FILE)).unwrap();
        assert!(!on_disk().contains(tenant), "written later, not per change");
        emu.flush().unwrap();
        assert!(on_disk().contains(tenant));
        drop(emu);
        assert!(open().read(|p| p.tenant_id(tenant)).is_some());
    }
}
