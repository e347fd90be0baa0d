//! The on-disk token cache written by `terraform-provider-m365backup login` and read by the
//! provider: delegated refresh tokens keyed by (authority, tenant, client id).
//!
//! The file (default `~/.m365backup/token-cache.json`, or `token_cache_path` /
//! `M365BACKUP_TOKEN_CACHE`) is JSON, mode 0600 in a directory created with mode 0700. Every
//! change is a read-modify-write under an exclusive lock (`<file>.lock`) followed by an atomic
//! rename, so a `login` and a provider rotating a token at the same time never lose an entry.

use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::secret::Secret;

/// Where the cache lives when nothing else is configured, relative to `$HOME`.
pub const DEFAULT_RELATIVE_PATH: &str = ".m365backup/token-cache.json";
const FORMAT_VERSION: u32 = 1;

/// The key of one cached sign-in.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CacheKey {
    /// `https://host[:port]`, lower case, no trailing slash.
    pub authority: String,
    /// The tenant given at sign-in (a GUID, a domain, `organizations` or `common`), lower case.
    pub tenant: String,
    /// The app the token was issued to, lower case.
    pub client_id: String,
}

impl CacheKey {
    pub fn new(authority: &str, tenant: &str, client_id: &str) -> Self {
        Self {
            authority: normalize_authority(authority),
            tenant: tenant.trim().to_ascii_lowercase(),
            client_id: client_id.trim().to_ascii_lowercase(),
        }
    }

    /// A token obtained through `organizations` or `common` is redeemable in any tenant.
    pub fn is_multi_tenant(&self) -> bool {
        is_multi_tenant(&self.tenant)
    }
}

/// True for the tenant-independent authorities (`organizations`, `common`).
pub fn is_multi_tenant(tenant: &str) -> bool {
    let t = tenant.trim();
    t.eq_ignore_ascii_case("organizations") || t.eq_ignore_ascii_case("common")
}

fn normalize_authority(authority: &str) -> String {
    authority.trim().trim_end_matches('/').to_ascii_lowercase()
}

/// One cached sign-in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheEntry {
    pub key: CacheKey,
    pub refresh_token: Secret,
    /// When the sign-in happened (RFC 3339).
    pub signed_in_at: String,
    /// When the refresh token was last rotated by the provider (RFC 3339), if ever.
    pub rotated_at: Option<String>,
    /// Tenant of the signed-in user (the `tid` of the first access token), when known.
    pub home_tenant: Option<String>,
    /// Who signed in (`upn`, `preferred_username` or object id), when known.
    pub user: Option<String>,
}

#[derive(Serialize, Deserialize, Default)]
struct RawFile {
    #[serde(default)]
    version: u32,
    #[serde(default)]
    entries: Vec<RawEntry>,
}

#[derive(Serialize, Deserialize)]
struct RawEntry {
    authority: String,
    tenant: String,
    client_id: String,
    refresh_token: String,
    signed_in_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rotated_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    home_tenant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user: Option<String>,
}

impl From<RawEntry> for CacheEntry {
    fn from(r: RawEntry) -> Self {
        CacheEntry {
            key: CacheKey::new(&r.authority, &r.tenant, &r.client_id),
            refresh_token: Secret::new(r.refresh_token),
            signed_in_at: r.signed_in_at,
            rotated_at: r.rotated_at,
            home_tenant: r.home_tenant,
            user: r.user,
        }
    }
}

impl From<&CacheEntry> for RawEntry {
    fn from(e: &CacheEntry) -> Self {
        RawEntry {
            authority: e.key.authority.clone(),
            tenant: e.key.tenant.clone(),
            client_id: e.key.client_id.clone(),
            refresh_token: e.refresh_token.expose().to_owned(),
            signed_in_at: e.signed_in_at.clone(),
            rotated_at: e.rotated_at.clone(),
            home_tenant: e.home_tenant.clone(),
            user: e.user.clone(),
        }
    }
}

/// Now, RFC 3339 in UTC (whole seconds).
pub fn now_rfc3339() -> String {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(0)
        .unwrap_or(now)
        .format(&Rfc3339)
        .unwrap_or_else(|_| now.unix_timestamp().to_string())
}

/// The token cache file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenCacheFile {
    path: PathBuf,
}

impl TokenCacheFile {
    /// The cache at `configured` (`token_cache_path` / `M365BACKUP_TOKEN_CACHE`; a leading `~/`
    /// is the home directory), else at `~/.m365backup/token-cache.json`.
    pub fn resolve(configured: Option<&str>) -> Result<Self, String> {
        let home = || {
            std::env::var_os("HOME")
                .filter(|h| !h.is_empty())
                .map(PathBuf::from)
                .ok_or_else(|| {
                    "HOME is not set: set token_cache_path (M365BACKUP_TOKEN_CACHE) to choose \
                     where the token cache lives"
                        .to_owned()
                })
        };
        let path = match configured.map(str::trim).filter(|p| !p.is_empty()) {
            Some("~") => return Err("token_cache_path must name a file".to_owned()),
            Some(p) => match p.strip_prefix("~/") {
                Some(rest) => home()?.join(rest),
                None => PathBuf::from(p),
            },
            None => home()?.join(DEFAULT_RELATIVE_PATH),
        };
        Ok(Self { path })
    }

