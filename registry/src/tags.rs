//! `GET /v2/<name>/tags/list`, following the `Link: <…>; rel="next"` pages.

use oci::Reference;
use reqwest::Method;

use crate::auth::scope::ScopeSet;
use crate::client::Client;
use crate::error::{Error, Missing, Result};
use crate::request::{read_limited, Req, Subject, Target};

/// The most pages followed (a registry that links forever is cut off).
const MAX_PAGES: usize = 1000;

impl Client {
    /// The tags of `r`'s repository, in the registry's order.
    pub async fn list_tags(&self, r: &Reference) -> Result<Vec<String>> {
        let host = self.host(&r.registry, false)?;
        let subj = Subject {
            what: format!("tags of {}", r.name()),
            repository: r.repository.clone(),
            missing: Missing::Repository(r.repository.clone()),
        };
        let invalid = |detail: String| Error::InvalidResponse {
            registry: host.name.clone(),
            what: subj.what.clone(),
            detail,
        };
        let mut target = Target::Path(format!("v2/{}/tags/list?n=1000", r.repository));
        let mut tags = Vec::new();
        for _ in 0..MAX_PAGES {
            let req = Req::new(Method::GET, target, ScopeSet::pull(&r.repository));
            let resp = self.send(&host, &req).await?;
            if !resp.status().is_success() {
                return Err(self.failure(&host, resp, &subj).await);
            }
            let base = resp.url().clone();
            let next = resp
                .headers()
                .get(reqwest::header::LINK)
                .and_then(|v| v.to_str().ok())
                .and_then(next_link)
                .map(|l| base.join(&l));
            let body = read_limited(resp, 4 << 20)
                .await
                .map_err(|_| invalid("the list could not be read (or is over 4 MiB)".into()))?;
            #[derive(serde::Deserialize)]
            struct Page {
                #[serde(default)]
                tags: Option<Vec<String>>,
            }
            let page: Page = serde_json::from_slice(&body).map_err(|e| invalid(e.to_string()))?;
            tags.extend(page.tags.unwrap_or_default());
            match next {
                None => return Ok(tags),
                Some(Ok(u)) if u.host_str() == base.host_str() && u.port() == base.port() => {
                    target = Target::Url(u)
                }
                Some(_) => return Err(invalid("a Link to another host".into())),
            }
        }
        Err(invalid(format!("more than {MAX_PAGES} pages")))
    }
}

/// The `rel="next"` target of a `Link` header.
fn next_link(v: &str) -> Option<String> {
    v.split(',').find_map(|part| {
        let (url, params) = part.trim().split_once(';')?;
        let url = url.trim().strip_prefix('<')?.strip_suffix('>')?;
        params
            .split(';')
            .any(|p| {
                matches!(
                    p.trim().replace(' ', "").as_str(),
                    "rel=\"next\"" | "rel=next"
                )
            })
            .then(|| url.to_string())
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn link_header() {
        assert_eq!(
            super::next_link(r#"</v2/a/tags/list?last=x&n=2>; rel="next""#).as_deref(),
            Some("/v2/a/tags/list?last=x&n=2")
        );
        assert_eq!(super::next_link(r#"</x>; rel="prev""#), None);
        assert_eq!(super::next_link("garbage"), None);
    }
}
