//! Runs every row of `shared/conformance/buildkit-parser/dockerignore-cases.md` against kiln's
//! `.dockerignore` implementation and the context walk.

use kiln_builder::context::dockerignore::read_patterns;
use kiln_builder::context::walk::{walk, WalkControl, WalkFilter};
use kiln_builder::context::{Context, DockerIgnore};
use std::path::{Path, PathBuf};

/// Code spans of a table cell, with the GFM `\|` escape undone.
fn spans(cell: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = cell;
    while let Some(a) = rest.find('`') {
        let after = &rest[a + 1..];
        let Some(b) = after.find('`') else { break };
        out.push(after[..b].replace("\\|", "|"));
        rest = &after[b + 1..];
    }
    out
}

/// Splits a table row into cells on unescaped `|`.
fn cells(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = line.trim().trim_start_matches('|').chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' && chars.peek() == Some(&'|') {
            cur.push_str("\\|");
            chars.next();
        } else if c == '|' {
            out.push(cur.trim().to_string());
            cur.clear();
        } else {
            cur.push(c);
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

#[derive(Default)]
struct Tally {
    passed: usize,
    total: usize,
    skipped: Vec<String>,
    failures: Vec<String>,
}

impl Tally {
    fn check(&mut self, id: &str, ok: bool, detail: impl FnOnce() -> String) {
        self.total += 1;
        if ok {
            self.passed += 1;
        } else {
            self.failures.push(format!("{id}: {}", detail()));
        }
    }
}

fn make_tree(spec: &[(char, String)]) -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("tempdir");
    for (kind, p) in spec {
        let path = d.path().join(p);
        if *kind == 'd' {
            std::fs::create_dir_all(&path).expect("mkdir");
        } else {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).expect("mkdir");
            }
            std::fs::write(&path, p.as_bytes()).expect("write");
        }
    }
    d
}

/// Parses `d \`a\`, f \`b\``.
fn tree_spec(text: &str) -> Vec<(char, String)> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(a) = rest.find('`') {
        let before = rest[..a].trim_end();
        let kind = before.chars().last().unwrap_or('f');
        let after = &rest[a + 1..];
        let Some(b) = after.find('`') else { break };
        if kind == 'd' || kind == 'f' {
            out.push((kind, after[..b].to_string()));
        }
        rest = &after[b + 1..];
    }
    out
}

fn walk_list(
    root: &Path,
    exclude: Option<&DockerIgnore>,
    include: Option<&DockerIgnore>,
) -> Vec<String> {
    let mut out = Vec::new();
    walk(root, "", WalkFilter { exclude, include }, &mut |e| {
        out.push(format!(
            "{} {}",
            if e.meta.is_dir() { "dir" } else { "file" },
            e.rel
        ));
        Ok(WalkControl::Continue)
    })
    .expect("walk");
    out
}

/// Walks a tree `foo/bar` whose `bar` is unreadable, on a thread that gave up the
/// capabilities that let root read anything. `None` if the capabilities cannot be dropped.
fn unreadable_walk(patterns: Vec<String>, as_include: bool) -> Option<Result<Vec<String>, ()>> {
    use rustix::thread::{capabilities, set_capabilities, CapabilitySet};
    std::thread::spawn(move || {
        let d = make_tree(&[('d', "foo/bar".into())]);
        let no_access =
            <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o000);
        std::fs::set_permissions(d.path().join("foo/bar"), no_access).expect("chmod");
        let mut caps = capabilities(None).ok()?;
        caps.effective
            .remove(CapabilitySet::DAC_OVERRIDE | CapabilitySet::DAC_READ_SEARCH);
        set_capabilities(None, caps).ok()?;
        if std::fs::read_dir(d.path().join("foo/bar")).is_ok() {
            return None;
        }
        let m = if patterns.is_empty() {
            None
        } else {
            Some(matcher(&patterns).expect("patterns"))
        };
        let filter = if as_include {
            WalkFilter {
                exclude: None,
                include: m.as_ref(),
            }
        } else {
            WalkFilter {
                exclude: m.as_ref(),
                include: None,
            }
        };
        let mut out = Vec::new();
        let r = walk(d.path(), "", filter, &mut |e| {
            out.push(format!(
                "{} {}",
                if e.meta.is_dir() { "dir" } else { "file" },
                e.rel
            ));
            Ok(WalkControl::Continue)
        });
        // Give the capabilities back so the temp dir can be removed.
        if let Ok(mut c) = capabilities(None) {
            c.effective |= CapabilitySet::DAC_OVERRIDE | CapabilitySet::DAC_READ_SEARCH;
            let _ = set_capabilities(None, c);
        }
        Some(r.map(|_| out).map_err(|_| ()))
    })
    .join()
    .ok()
    .flatten()
}