    pub fn at(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every entry; an absent file is an empty cache.
    pub fn load(&self) -> Result<Vec<CacheEntry>, String> {
        Ok(self
            .read_raw()?
            .entries
            .into_iter()
            .map(CacheEntry::from)
            .collect())
    }

    /// The entry for `key`, if any.
    pub fn get(&self, key: &CacheKey) -> Result<Option<CacheEntry>, String> {
        Ok(self.load()?.into_iter().find(|e| &e.key == key))
    }

    /// Adds or replaces the entry with the same key.
    pub fn upsert(&self, entry: CacheEntry) -> Result<(), String> {
        self.modify(|entries| {
            entries.retain(|e| e.key != entry.key);
            entries.push(entry);
            true
        })
        .map(|_| ())
    }

    /// Replaces the refresh token of `key` (after Entra rotated it). No entry, no change.
    pub fn rotate(&self, key: &CacheKey, refresh_token: &Secret) -> Result<bool, String> {
        self.modify(|entries| match entries.iter_mut().find(|e| &e.key == key) {
            Some(e) if e.refresh_token != *refresh_token => {
                e.refresh_token = refresh_token.clone();
                e.rotated_at = Some(now_rfc3339());
                true
            }
            _ => false,
        })
    }

    /// Removes the entries `matches` selects; returns them (the caller prints what went).
    pub fn remove(&self, matches: impl Fn(&CacheEntry) -> bool) -> Result<Vec<CacheEntry>, String> {
        let mut removed = Vec::new();
        self.modify(|entries| {
            let (gone, kept): (Vec<_>, Vec<_>) = entries.drain(..).partition(|e| matches(e));
            *entries = kept;
            removed = gone;
            !removed.is_empty()
        })?;
        Ok(removed)
    }

    fn read_raw(&self) -> Result<RawFile, String> {
        let bytes = match fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(RawFile::default()),
            Err(e) => return Err(format!("cannot read {}: {e}", self.path.display())),
        };
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(RawFile::default());
        }
        // Never echo the content: it holds refresh tokens.
        let raw: RawFile = serde_json::from_slice(&bytes).map_err(|e| {
            format!(
                "{} is not a token cache written by terraform-provider-m365backup (JSON error at \
                 line {}, column {}); remove it and sign in again with `login`",
                self.path.display(),
                e.line(),
                e.column()
            )
        })?;
        if raw.version > FORMAT_VERSION {
            return Err(format!(
                "{} was written by a newer terraform-provider-m365backup (format {}); upgrade, or \
                 point token_cache_path elsewhere",
                self.path.display(),
                raw.version
            ));
        }
        Ok(raw)
    }

    /// Read-modify-write under the lock; `change` returns whether it changed anything.
    fn modify(&self, change: impl FnOnce(&mut Vec<CacheEntry>) -> bool) -> Result<bool, String> {
        self.ensure_dir()?;
        let _lock = self.lock()?;
        let mut entries: Vec<CacheEntry> = self
            .read_raw()?
            .entries
            .into_iter()
            .map(CacheEntry::from)
            .collect();
        if !change(&mut entries) {
            return Ok(false);
        }
        let raw = RawFile {
            version: FORMAT_VERSION,
            entries: entries.iter().map(RawEntry::from).collect(),
        };
        let text = serde_json::to_vec_pretty(&raw)
            .map_err(|e| format!("cannot encode the token cache: {e}"))?;
        self.write_atomically(&text)?;
        Ok(true)
    }

    fn ensure_dir(&self) -> Result<(), String> {
        let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) else {
            return Ok(());
        };
        if dir.is_dir() {
            return Ok(());
        }
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))
    }

    fn lock(&self) -> Result<File, String> {
        let mut name = self.path.as_os_str().to_owned();
        name.push(".lock");
        let lock_path = PathBuf::from(name);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&lock_path)
            .map_err(|e| format!("cannot open {}: {e}", lock_path.display()))?;
        // SAFETY: flock on a file descriptor we own; released when `file` is closed.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
        if rc != 0 {
            return Err(format!(
                "cannot lock {}: {}",
                lock_path.display(),
                std::io::Error::last_os_error()
            ));
        }
        Ok(file)
    }

    fn write_atomically(&self, bytes: &[u8]) -> Result<(), String> {
        let mut name = self.path.as_os_str().to_owned();
        name.push(format!(".tmp.{}", std::process::id()));
        let tmp = PathBuf::from(name);
        let result = (|| -> std::io::Result<()> {
            let _ = fs::remove_file(&tmp);
            let mut f = OpenOptions::new()
                .create_new(true)
                .write(true)
                .mode(0o600)
                .open(&tmp)?;
            // The umask may only remove bits; make sure no group/other bit survives either way.
            f.set_permissions(fs::Permissions::from_mode(0o600))?;
            f.write_all(bytes)?;
            f.sync_all()?;
            fs::rename(&tmp, &self.path)?;
            Ok(())
        })();
        result.map_err(|e| {
            let _ = fs::remove_file(&tmp);
            format!("cannot write {}: {e}", self.path.display())
        })
    }
}

