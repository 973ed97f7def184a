//! The `# syntax=` directive: kiln has one frontend, its built-in Dockerfile frontend, so only
//! references to docker's Dockerfile frontend images are accepted.

use super::config::directive_word;
use crate::ast::Dockerfile;
use crate::instructions::FrontendError;

/// Image names of docker's Dockerfile frontend.
const BUILTIN: &[&str] = &["docker/dockerfile", "docker/dockerfile-upstream"];

/// Registries under which those names are docker's own.
const DOCKER_HUB: &[&str] = &["docker.io/", "index.docker.io/", "registry-1.docker.io/"];

/// `true` when a `syntax` value names docker's Dockerfile frontend (any tag or digest, e.g.
/// `docker/dockerfile:1`, `docker.io/docker/dockerfile:1.7-labs@sha256:…`).
pub fn is_builtin_frontend(value: &str) -> bool {
    let mut name = directive_word(value);
    if let Some((n, _digest)) = name.split_once('@') {
        name = n;
    }
    if let Some((n, _tag)) = name.rsplit_once(':') {
        if !n.is_empty() && !_tag.contains('/') {
            name = n;
        }
    }
    for hub in DOCKER_HUB {
        if let Some(rest) = name.strip_prefix(hub) {
            name = rest;
            break;
        }
    }
    BUILTIN.contains(&name)
}

/// Fails when the file's `syntax` directive names another frontend.
pub fn check_syntax(df: &Dockerfile, file: &str) -> Result<(), FrontendError> {
    let Some(d) = df.directives.iter().find(|d| d.name == "syntax") else {
        return Ok(());
    };
    if is_builtin_frontend(&d.value) {
        return Ok(());
    }
    Err(FrontendError::new(
        file,
        d.line,
        1,
        format!(
            "unsupported syntax frontend {:?}: kiln builds with its built-in Dockerfile frontend (docker/dockerfile)",
            directive_word(&d.value)
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::is_builtin_frontend as builtin;

    #[test]
    fn recognises_docker_frontends() {
        for v in [
            "docker/dockerfile",
            "docker/dockerfile:1",
            "docker/dockerfile:1.7-labs",
            "docker/dockerfile:1-labs",
            "docker.io/docker/dockerfile:1",
            "docker/dockerfile-upstream:master",
            "docker/dockerfile:1@sha256:ac85f380a63b13dfcefa89046420e1781752bab202122f8f50032edf31be0021",
            "docker/dockerfile@sha256:ac85f380a63b13dfcefa89046420e1781752bab202122f8f50032edf31be0021",
            "docker/dockerfile:1 // comment",
        ] {
            assert!(builtin(v), "{v}");
        }
    }

    #[test]
    fn refuses_other_frontends() {
        for v in [
            "foo/bar",
            "foobar",
            "dockerfile:experimental",
            "example.com/docker/dockerfile:1",
            "docker/dockerfilex:1",
            "tonistiigi/dockerfile:1",
        ] {
            assert!(!builtin(v), "{v}");
        }
    }
}
