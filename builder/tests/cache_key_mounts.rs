//! The cache key of a RUN that mounts the build context, against an oracle: for random sets of
//! (overlapping) bind and cache mounts of the context and random edits of its files, the key
//! stays the same if and only if nothing any mount exposes changed (issue 7, item 15).
//!
//! The oracle is computed from an in-memory model of the tree, independently of kiln's walk,
//! digest and ignore matcher: per mount, the set of (path below the mount, type, mode, content or
//! link target) of every entry no ignore rule hides. Keys come from the real solver and worker.

use kiln_builder::context::Context;
use kiln_builder::solver::{
    CacheSharing, Digest, ExecMeta, ExecOp, Graph, Mount, MountKind, Op, SolveOptions, Solver,
    SourceOp, VertexId, VertexMeta,
};
use kiln_builder::worker::KilnWorker;
use kiln_builder::Kiln;
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

// ---------------------------------------------------------------- the model

const DIRS: &[&str] = &["d1", "d1/sub", "d2", "d2/deep", "ign", "d3"];
const FILES: &[&str] = &[
    "a.txt",
    "b.txt",
    "c.log",
    "d1/f.txt",
    "d1/g.log",
    "d1/secret1",
    "d1/sub/h.txt",
    "d1/sub/y.tmp",
    "d2/k.txt",
    "d2/deep/m.tmp",
    "d2/deep/n.txt",
    "ign/z.txt",
    "d3/q.txt",
];
const LINKS: &[&str] = &["d1/link", "d2/l2", "d2/deep/l3"];
const LINK_TARGETS: &[&str] = &["f.txt", "../a.txt", "nowhere", "/d2/k.txt"];
/// Three of the same size: an edit between them keeps the size (a stat cache must still see it).
const CONTENTS: &[&str] = &["", "one", "two", "uno", "three\n"];
const MODES: &[u32] = &[0o644, 0o755, 0o600];
/// `.dockerignore` lines and the paths each matches (Docker's rules: anchored at the context
/// root, `*` within one segment, `**` across segments, a match hides everything below).
const PATTERNS: &[(&str, &str)] = &[
    ("*.log", r"^[^/]*\.log$"),
    ("ign", r"^ign$"),
    ("d1/secret*", r"^d1/secret[^/]*$"),
    ("**/*.tmp", r"^(.*/)?[^/]*\.tmp$"),
    (".dockerignore", r"^\.dockerignore$"),
];

fn pattern_regexes() -> &'static [regex::Regex] {
    static RE: std::sync::OnceLock<Vec<regex::Regex>> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        PATTERNS
            .iter()
            .map(|(_, re)| regex::Regex::new(re).unwrap())
            .collect()
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Dir { mode: u32 },
    File { mode: u32, data: String },
    Link { target: String },
}

#[derive(Debug, Clone)]
struct Tree {
    nodes: BTreeMap<String, Node>,
    /// Indices into PATTERNS, written to `.dockerignore`.
    patterns: Vec<usize>,
}

impl Tree {
    fn ignore_text(&self) -> String {
        self.patterns
            .iter()
            .map(|&i| format!("{}\n", PATTERNS[i].0))
            .collect()
    }

    /// Keep the `.dockerignore` node in step with the patterns.
    fn sync_ignore(&mut self) {
        let data = self.ignore_text();
        self.nodes
            .insert(".dockerignore".into(), Node::File { mode: 0o644, data });
    }

    fn ignored(&self, rel: &str) -> bool {
        let parts: Vec<&str> = rel.split('/').collect();
        (1..=parts.len()).any(|n| {
            let prefix = parts[..n].join("/");
            self.patterns
                .iter()
                .any(|&i| pattern_regexes()[i].is_match(&prefix))
        })
    }

    fn parent_is_dir(&self, rel: &str) -> bool {
        match rel.rsplit_once('/') {
            None => true,
            Some((parent, _)) => matches!(self.nodes.get(parent), Some(Node::Dir { .. })),
        }
    }

