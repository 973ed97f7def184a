//! Base images for the stage rules: looked up once and shared with lowering, so a build asks
//! its resolver no more than lowering alone would.

use crate::image::Platform;
use crate::lower::{ImageResolver, ResolvedImage};
use std::cell::RefCell;

/// One remembered answer: reference, platform, result.
type Answer = (String, Platform, Result<ResolvedImage, String>);

/// Remembers every answer of the resolver it wraps.
pub struct MemoResolver<'a> {
    inner: &'a dyn ImageResolver,
    answers: RefCell<Vec<Answer>>,
}

impl<'a> MemoResolver<'a> {
    /// Wraps `inner`.
    pub fn new(inner: &'a dyn ImageResolver) -> Self {
        MemoResolver {
            inner,
            answers: RefCell::new(Vec::new()),
        }
    }

    /// A view that only reads what was already resolved.
    pub fn cached(&self) -> CachedOnly<'_, 'a> {
        CachedOnly(self)
    }
}

impl ImageResolver for MemoResolver<'_> {
    fn resolve(&self, reference: &str, platform: &Platform) -> Result<ResolvedImage, String> {
        if let Some((_, _, r)) = self
            .answers
            .borrow()
            .iter()
            .find(|(n, p, _)| n == reference && p == platform)
        {
            return r.clone();
        }
        let r = self.inner.resolve(reference, platform);
        self.answers
            .borrow_mut()
            .push((reference.to_string(), platform.clone(), r.clone()));
        r
    }
}

/// Answers from a [`MemoResolver`]'s memory only (for the same platform: a build for several
/// resolves a name once per platform); never asks its resolver.
pub struct CachedOnly<'m, 'a>(&'m MemoResolver<'a>);

impl ImageResolver for CachedOnly<'_, '_> {
    fn resolve(&self, reference: &str, platform: &Platform) -> Result<ResolvedImage, String> {
        let want = platform.normalized();
        self.0
            .answers
            .borrow()
            .iter()
            .find_map(|(n, p, r)| {
                (n == reference && p.normalized() == want)
                    .then(|| r.clone().ok())
                    .flatten()
            })
            .ok_or_else(|| format!("{reference} was not resolved"))
    }
}