fn expected_walk(cell: &str) -> Vec<String> {
    spans(cell)
        .into_iter()
        .filter(|s| s.starts_with("dir ") || s.starts_with("file "))
        .collect()
}

fn matcher(patterns: &[String]) -> Result<DockerIgnore, String> {
    DockerIgnore::from_patterns(patterns).map_err(|e| e.to_string())
}

#[test]
fn dockerignore_conformance() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/conformance/buildkit-parser/dockerignore-cases.md");
    let Ok(text) = std::fs::read_to_string(&path) else {
        println!("SKIPPED: {} not found", path.display());
        return;
    };
    let mut t = Tally::default();
    let lines: Vec<&str> = text.lines().collect();
    let mut i_tree = Vec::new();
    let mut d_tree = Vec::new();
    for para in text.split("\n\n") {
        if let Some(at) = para.find("Tree for I1") {
            i_tree = tree_spec(para[at..].split_once(':').map(|x| x.1).unwrap_or(""));
        }
        if let Some(at) = para.find("Tree for D1") {
            d_tree = tree_spec(para[at..].split_once("):").map(|x| x.1).unwrap_or(""));
        }
    }
    for line in &lines {
        if !line.starts_with("| ") {
            continue;
        }
        let c = cells(line);
        let Some(id) = c.first().cloned() else {
            continue;
        };
        let family: String = id.chars().take_while(|c| c.is_ascii_alphabetic()).collect();
        let num_ok =
            id[family.len()..].chars().all(|c| c.is_ascii_digit()) && id.len() > family.len();
        if !num_ok {
            continue;
        }
        match family.as_str() {
            "M" | "F" => {
                let pat = spans(&c[1]);
                let p = spans(&c[2]).pop().unwrap_or_default();
                let exp = c[3].trim();
                let m = matcher(&pat);
                if exp.starts_with("error") {
                    t.check(&id, m.is_err(), || "expected an error".into());
                } else {
                    let want = exp.starts_with("match");
                    let got = match &m {
                        Ok(m) if family == "M" => m.matches_verbatim(&p),
                        Ok(m) => m.matches(&p),
                        Err(e) => {
                            t.check(&id, false, || format!("unexpected error {e}"));
                            continue;
                        }
                    };
                    t.check(&id, got == want, || {
                        format!("{pat:?} vs {p:?}: got {got}, want {want}")
                    });
                }
            }
            "MP" => {
                let pat = if c[1].contains("(no patterns)") {
                    vec![]
                } else {
                    spans(&c[1])
                };
                let p = spans(&c[2]).pop().unwrap_or_default();
                let exp = c[3].trim();
                let m = matcher(&pat);
                if exp.starts_with("error") || exp.contains("ErrBadPattern") {
                    // MP16: Docker fails at match time; kiln rejects the pattern when parsing.
                    t.check(&id, m.is_err(), || "expected an error".into());
                } else {
                    let want = exp.starts_with("match");
                    match m {
                        Ok(m) => {
                            let got = m.matches(&p);
                            t.check(&id, got == want, || format!("{pat:?} vs {p:?}: got {got}"));
                        }
                        Err(e) => t.check(&id, false, || format!("unexpected error {e}")),
                    }
                }
            }
            "P" => {
                let mut pat = spans(&c[1]);
                if c[1].contains("(empty)") {
                    pat.push(String::new());
                }
                let exp = &c[2];
                let m = matcher(&pat);
                let ok = if exp.starts_with("error") {
                    m.is_err()
                } else if let Some(n) = exp
                    .strip_suffix(" patterns kept (empty dropped)")
                    .or(exp.strip_suffix(" patterns kept"))
                {
                    m.map(|m| m.patterns().len().to_string() == n)
                        .unwrap_or(false)
                } else {
                    m.map(|m| m.has_exclusions()).unwrap_or(false)
                };
                t.check(&id, ok, || format!("{pat:?}: {exp}"));
            }
            "C" => {
                let pat = spans(&c[1]).pop().unwrap_or_default();
                let kind = c[2].trim();
                let re = spans(&c[3]).pop();
                match kiln_builder::context::pattern::DockerPattern::compile(&pat) {
                    Ok(p) => {
                        let mut ok = p.match_type() == kind;
                        if let (Some(re), Some(mine)) = (&re, p.regex_str()) {
                            if !pat.contains('[') {
                                ok &= re == mine;
                            }
                        }
                        t.check(&id, ok, || {
                            format!("{pat:?}: {} {:?}", p.match_type(), p.regex_str())
                        });
                    }
                    Err(e) => t.check(&id, false, || e.to_string()),
                }
            }
            "R" => {
                let exp = spans(&c[1]);
                match id.as_str() {
                    "R1" => {
                        let input = "test1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n! /inverted/abs/path\n!\n! ";
                        let got = read_patterns(input);
                        t.check(&id, got == exp, || format!("{got:?}"));
                    }
                    "R2" => t.check(&id, read_patterns("").is_empty(), || "not empty".into()),
                    _ => {
                        let line_cell = &c[1];
                        let mut line = spans(line_cell).pop().unwrap_or_default();
                        if line_cell.contains("BOM") {
                            line = "\u{feff}foo".to_string();
                        }
                        let got = read_patterns(&line);
                        let want: Vec<String> = if c[2].contains("(skipped)") {
                            vec![]
                        } else {
                            spans(&c[2]).into_iter().take(1).collect()
                        };
                        t.check(&id, got == want, || {
                            format!("{line:?} → {got:?}, want {want:?}")
                        });
                    }
                }
            }
            "W" => {
                let tree = tree_spec(&c[1]);
                let exc = &c[2];
                let exp = &c[3];
                match id.as_str() {
                    "W7" | "W8" | "W9" | "W11" => {
                        let pats = if exc.contains("no filter") {
                            vec![]
                        } else {
                            spans(exc)
                        };
                        let want = if exp.contains("permission-denied error") {
                            Err(())
                        } else {
                            Ok(vec!["dir foo".to_string()])
                        };
                        match unreadable_walk(pats, false) {
                            None => t
                                .skipped
                                .push(format!("{id} (cannot drop CAP_DAC_OVERRIDE here)")),
                            Some(r) => t.check(&id, r == want, || format!("{r:?}")),
                        }
                    }
                    "W3" | "W4" => {
                        let layers: Vec<Vec<String>> = exc.split(';').map(spans).collect();
                        let d = make_tree(&tree);
                        let l1 = matcher(&layers[0]).expect("layer 1");
                        let l2 = matcher(&layers[1]).expect("layer 2");
                        let got: Vec<String> = walk_list(d.path(), Some(&l1), None)
                            .into_iter()
                            .filter(|e| !l2.matches(e.split_once(' ').map(|x| x.1).unwrap_or("")))
                            .collect();
                        t.check(&id, got.is_empty(), || format!("{got:?}"));
                    }
                    "W10" => t.check(&id, matcher(&spans(exc)).is_err(), || "no error".into()),
                    "W5" | "W6" => {
                        let d = make_tree(&tree);
                        let ig = matcher(&spans(exc)).expect("patterns");
                        let ctx = Context::open(d.path(), Some(ig)).expect("open");
                        let (ok_path, missing) = if id == "W5" {
                            ("/foo", "/bar")
                        } else {
                            ("/foo/bar/baz/x", "/foo/bar/baz/y")
                        };
                        let ok = ctx.resolve_sources(&[ok_path.to_string()]).is_ok()
                            && ctx
                                .resolve_sources(&[missing.to_string()])
                                .err()
                                .is_some_and(|e| e.to_string().contains("not found"));
                        t.check(&id, ok, || "open check failed".into());
                    }
                    _ => {
                        let d = make_tree(&tree);
                        let ig = matcher(&spans(exc)).expect("patterns");
                        let got = walk_list(d.path(), Some(&ig), None);
                        let want = expected_walk(exp);
                        t.check(&id, got == want, || format!("got {got:?}, want {want:?}"));
                    }
                }
            }
            "I" => {
                if id == "I11" {
                    match unreadable_walk(spans(&c[1]), true) {
                        None => t
                            .skipped
                            .push("I11 (cannot drop CAP_DAC_OVERRIDE here)".into()),
                        Some(r) => t.check(&id, r == Ok(vec!["dir foo".to_string()]), || {
                            format!("{r:?}")
                        }),
                    }
                    continue;
                }
                if id == "I10" {
                    let d = make_tree(&[
                        ('d', "foo/x".into()),
                        ('d', "foo/y".into()),
                        ('f', "foo/x/a.txt".into()),
                        ('f', "foo/y/b.txt".into()),
                    ]);
                    let inc = matcher(&["**/*.txt".to_string()]).expect("pattern");
                    let mut seen = Vec::new();
                    walk(
                        d.path(),
                        "",
                        WalkFilter {
                            exclude: None,
                            include: Some(&inc),
                        },
                        &mut |e| {
                            seen.push(e.rel.clone());
                            Ok(WalkControl::SkipDir)
                        },
                    )
                    .expect("walk");
                    t.check(&id, seen == ["foo"], || format!("{seen:?}"));
                    continue;
                }
                let d = make_tree(&i_tree);
                let inc = matcher(&spans(&c[1])).expect("pattern");
                let got = walk_list(d.path(), None, Some(&inc));
                let want = expected_walk(&c[2]);
                t.check(&id, got == want, || format!("got {got:?}, want {want:?}"));
            }
            "D" => {
                let d = make_tree(&d_tree);
                let inc = matcher(&spans(&c[1])).expect("pattern");
                let got = walk_list(d.path(), None, Some(&inc));
                let want = expected_walk(&c[2]);
                t.check(&id, got == want, || format!("got {got:?}, want {want:?}"));
            }
            "B" => check_build_row(&id, &mut t),
            _ => {}
        }
    }
    println!(
        "dockerignore conformance: {}/{} passed, {} skipped",
        t.passed,
        t.total,
        t.skipped.len()
    );
    for s in &t.skipped {
        println!("  SKIPPED {s}");
    }
    for f in &t.failures {
        println!("  FAILED {f}");
    }
    assert!(t.total > 200, "too few rows parsed: {}", t.total);
    assert!(t.failures.is_empty(), "{} rows failed", t.failures.len());
}