    /// What a mount of `rel` (`""` = the whole context) exposes, or `None` if it shows nothing
    /// (its path is gone or hidden).
    fn exposure(&self, rel: &str) -> Option<BTreeMap<String, String>> {
        let top = if rel.is_empty() {
            Node::Dir { mode: 0o755 }
        } else {
            if self.ignored(rel) {
                return None;
            }
            self.nodes.get(rel)?.clone()
        };
        let mut out = BTreeMap::new();
        out.insert(String::new(), describe(&top));
        if let Node::Dir { .. } = top {
            for (path, node) in &self.nodes {
                let below = if rel.is_empty() {
                    Some(path.as_str())
                } else {
                    path.strip_prefix(rel).and_then(|p| p.strip_prefix('/'))
                };
                if let Some(below) = below {
                    if !self.ignored(path) {
                        out.insert(below.to_string(), describe(node));
                    }
                }
            }
        }
        Some(out)
    }
}

fn describe(n: &Node) -> String {
    match n {
        Node::Dir { mode } => format!("dir {mode:o}"),
        Node::File { mode, data } => format!("file {mode:o} {data:?}"),
        Node::Link { target } => format!("link {target}"),
    }
}

// ---------------------------------------------------------------- the real tree

fn write_node(root: &Path, rel: &str, node: &Node) {
    let p = root.join(rel);
    match node {
        Node::Dir { mode } => {
            std::fs::create_dir(&p).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(*mode)).unwrap();
        }
        Node::File { mode, data } => {
            std::fs::write(&p, data).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(*mode)).unwrap();
        }
        Node::Link { target } => std::os::unix::fs::symlink(target, &p).unwrap(),
    }
}

fn write_tree(root: &Path, tree: &Tree) {
    // BTreeMap order puts every parent before its children.
    for (rel, node) in &tree.nodes {
        write_node(root, rel, node);
    }
}

/// One edit; indices pick among what exists when it is applied.
#[derive(Debug, Clone)]
enum Edit {
    /// New content for an existing file (possibly the same).
    Write(usize, usize),
    Chmod(usize, usize),
    /// A new file at a candidate path (no-op if taken or its parent is missing).
    AddFile(usize, usize),
    AddDir(usize),
    AddLink(usize, usize),
    /// Remove an entry (a directory with everything below it).
    Delete(usize),
    /// Move an entry to a free candidate path of its kind.
    Rename(usize, usize),
    /// Change only the mtime.
    Touch(usize),
    /// Retarget a symlink.
    Relink(usize, usize),
    /// Add or remove one `.dockerignore` line.
    ToggleIgnore(usize),
}

fn existing(tree: &Tree, pick: usize, pred: impl Fn(&str, &Node) -> bool) -> Option<String> {
    let all: Vec<&String> = tree
        .nodes
        .iter()
        .filter(|(p, n)| p.as_str() != ".dockerignore" && pred(p, n))
        .map(|(p, _)| p)
        .collect();
    (!all.is_empty()).then(|| all[pick % all.len()].clone())
}

