//! Token scopes (`repository:<name>:pull,push`), merged per resource so that one token can
//! cover every repository an operation touches (a cross-repository mount needs push on the
//! target and pull on the source).

use std::collections::{BTreeMap, BTreeSet};

/// A set of scopes, by resource (`type:name`) with its actions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ScopeSet(BTreeMap<(String, String), BTreeSet<String>>);

impl ScopeSet {
    /// Pull on `repository`.
    pub(crate) fn pull(repository: &str) -> ScopeSet {
        ScopeSet::default().with(repository, &["pull"])
    }

    /// Pull and push on `repository`.
    pub(crate) fn push(repository: &str) -> ScopeSet {
        ScopeSet::default().with(repository, &["pull", "push"])
    }

    /// Add `actions` on repository `name`.
    pub(crate) fn with(mut self, name: &str, actions: &[&str]) -> ScopeSet {
        self.0
            .entry(("repository".into(), name.into()))
            .or_default()
            .extend(actions.iter().map(|a| a.to_string()));
        self
    }

    /// Add a scope as a registry wrote it (`type:name:actions`); malformed ones are ignored.
    pub(crate) fn add_raw(&mut self, scope: &str) {
        let Some((resource, actions)) = scope.rsplit_once(':') else {
            return;
        };
        let Some((kind, name)) = resource.split_once(':') else {
            return;
        };
        if kind.is_empty() || name.is_empty() {
            return;
        }
        self.0
            .entry((kind.into(), name.into()))
            .or_default()
            .extend(
                actions
                    .split(',')
                    .filter(|a| !a.is_empty())
                    .map(str::to_string),
            );
    }

    /// The scopes as sent to a token service, sorted.
    pub(crate) fn strings(&self) -> Vec<String> {
        self.0
            .iter()
            .map(|((kind, name), actions)| {
                let a: Vec<&str> = actions.iter().map(String::as_str).collect();
                format!("{kind}:{name}:{}", a.join(","))
            })
            .collect()
    }

    /// One string naming the whole set (a cache key).
    pub(crate) fn key(&self) -> String {
        self.strings().join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_by_resource() {
        let mut s = ScopeSet::push("target").with("source", &["pull"]);
        s.add_raw("repository:target:pull");
        s.add_raw("registry:catalog:*");
        s.add_raw("garbage");
        assert_eq!(
            s.strings(),
            [
                "registry:catalog:*",
                "repository:source:pull",
                "repository:target:pull,push"
            ]
        );
        assert_eq!(ScopeSet::pull("a/b").key(), "repository:a/b:pull");
    }
}
