//! Per-process memory of Graph reads that several calls of one run need (binding decision 9:
//! one listing per policy per process, shared by the refresh, the plan and the apply). Writes
//! forget what they change, so a read after a write always asks Graph again.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Default)]
pub struct Memo {
    entries: Mutex<HashMap<String, Arc<dyn Any + Send + Sync>>>,
}

impl Memo {
    /// What was remembered under `key`, when it has that type.
    pub fn get<T: Clone + Send + Sync + 'static>(&self, key: &str) -> Option<T> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.get(key)?.downcast_ref::<T>().cloned()
    }

    pub fn put<T: Send + Sync + 'static>(&self, key: String, value: T) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.insert(key, Arc::new(value));
    }

    pub fn forget(&self, key: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_by_key_and_type_until_forgotten() {
        let memo = Memo::default();
        memo.put("a".into(), vec![1, 2]);
        assert_eq!(memo.get::<Vec<i32>>("a"), Some(vec![1, 2]));
        assert_eq!(memo.get::<String>("a"), None, "another type is a miss");
        memo.forget("a");
        assert_eq!(memo.get::<Vec<i32>>("a"), None);
    }
}