fn apply(root: &Path, tree: &mut Tree, edit: &Edit) {
    match *edit {
        Edit::Write(f, c) => {
            if let Some(p) = existing(tree, f, |_, n| matches!(n, Node::File { .. })) {
                let data = CONTENTS[c % CONTENTS.len()].to_string();
                std::fs::write(root.join(&p), &data).unwrap();
                if let Some(Node::File { data: d, .. }) = tree.nodes.get_mut(&p) {
                    *d = data;
                }
            }
        }
        Edit::Chmod(e, m) => {
            let pick = existing(tree, e, |_, n| !matches!(n, Node::Link { .. }));
            if let Some(p) = pick {
                let mode = MODES[m % MODES.len()];
                std::fs::set_permissions(root.join(&p), std::fs::Permissions::from_mode(mode))
                    .unwrap();
                match tree.nodes.get_mut(&p) {
                    Some(Node::File { mode: md, .. }) | Some(Node::Dir { mode: md }) => *md = mode,
                    _ => {}
                }
            }
        }
        Edit::AddFile(f, c) => add(root, tree, FILES[f % FILES.len()], || Node::File {
            mode: 0o644,
            data: CONTENTS[c % CONTENTS.len()].into(),
        }),
        Edit::AddDir(d) => add(root, tree, DIRS[d % DIRS.len()], || Node::Dir {
            mode: 0o755,
        }),
        Edit::AddLink(l, t) => add(root, tree, LINKS[l % LINKS.len()], || Node::Link {
            target: LINK_TARGETS[t % LINK_TARGETS.len()].into(),
        }),
        Edit::Delete(e) => {
            if let Some(p) = existing(tree, e, |_, _| true) {
                let host = root.join(&p);
                if matches!(tree.nodes[&p], Node::Dir { .. }) {
                    std::fs::remove_dir_all(&host).unwrap();
                } else {
                    std::fs::remove_file(&host).unwrap();
                }
                let below = format!("{p}/");
                tree.nodes.retain(|k, _| k != &p && !k.starts_with(&below));
            }
        }
        Edit::Rename(e, to) => rename(root, tree, e, to),
        Edit::Touch(e) => {
            let pick = existing(tree, e, |_, n| !matches!(n, Node::Link { .. }));
            if let Some(p) = pick {
                let later = std::time::SystemTime::now() + std::time::Duration::from_secs(7);
                std::fs::File::open(root.join(&p))
                    .unwrap()
                    .set_modified(later)
                    .unwrap();
            }
        }
        Edit::Relink(l, t) => {
            if let Some(p) = existing(tree, l, |_, n| matches!(n, Node::Link { .. })) {
                let target = LINK_TARGETS[t % LINK_TARGETS.len()].to_string();
                let host = root.join(&p);
                std::fs::remove_file(&host).unwrap();
                std::os::unix::fs::symlink(&target, &host).unwrap();
                tree.nodes.insert(p, Node::Link { target });
            }
        }
        Edit::ToggleIgnore(i) => {
            let i = i % PATTERNS.len();
            match tree.patterns.iter().position(|&x| x == i) {
                Some(at) => {
                    tree.patterns.remove(at);
                }
                None => tree.patterns.push(i),
            }
            tree.sync_ignore();
            std::fs::write(root.join(".dockerignore"), tree.ignore_text()).unwrap();
        }
    }
}

fn add(root: &Path, tree: &mut Tree, rel: &str, node: impl Fn() -> Node) {
    if tree.nodes.contains_key(rel) || !tree.parent_is_dir(rel) {
        return;
    }
    let node = node();
    write_node(root, rel, &node);
    tree.nodes.insert(rel.to_string(), node);
}

fn rename(root: &Path, tree: &mut Tree, e: usize, to: usize) {
    let Some(from) = existing(tree, e, |_, _| true) else {
        return;
    };
    let pool = match tree.nodes[&from] {
        Node::Dir { .. } => DIRS,
        Node::File { .. } => FILES,
        Node::Link { .. } => LINKS,
    };
    let dest = pool[to % pool.len()];
    let inside = dest == from || dest.starts_with(&format!("{from}/"));
    if inside || tree.nodes.contains_key(dest) || !tree.parent_is_dir(dest) {
        return;
    }
    std::fs::rename(root.join(&from), root.join(dest)).unwrap();
    let below = format!("{from}/");
    let moved: Vec<(String, Node)> = tree
        .nodes
        .iter()
        .filter(|(k, _)| **k == from || k.starts_with(&below))
        .map(|(k, n)| (format!("{dest}{}", &k[from.len()..]), n.clone()))
        .collect();
    tree.nodes
        .retain(|k, _| *k != from && !k.starts_with(&below));
    tree.nodes.extend(moved);
}

// ---------------------------------------------------------------- keys

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bind,
    /// A cache mount filled from the context.
    CacheFrom,
}

fn exec_graph(mounts: &[(Kind, String)]) -> (Graph, VertexId) {
    let mut g = Graph::new();
    let source = |identifier: &str| {
        Op::Source(SourceOp {
            identifier: identifier.into(),
            attrs: Default::default(),
        })
    };
    let root = g.add(source("scratch"), &[], VertexMeta::default());
    let ctx = g.add(source("local://context"), &[], VertexMeta::default());
    let mut all = vec![Mount {
        input: Some(0),
        selector: "/".into(),
        dest: "/".into(),
        readonly: false,
        kind: MountKind::Bind,
    }];
    for (i, (kind, path)) in mounts.iter().enumerate() {
        all.push(Mount {
            input: Some(1),
            selector: format!("/{path}"),
            dest: format!("/m{i}"),
            readonly: true,
            kind: match kind {
                Kind::Bind => MountKind::Bind,
                Kind::CacheFrom => MountKind::Cache {
                    id: format!("c{i}"),
                    sharing: CacheSharing::Shared,
                    mode: None,
                    uid: None,
                    gid: None,
                },
            },
        });
    }
    let op = Op::Exec(ExecOp {
        meta: ExecMeta {
            args: vec!["/bin/sh".into(), "-c".into(), "cat /m*/* > /out".into()],
            env: Vec::new(),
            cwd: "/".into(),
            user: String::new(),
            hostname: None,
            extra_hosts: Vec::new(),
            proxy_env: Vec::new(),
        },
        mounts: all,
        network: Default::default(),
        security: Default::default(),
        platform: None,
    });
    let v = g.add(op, &[root, ctx], VertexMeta::default());
    (g, v)
}

