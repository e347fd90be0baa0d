//! A tenant's directory as far as protection needs it: users (with mailbox and/or drive),
//! groups and SharePoint sites. Set through the admin API; what units and rules refer to.
//!
//! A tenant whose directory was never set is *open*: any well-formed id is accepted as an
//! existing user or site (so that simple tests need no set-up), but nothing can be found by
//! email or url and groups have no members. Once set, the directory is closed and unknown
//! ids get Graph's errors.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct User {
    pub id: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default = "yes")]
    pub mailbox: bool,
    #[serde(default = "yes")]
    pub drive: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Group {
    pub id: String,
    #[serde(default)]
    pub members: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Site {
    pub id: String,
    #[serde(default)]
    pub web_url: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
}

/// The admin API's directory document.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct DirectoryDoc {
    #[serde(default)]
    pub users: Vec<User>,
    #[serde(default)]
    pub groups: Vec<Group>,
    #[serde(default)]
    pub sites: Vec<Site>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Directory {
    /// Never set: any well-formed id exists.
    pub open: bool,
    pub doc: DirectoryDoc,
    #[serde(skip)]
    users: HashMap<String, usize>,
    #[serde(skip)]
    emails: HashMap<String, usize>,
    #[serde(skip)]
    groups: HashMap<String, usize>,
    #[serde(skip)]
    sites: HashMap<String, usize>,
    #[serde(skip)]
    urls: HashMap<String, usize>,
}

fn norm(s: &str) -> String {
    s.trim().trim_end_matches('/').to_ascii_lowercase()
}

/// A directory that was never set is open.
impl Default for Directory {
    fn default() -> Self {
        Self {
            open: true,
            doc: DirectoryDoc::default(),
            users: HashMap::new(),
            emails: HashMap::new(),
            groups: HashMap::new(),
            sites: HashMap::new(),
            urls: HashMap::new(),
        }
    }
}

impl Directory {
    pub fn closed(doc: DirectoryDoc) -> Self {
        let mut d = Self {
            open: false,
            doc,
            ..Default::default()
        };
        d.reindex();
        d
    }

    /// Rebuilds the lookup maps (after loading from disk).
    pub fn reindex(&mut self) {
        self.users = index(self.doc.users.iter().map(|u| u.id.as_str()));
        self.emails = self
            .doc
            .users
            .iter()
            .enumerate()
            .filter_map(|(i, u)| u.email.as_deref().map(|e| (norm(e), i)))
            .collect();
        self.groups = index(self.doc.groups.iter().map(|g| g.id.as_str()));
        self.sites = index(self.doc.sites.iter().map(|s| s.id.as_str()));
        self.urls = self
            .doc
            .sites
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.web_url.as_deref().map(|u| (norm(u), i)))
            .collect();
    }

    pub fn user(&self, id: &str) -> Option<&User> {
        self.users.get(&norm(id)).map(|&i| &self.doc.users[i])
    }

    pub fn user_by_email(&self, email: &str) -> Option<&User> {
        self.emails.get(&norm(email)).map(|&i| &self.doc.users[i])
    }

    pub fn site(&self, id: &str) -> Option<&Site> {
        self.sites.get(&norm(id)).map(|&i| &self.doc.sites[i])
    }

    pub fn site_by_url(&self, url: &str) -> Option<&Site> {
        self.urls.get(&norm(url)).map(|&i| &self.doc.sites[i])
    }

    pub fn group(&self, id: &str) -> Option<&Group> {
        self.groups.get(&norm(id)).map(|&i| &self.doc.groups[i])
    }

    /// A deterministic directory for load tests: ids derived from the tenant id and index;
    /// user `i` is a member of group `i % groups`.
    pub fn generate(tenant: &str, users: usize, groups: usize, sites: usize) -> DirectoryDoc {
        let head: String = tenant.chars().take(18).collect();
        let domain: String = tenant.chars().take(8).collect();
        let id = |kind: u16, i: usize| format!("{head}-{kind:04x}-{i:012x}");
        let doc_users = (0..users)
            .map(|i| User {
                id: id(0x8001, i),
                email: Some(format!("user{i}@t{domain}.onmicrosoft.com")),
                display_name: Some(format!("User {i}")),
                mailbox: true,
                drive: true,
            })
            .collect::<Vec<_>>();
        let mut doc_groups: Vec<Group> = (0..groups)
            .map(|g| Group {
                id: id(0x8002, g),
                members: Vec::new(),
            })
            .collect();
        if groups > 0 {
            for (i, u) in doc_users.iter().enumerate() {
                doc_groups[i % groups].members.push(u.id.clone());
            }
        }
        let doc_sites = (0..sites)
            .map(|i| Site {
                id: format!(
                    "t{domain}.sharepoint.com,{},{}",
                    id(0x8003, i),
                    id(0x8004, i)
                ),
                web_url: Some(format!("https://t{domain}.sharepoint.com/sites/site{i}")),
                display_name: Some(format!("Site {i}")),
            })
            .collect();
        DirectoryDoc {
            users: doc_users,
            groups: doc_groups,
            sites: doc_sites,
        }
    }
}

fn index<'a>(ids: impl Iterator<Item = &'a str>) -> HashMap<String, usize> {
    ids.enumerate().map(|(i, id)| (norm(id), i)).collect()
}