/// The end-to-end rows, reduced to what the context layer decides.
fn check_build_row(id: &str, t: &mut Tally) {
    let write = |d: &Path, files: &[(&str, &str)]| {
        for (n, c) in files {
            std::fs::write(d.join(n), c).expect("write");
        }
    };
    let d = tempfile::tempdir().expect("tempdir");
    let root = d.path();
    let names = |ctx: &Context| -> Vec<String> {
        ctx.list()
            .expect("list")
            .into_iter()
            .map(|(p, _)| p)
            .collect()
    };
    match id {
        "B1" => {
            write(
                root,
                &[
                    ("Dockerfile", ""),
                    ("foo", "foo-contents"),
                    ("bar", ""),
                    ("baz", ""),
                    ("bay", "bay-contents"),
                ],
            );
            write(
                root,
                &[(".dockerignore", "\nba*\nDockerfile\n!bay\n.dockerignore\n")],
            );
            let ctx = Context::open_default(root, Some(&root.join("Dockerfile"))).expect("open");
            let got = names(&ctx);
            t.check(id, got == ["bay", "foo"], || format!("{got:?}"));
        }
        "B2" => {
            write(root, &[("Dockerfile", ""), (".dockerignore", "!")]);
            t.check(id, Context::open_default(root, None).is_err(), || {
                "no error".into()
            });
        }
        "B3" => {
            write(
                root,
                &[
                    ("Dockerfile", ""),
                    ("Dockerfile2", ""),
                    ("foo", ""),
                    ("bar", ""),
                ],
            );
            write(
                root,
                &[
                    ("Dockerfile.dockerignore", "bar"),
                    ("Dockerfile2.dockerignore", "foo"),
                ],
            );
            let c1 = Context::open_default(root, Some(&root.join("Dockerfile"))).expect("open");
            let c2 = Context::open_default(root, Some(&root.join("Dockerfile2"))).expect("open");
            let ok = c1.resolve_sources(&["/foo".into()]).is_ok()
                && c1.resolve_sources(&["/bar".into()]).is_err()
                && c2.resolve_sources(&["/bar".into()]).is_ok()
                && c2.resolve_sources(&["/foo".into()]).is_err();
            t.check(id, ok, || "per-Dockerfile ignore not applied".into());
        }
        "B4" => {
            write(
                root,
                &[
                    ("out", "dummy-result"),
                    ("out2", "dummy-result"),
                    (".dockerignore", "out2"),
                ],
            );
            let ctx = Context::open_default(root, None).expect("open");
            let got: Vec<String> = ctx
                .resolve_sources(&["/o*".into()])
                .expect("resolve")
                .into_iter()
                .map(|e| e.rel_path)
                .collect();
            t.check(id, got == ["out"], || format!("{got:?}"));
        }
        "B5" => {
            write(root, &[("Dockerfile", ""), (".dockerignore", "Dockerfile")]);
            let ctx = Context::open_default(root, None).expect("open");
            let e = ctx
                .content_digest(&["/Dockerfile".into()], &[])
                .err()
                .map(|e| e.to_string());
            t.check(
                id,
                e.as_deref() == Some("\"/Dockerfile\": not found"),
                || format!("{e:?}"),
            );
        }
        "B6" => {
            write(
                root,
                &[("Dockerfile", ""), (".dockerignore", "**\n!Dockerfile")],
            );
            let ctx = Context::open_default(root, None).expect("open");
            let ok = ctx.resolve_sources(&["/Dockerfile".into()]).is_ok()
                && names(&ctx) == ["Dockerfile"];
            t.check(id, ok, || format!("{:?}", names(&ctx)));
        }
        "B7" => {
            // `--from` sources carry no ignore rules: a stage's SourceRoot has none.
            let s = kiln_builder::fileop::SourceRoot::new(root.to_path_buf());
            t.check(id, s.ignore.is_none(), || "stage source filtered".into());
        }
        "B8" => {
            write(root, &[("Dockerfile", ""), (".dockerignore", ".*")]);
            let ctx = Context::open_default(root, None).expect("open");
            t.check(id, names(&ctx) == ["Dockerfile"], || {
                format!("{:?}", names(&ctx))
            });
        }
        "B9" => {
            write(root, &[("Dockerfile", ""), (".dockerignore", "*")]);
            let ctx = Context::open_default(root, None).expect("open");
            let root_ok = ctx
                .resolve_sources(&["/".into()])
                .map(|v| v.len() == 1)
                .unwrap_or(false);
            t.check(id, root_ok && names(&ctx).is_empty(), || {
                format!("{:?}", names(&ctx))
            });
        }
        _ => {}
    }
}