/// The exec vertex's cache key as a build of `dir` would compute it (with a persistent stat
/// cache, as `kiln build` uses), or the error that would fail the build.
fn key(
    kiln: &Kiln,
    dir: &Path,
    stat_cache: &Path,
    mounts: &[(Kind, String)],
) -> Result<Digest, String> {
    let ctx = Context::open_default(dir, None)
        .map_err(|e| e.to_string())?
        .with_stat_cache(stat_cache.to_path_buf());
    let worker = KilnWorker::new(
        kiln.clone(),
        Some(Arc::new(ctx)),
        kiln_runtime::Runtime::new(),
    );
    let solver = Solver::new(
        Arc::new(worker),
        kiln.cache.clone(),
        SolveOptions { jobs: 2 },
    );
    let (g, v) = exec_graph(mounts);
    solver
        .cache_keys(&g, v)
        .map(|k| k[&v].clone())
        .map_err(|e| e.to_string())
}

fn scratch_dir() -> PathBuf {
    // On the project's disk like the other tests' roots (not a tmpfs).
    let d = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("target/test-roots");
    std::fs::create_dir_all(&d).unwrap();
    d
}

// ---------------------------------------------------------------- strategies

fn tree_strategy() -> impl Strategy<Value = Tree> {
    (
        proptest::collection::vec(any::<bool>(), DIRS.len()),
        proptest::collection::vec(proptest::option::of(0..CONTENTS.len()), FILES.len()),
        proptest::collection::vec(proptest::option::of(0..LINK_TARGETS.len()), LINKS.len()),
        proptest::collection::vec(0..MODES.len(), FILES.len()),
        proptest::collection::vec(any::<bool>(), PATTERNS.len()),
    )
        .prop_map(|(dirs, files, links, modes, patterns)| {
            let mut t = Tree {
                nodes: BTreeMap::new(),
                patterns: (0..PATTERNS.len()).filter(|&i| patterns[i]).collect(),
            };
            for (i, d) in DIRS.iter().enumerate() {
                if dirs[i] && t.parent_is_dir(d) {
                    t.nodes.insert(d.to_string(), Node::Dir { mode: 0o755 });
                }
            }
            for (i, f) in FILES.iter().enumerate() {
                if let (Some(c), true) = (files[i], t.parent_is_dir(f)) {
                    t.nodes.insert(
                        f.to_string(),
                        Node::File {
                            mode: MODES[modes[i]],
                            data: CONTENTS[c].into(),
                        },
                    );
                }
            }
            for (i, l) in LINKS.iter().enumerate() {
                if let (Some(target), true) = (links[i], t.parent_is_dir(l)) {
                    t.nodes.insert(
                        l.to_string(),
                        Node::Link {
                            target: LINK_TARGETS[target].into(),
                        },
                    );
                }
            }
            t.sync_ignore();
            t
        })
}

fn edit_strategy() -> impl Strategy<Value = Edit> {
    let n = 64usize;
    prop_oneof![
        (0..n, 0..n).prop_map(|(a, b)| Edit::Write(a, b)),
        (0..n, 0..n).prop_map(|(a, b)| Edit::Chmod(a, b)),
        (0..n, 0..n).prop_map(|(a, b)| Edit::AddFile(a, b)),
        (0..n).prop_map(Edit::AddDir),
        (0..n, 0..n).prop_map(|(a, b)| Edit::AddLink(a, b)),
        (0..n).prop_map(Edit::Delete),
        (0..n, 0..n).prop_map(|(a, b)| Edit::Rename(a, b)),
        (0..n).prop_map(Edit::Touch),
        (0..n, 0..n).prop_map(|(a, b)| Edit::Relink(a, b)),
        (0..n).prop_map(Edit::ToggleIgnore),
    ]
}

