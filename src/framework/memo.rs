//! Per-process memory of Graph reads that several calls of one run need (binding decision 9:
//! one listing per policy per process, shared by the refresh, the plan and the apply). Writes
//! forget what they change, so a read after a write always asks Graph again. It also holds
//! claims that one run's plans make against each other (decision 3: one active policy per
//! workload and tenant in a configuration).

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

    /// Records `value` under `key` unless a different value holds it: then `Err` with that one.
    /// Claiming the same value again succeeds (one object planned twice in a process).
    pub fn claim<T>(&self, key: String, value: T) -> Result<(), T>
    where
        T: Clone + PartialEq + Send + Sync + 'static,
    {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(held) = entries.get(&key).and_then(|v| v.downcast_ref::<T>())
            && *held != value
        {
            return Err(held.clone());
        }
        entries.insert(key, Arc::new(value));
        Ok(())
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

    #[test]
    fn a_claim_is_held_by_its_first_value() {
        let memo = Memo::default();
        assert_eq!(memo.claim("k".into(), "Mail".to_string()), Ok(()));
        assert_eq!(
            memo.claim("k".into(), "Mail".to_string()),
            Ok(()),
            "same again"
        );
        assert_eq!(
            memo.claim("k".into(), "Other".to_string()),
            Err("Mail".into())
        );
        assert_eq!(memo.claim("j".into(), "Other".to_string()), Ok(()));
    }
}
