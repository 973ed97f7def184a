//! COPY and ADD: a file vertex of copy actions (over scratch and merged for `--link`).

use super::dispatch::commit;
use super::paths::{clean_abs, copy_dest, parse_chown};
use super::state::{display_text, StageState};
use super::{Loc, Lowerer};
use crate::instructions::{
    parse_chmod, AddInstruction, Command, CopyInstruction, CopySource, FrontendError,
};
use crate::shell::Lexer;
use kiln_solver::{CopyAction, FileAction, FileOp, MergeOp, Op, SourceOp, VertexId, VertexMeta};
use std::collections::BTreeMap;

/// What COPY and ADD have in common (ADD-only fields are off for COPY).
pub(crate) struct CopyParams<'a> {
    pub is_add: bool,
    pub srcs: &'a [CopySource],
    pub dest: &'a str,
    pub from: Option<&'a str>,
    pub chown: Option<&'a str>,
    pub chmod: Option<&'a str>,
    pub link: bool,
    pub exclude: &'a [String],
    pub parents: bool,
    pub checksum: Option<&'a str>,
    pub keep_git_dir: bool,
    pub unpack: Option<bool>,
}

impl<'a> CopyParams<'a> {
    pub fn from_copy(c: &'a CopyInstruction) -> Self {
        CopyParams {
            is_add: false,
            srcs: &c.srcs,
            dest: &c.dest,
            from: c.from.as_deref(),
            chown: c.chown.as_deref(),
            chmod: c.chmod.as_deref(),
            link: c.link,
            exclude: &c.exclude,
            parents: c.parents,
            checksum: None,
            keep_git_dir: false,
            unpack: None,
        }
    }

    pub fn from_add(a: &'a AddInstruction) -> Self {
        CopyParams {
            is_add: true,
            srcs: &a.srcs,
            dest: &a.dest,
            from: None,
            chown: a.chown.as_deref(),
            chmod: a.chmod.as_deref(),
            link: a.link,
            exclude: &a.exclude,
            parents: false,
            checksum: a.checksum.as_deref(),
            keep_git_dir: a.keep_git_dir,
            unpack: a.unpack,
        }
    }
}

/// `git@…`, `git://…`, `ssh://…`, or an http(s) URL to a `.git` repository.
pub fn is_git_source(s: &str) -> bool {
    if s.starts_with("git@") || s.starts_with("git://") || s.starts_with("ssh://") {
        return true;
    }
    if is_http_source(s) {
        let no_frag = s.split('#').next().unwrap_or(s);
        let no_query = no_frag.split('?').next().unwrap_or(no_frag);
        return no_query.trim_end_matches('/').ends_with(".git");
    }
    false
}

/// `http://` or `https://`.
pub fn is_http_source(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}

/// The file name an `ADD <url>` download gets: the URL path's last segment, or `__unnamed__`.
pub fn url_file_name(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.split(['?', '#']).next().unwrap_or(rest);
    let path = rest.split_once('/').map_or("", |(_, p)| p);
    match path.rsplit('/').next() {
        Some(f) if !f.is_empty() && f != "." => f.to_string(),
        _ => "__unnamed__".into(),
    }
}

/// A `--parents` source: cleaned, keeping a `/./` pivot.
fn parents_src(s: &str) -> String {
    match s.split_once("/./") {
        Some((parent, rest)) => {
            let p = clean_abs(&format!("/{parent}"));
            let r = clean_abs(&format!("/{rest}"));
            format!("{}/.{}", p.trim_end_matches('/'), r)
        }
        None => clean_abs(&format!("/{s}")),
    }
}