/// Picks the cached entries usable by a provider for `client_id` at `authority`: entries for a
/// specific tenant and the multi-tenant ones (`organizations`, `common`).
pub fn entries_for(entries: &[CacheEntry], authority: &str, client_id: &str) -> Vec<CacheEntry> {
    let authority = normalize_authority(authority);
    let client_id = client_id.trim().to_ascii_lowercase();
    entries
        .iter()
        .filter(|e| e.key.authority == authority && e.key.client_id == client_id)
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(tenant: &str, token: &str) -> CacheEntry {
        CacheEntry {
            key: CacheKey::new("https://Login.Example.test/", tenant, "APP"),
            refresh_token: Secret::new(token),
            signed_in_at: now_rfc3339(),
            rotated_at: None,
            home_tenant: None,
            user: Some("admin@contoso.test".into()),
        }
    }

    #[test]
    fn round_trip_with_private_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/dir/cache.json");
        let cache = TokenCacheFile::at(&path);
        assert!(cache.load().unwrap().is_empty());
        cache.upsert(entry("organizations", "rt-1")).unwrap();
        cache.upsert(entry("t1", "rt-t1")).unwrap();
        cache.upsert(entry("ORGANIZATIONS", "rt-2")).unwrap();
        let all = cache.load().unwrap();
        assert_eq!(all.len(), 2);
        let org = cache
            .get(&CacheKey::new(
                "https://login.example.test",
                "organizations",
                "app",
            ))
            .unwrap()
            .unwrap();
        assert_eq!(org.refresh_token.expose(), "rt-2");
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dir_mode = fs::metadata(path.parent().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dir_mode, 0o700);
    }

    #[test]
    fn rotate_and_remove() {
        let dir = tempfile::tempdir().unwrap();
        let cache = TokenCacheFile::at(dir.path().join("c.json"));
        cache.upsert(entry("organizations", "rt-1")).unwrap();
        cache.upsert(entry("t2", "rt-t2")).unwrap();
        let key = CacheKey::new("https://login.example.test", "organizations", "app");
        assert!(cache.rotate(&key, &Secret::new("rt-new")).unwrap());
        assert!(!cache.rotate(&key, &Secret::new("rt-new")).unwrap());
        let e = cache.get(&key).unwrap().unwrap();
        assert_eq!(e.refresh_token.expose(), "rt-new");
        assert!(e.rotated_at.is_some());
        let missing = CacheKey::new("https://login.example.test", "t9", "app");
        assert!(!cache.rotate(&missing, &Secret::new("x")).unwrap());
        let gone = cache.remove(|e| e.key.tenant == "t2").unwrap();
        assert_eq!(gone.len(), 1);
        assert_eq!(cache.load().unwrap().len(), 1);
        let gone = cache.remove(|_| true).unwrap();
        assert_eq!(gone.len(), 1);
        assert!(cache.load().unwrap().is_empty());
    }

    #[test]
    fn corrupt_files_are_explained_without_echoing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        fs::write(&path, "{ not json secret-refresh-token").unwrap();
        let e = TokenCacheFile::at(&path).load().unwrap_err();
        assert!(e.contains("login"), "{e}");
        assert!(!e.contains("secret-refresh-token"), "{e}");
    }

    #[test]
    fn entries_for_filters_by_authority_and_client() {
        let list = vec![entry("organizations", "a"), entry("t1", "b")];
        assert_eq!(
            entries_for(&list, "https://login.example.test/", "app").len(),
            2
        );
        assert!(entries_for(&list, "https://other.test", "app").is_empty());
        assert!(entries_for(&list, "https://login.example.test", "other").is_empty());
        assert!(list[0].key.is_multi_tenant());
        assert!(!list[1].key.is_multi_tenant());
    }

    #[test]
    fn resolve_expands_home() {
        let c = TokenCacheFile::resolve(Some("/tmp/x.json")).unwrap();
        assert_eq!(c.path(), Path::new("/tmp/x.json"));
        if let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
            let c = TokenCacheFile::resolve(Some("~/y.json")).unwrap();
            assert_eq!(c.path(), PathBuf::from(&home).join("y.json"));
            let c = TokenCacheFile::resolve(None).unwrap();
            assert_eq!(c.path(), PathBuf::from(home).join(DEFAULT_RELATIVE_PATH));
        }
    }

    #[test]
    fn debug_does_not_leak() {
        let e = entry("organizations", "very-secret-refresh-token");
        assert!(!format!("{e:?}").contains("very-secret-refresh-token"));
    }
}
