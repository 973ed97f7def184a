//! Where variable values come from.

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;

/// A source of variable values for expansion.
pub trait Env {
    /// The value of `name`, or `None` when it is not set (set-but-empty is `Some("")`).
    fn get(&self, name: &str) -> Option<String>;
}

impl<T: Env + ?Sized> Env for &T {
    fn get(&self, name: &str) -> Option<String> {
        (**self).get(name)
    }
}

impl<S: BuildHasher> Env for HashMap<String, String, S> {
    fn get(&self, name: &str) -> Option<String> {
        HashMap::get(self, name).cloned()
    }
}

impl Env for BTreeMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        BTreeMap::get(self, name).cloned()
    }
}

/// Pairs; the last pair with the name wins.
impl Env for [(String, String)] {
    fn get(&self, name: &str) -> Option<String> {
        self.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
}

impl Env for Vec<(String, String)> {
    fn get(&self, name: &str) -> Option<String> {
        Env::get(self.as_slice(), name)
    }
}

/// `K=V` strings (an entry without `=` sets `K` to the empty string); the last one wins.
impl Env for [String] {
    fn get(&self, name: &str) -> Option<String> {
        self.iter().rev().find_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv.as_str(), ""));
            (k == name).then(|| v.to_string())
        })
    }
}

impl Env for Vec<String> {
    fn get(&self, name: &str) -> Option<String> {
        Env::get(self.as_slice(), name)
    }
}

#[cfg(test)]
mod tests {
    use super::Env;

    #[test]
    fn kv_lists_last_wins() {
        let v = vec!["A=1".to_string(), "B".into(), "A=2".into()];
        assert_eq!(Env::get(&v, "A"), Some("2".into()));
        assert_eq!(Env::get(&v, "B"), Some(String::new()));
        assert_eq!(Env::get(&v, "C"), None);
        let p = vec![("A".to_string(), "x=y".to_string())];
        assert_eq!(Env::get(&p, "A"), Some("x=y".into()));
    }
}