impl Lowerer<'_> {
    pub(crate) fn dispatch_copy(
        &mut self,
        st: &mut StageState,
        p: &CopyParams<'_>,
        cmd: &Command,
        loc: &Loc,
    ) -> Result<(), FrontendError> {
        let keyword = if p.is_add { "ADD" } else { "COPY" };
        let dest_raw = self.word(st, p.dest, loc)?;
        let dest = copy_dest(&st.workdir(), &dest_raw);
        let chown = p.chown.map(|c| self.word(st, c, loc)).transpose()?;
        let owner = chown
            .as_deref()
            .map(parse_chown)
            .transpose()
            .map_err(|e| loc.err(e))?;
        let chmod = p.chmod.map(|c| self.word(st, c, loc)).transpose()?;
        let mode = chmod
            .as_deref()
            .map(parse_chmod)
            .transpose()
            .map_err(|e| loc.err(e))?;
        let mut exclude = Vec::new();
        for e in p.exclude {
            exclude.push(self.word(st, e, loc)?);
        }
        let from_vertex = match p.from {
            Some(f) => Some(self.vertex_of_from(f, st).map_err(|e| loc.err(e))?),
            None => None,
        };

        let mut hist = String::from(keyword);
        if p.parents {
            hist.push_str(" --parents");
        }
        if let Some(c) = &chown {
            hist.push_str(&format!(" --chown={c}"));
        }
        if let Some(c) = &chmod {
            hist.push_str(&format!(" --chmod={c}"));
        }

        let base = if p.link {
            self.scratch_vertex()
        } else {
            st.vertex
        };
        let mut inputs: Vec<VertexId> = vec![base];
        let input_of = |v: VertexId, inputs: &mut Vec<VertexId>| -> usize {
            match inputs.iter().skip(1).position(|x| *x == v) {
                Some(i) => i + 1,
                None => {
                    inputs.push(v);
                    inputs.len() - 1
                }
            }
        };
        let n_paths = p
            .srcs
            .iter()
            .filter(|s| matches!(s, CopySource::Path(_)))
            .count();
        let plain = |src_input: usize, src: String| CopyAction {
            src_input,
            src,
            dest: dest.clone(),
            owner: owner.clone(),
            mode: mode.clone(),
            follow_symlinks: false,
            dir_copy_contents: false,
            attempt_unpack: false,
            create_dest_path: true,
            allow_wildcard: false,
            allow_empty_wildcard: false,
            exclude_patterns: exclude.clone(),
            parents: false,
            mtime: None,
        };
        let mut actions = Vec::new();
        for src in p.srcs {
            let CopySource::Path(raw) = src else { continue };
            let s = self.word(st, raw, loc)?;
            hist.push_str(&format!(" {s}"));
            if p.is_add && is_git_source(&s) {
                let mut attrs = BTreeMap::new();
                if p.keep_git_dir {
                    attrs.insert("keep_git_dir".to_string(), "true".to_string());
                }
                if let Some(c) = p.checksum {
                    attrs.insert("checksum".to_string(), self.word(st, c, loc)?);
                }
                let v = self.graph.add(
                    Op::Source(SourceOp {
                        identifier: s.clone(),
                        attrs,
                    }),
                    &[],
                    self.source_meta(&s),
                );
                let mut a = plain(input_of(v, &mut inputs), "/".into());
                a.dir_copy_contents = true;
                actions.push(FileAction::Copy(a));
            } else if p.is_add && is_http_source(&s) {
                let file = url_file_name(&s);
                let mut attrs = BTreeMap::new();
                attrs.insert("filename".to_string(), file.clone());
                if let Some(c) = p.checksum {
                    attrs.insert("checksum".to_string(), self.word(st, c, loc)?);
                }
                let v = self.graph.add(
                    Op::Source(SourceOp {
                        identifier: s.clone(),
                        attrs,
                    }),
                    &[],
                    self.source_meta(&s),
                );
                let mut a = plain(input_of(v, &mut inputs), format!("/{file}"));
                a.attempt_unpack = p.unpack == Some(true);
                actions.push(FileAction::Copy(a));
            } else {
                if p.checksum.is_some() {
                    return Err(
                        loc.err("checksum can't be specified for non-HTTP(S) or Git sources")
                    );
                }
                let v = match from_vertex {
                    Some(v) => v,
                    None => self.context_vertex(),
                };
                let src_path = if p.parents {
                    parents_src(&s)
                } else {
                    clean_abs(&format!("/{s}"))
                };
                actions.push(FileAction::Copy(CopyAction {
                    follow_symlinks: true,
                    dir_copy_contents: true,
                    attempt_unpack: p.is_add && p.unpack != Some(false),
                    allow_wildcard: true,
                    allow_empty_wildcard: n_paths > 1,
                    parents: p.parents,
                    ..plain(input_of(v, &mut inputs), src_path)
                }));
            }
        }
        let heredoc_lexer = Lexer {
            raw_quotes: true,
            ..self.lexer
        };
        for src in p.srcs {
            let CopySource::Heredoc(h) = src else {
                continue;
            };
            hist.push_str(&format!(" <<{}", h.name));
            let body = h.body();
            let data = if h.expand {
                let env = st.env_map();
                heredoc_lexer
                    .process_word(&body, &env)
                    .map_err(|e| loc.err(e.to_string()))?
            } else {
                body
            };
            let doc = self.inline_document(&h.name, 0o644, data);
            actions.push(FileAction::Copy(plain(
                input_of(doc, &mut inputs),
                format!("/{}", h.name),
            )));
        }
        hist.push_str(&format!(" {dest_raw} # buildkit"));

        let text = display_text(self.lexer, st, cmd);
        let meta = st.meta(loc, &text);
        let file_v = self
            .graph
            .add(Op::File(FileOp { actions }), &inputs, meta.clone());
        st.vertex = if p.link {
            let merge_meta = VertexMeta {
                name: meta.name.replacen("] ", "] LINK ", 1),
                ..meta
            };
            self.graph
                .add(Op::Merge(MergeOp {}), &[st.vertex, file_v], merge_meta)
        } else {
            file_v
        };
        commit(st, hist, Some(st.vertex));
        Ok(())
    }

    fn source_meta(&self, s: &str) -> VertexMeta {
        VertexMeta {
            name: format!("[internal] load remote source {s}"),
            ..Default::default()
        }
    }
}