/// Mount picks: (kind, index among the paths a mount can show when the case starts).
fn mounts_strategy() -> impl Strategy<Value = Vec<(Kind, usize)>> {
    proptest::collection::vec(
        (
            prop_oneof![3 => Just(Kind::Bind), 1 => Just(Kind::CacheFrom)],
            0..64usize,
        ),
        1..=4,
    )
}

/// The paths a mount may name: the root, and every directory and file no rule hides.
fn mountable(tree: &Tree) -> Vec<String> {
    let mut out = vec![String::new()];
    for (p, n) in &tree.nodes {
        if !matches!(n, Node::Link { .. }) && !tree.ignored(p) {
            out.push(p.clone());
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn a_rebuild_is_cached_iff_nothing_a_mount_exposes_changed(
        tree in tree_strategy(),
        picks in mounts_strategy(),
        edits in proptest::collection::vec(edit_strategy(), 1..=3),
    ) {
        let base = scratch_dir();
        let work = tempfile::Builder::new().prefix("keyprop-").tempdir_in(&base).unwrap();
        let dir = work.path().join("ctx");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let kiln = Kiln::open(&work.path().join("root")).unwrap();
        let stat_cache = work.path().join("statcache");
        let mut tree = tree;
        write_tree(&dir, &tree);

        let paths = mountable(&tree);
        let mounts: Vec<(Kind, String)> =
            picks.iter().map(|(k, i)| (*k, paths[i % paths.len()].clone())).collect();
        let before: Vec<_> = mounts.iter().map(|(_, p)| tree.exposure(p)).collect();
        let k1 = key(&kiln, &dir, &stat_cache, &mounts);
        prop_assert!(k1.is_ok(), "the first build fails: {k1:?}");

        for e in &edits {
            apply(&dir, &mut tree, e);
        }
        let after: Vec<_> = mounts.iter().map(|(_, p)| tree.exposure(p)).collect();
        let unchanged = before == after;
        let k2 = key(&kiln, &dir, &stat_cache, &mounts);
        let cached = k2.as_ref().ok() == k1.as_ref().ok();
        prop_assert_eq!(
            cached,
            unchanged,
            "mounts {:?}\nedits {:?}\nexposed before {:?}\nafter {:?}\nkeys {:?} then {:?}",
            mounts, edits, before, after, k1, k2
        );
        // A third look with nothing changed is a hit (the stat cache written by the second is
        // trusted only where it should be).
        if k2.is_ok() {
            prop_assert_eq!(key(&kiln, &dir, &stat_cache, &mounts), k2);
        }
    }
}

/// A mount whose path is (or passes through) a symlink shows what the symlink leads to: an edit
/// there invalidates, and so does pointing the symlink elsewhere.
#[test]
fn a_mount_through_a_symlink_is_keyed_by_its_target() {
    let work = tempfile::Builder::new()
        .prefix("keylink-")
        .tempdir_in(scratch_dir())
        .unwrap();
    let dir = work.path().join("ctx");
    std::fs::create_dir_all(dir.join("real")).unwrap();
    std::fs::create_dir_all(dir.join("other")).unwrap();
    std::fs::write(dir.join("real/f"), "1").unwrap();
    std::fs::write(dir.join("other/f"), "2").unwrap();
    std::os::unix::fs::symlink("real", dir.join("link")).unwrap();
    let kiln = Kiln::open(&work.path().join("root")).unwrap();
    let sc = work.path().join("statcache");
    let mounts = vec![
        (Kind::Bind, "link".to_string()),
        (Kind::Bind, "link/f".to_string()),
    ];
    let k1 = key(&kiln, &dir, &sc, &mounts).unwrap();
    std::fs::write(dir.join("other/f"), "3").unwrap();
    assert_eq!(key(&kiln, &dir, &sc, &mounts).unwrap(), k1, "not mounted");
    std::fs::write(dir.join("real/f"), "4").unwrap();
    let k2 = key(&kiln, &dir, &sc, &mounts).unwrap();
    assert_ne!(k2, k1, "the target changed");
    std::fs::remove_file(dir.join("link")).unwrap();
    std::os::unix::fs::symlink("/other", dir.join("link")).unwrap();
    assert_ne!(
        key(&kiln, &dir, &sc, &mounts).unwrap(),
        k2,
        "the link moved"
    );
}
