//! What `kiln build` takes besides a directory (issue 9): a context or a Dockerfile on stdin
//! (`kiln build -`, item 15), and `-o type=image,name=…,push=…` (item 6).
//!
//! stdin: recorded from Docker 20.10.24 + BuildKit on this machine (`tar -c . | gzip |
//! DOCKER_BUILDKIT=1 docker build --network=host --progress=plain -`). `-o`: this machine's
//! docker 20.10 has only BuildKit's local and tar exporters (`-o type=image,…` answers
//! `exporter "image" could not be found`), so kiln follows current BuildKit's exporter keys.

mod common;

use common::{printed, Kiln};
use std::io::Write;
use std::process::{Output, Stdio};

fn build_stdin(k: &Kiln, args: &[&str], input: &[u8]) -> Output {
    let mut child = k
        .cmd()
        .arg("build")
        .arg("--progress=plain")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

fn tar_of(files: &[(&str, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, text) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(text.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(1_700_000_000);
        h.set_cksum();
        b.append_data(&mut h, name, text.as_bytes()).unwrap();
    }
    b.into_inner().unwrap()
}

const DOCKERFILE: &str = "FROM busybox\nCOPY . /ctx\nRUN ls -A /ctx; cat /ctx/a\n";

#[test]
fn a_tar_on_stdin_is_the_context_whatever_its_compression() {
    let k = Kiln::new();
    let tar = tar_of(&[("Dockerfile", DOCKERFILE), ("a", "hello\n")]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
    bz.write_all(&tar).unwrap();
    let mut xz = Vec::new();
    lzma_rs::xz_compress(&mut &tar[..], &mut xz).unwrap();
    for (what, bytes) in [
        ("plain", tar.clone()),
        ("gzip", gz.finish().unwrap()),
        ("bzip2", bz.finish().unwrap()),
        ("xz", xz),
    ] {
        let out = build_stdin(&k, &["--no-cache", "-t", "fromtar", "-"], &bytes);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{what}: {err}");
        // docker: `Dockerfile`, `a`, `hello`.
        for line in ["Dockerfile", "a", "hello"] {
            assert!(printed(&err, line), "{what}: no {line:?} in\n{err}");
        }
    }
    // `-f` names a file of the tar.
    let tar = tar_of(&[("sub/Other", "FROM busybox\nRUN echo other-file\n")]);
    let out = build_stdin(&k, &["-f", "sub/Other", "-"], &tar);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && printed(&err, "other-file"), "{err}");
    // Nothing of the unpacked contexts is left in the store's temporary files.
    let tmp = k.root.path().join("tmp");
    let left: Vec<_> = walk(&tmp);
    assert!(left.is_empty(), "{left:?}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            out.push(e.path());
            out.extend(walk(&e.path()));
        }
    }
    out
}

#[test]
fn a_bare_dockerfile_on_stdin_builds_with_an_empty_context() {
    let k = Kiln::new();
    let out = build_stdin(
        &k,
        &["-t", "bare", "-"],
        b"FROM busybox\nCOPY . /ctx\nRUN ls -A /ctx; echo end\n",
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    // docker: only `end` (the context is empty).
    assert!(printed(&err, "end"), "{err}");
    assert!(
        !printed(&err, "Dockerfile") && !printed(&err, ".dockerignore"),
        "{err}"
    );
    // docker: `invalid argument: can't use stdin for both build context and dockerfile`, 1.
    let out = build_stdin(&k, &["-f", "-", "-"], b"FROM busybox\n");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("invalid argument: can't use stdin for both build context and dockerfile"));
    // `-f -` with a context directory keeps working.
    let ctx = common::context(&[("a", "from-dir\n")]);
    let out = build_stdin(
        &k,
        &["-f", "-", ctx.path().to_str().unwrap()],
        b"FROM busybox\nCOPY a /a\nRUN cat /a\n",
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && printed(&err, "from-dir"), "{err}");
}

#[test]
fn a_hostile_tar_on_stdin_writes_nothing_outside_its_context() {
    let k = Kiln::new();
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("pwned");
    // A symlink to a directory outside, then a file through it; and a `..` entry.
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    h.set_mode(0o777);
    h.set_link_name(outside.path()).unwrap();
    h.set_cksum();
    b.append_data(&mut h, "link", &[][..]).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_size(1);
    h.set_mode(0o644);
    h.set_cksum();
    b.append_data(&mut h, "link/pwned", &b"x"[..]).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_size(13);
    h.set_mode(0o644);
    h.set_cksum();
    b.append_data(&mut h, "Dockerfile", &b"FROM busybox\n"[..])
        .unwrap();
    let out = build_stdin(&k, &["-"], &b.into_inner().unwrap());
    assert!(
        !target.exists(),
        "the symlink led a write out of the context"
    );
    let _ = out;
    let mut raw = tar_of(&[("Dockerfile", "FROM busybox\n")]);
    let mut h = tar::Header::new_gnu();
    h.set_size(1);
    h.set_mode(0o644);
    h.as_gnu_mut().unwrap().name[..9].copy_from_slice(b"../escape");
    h.set_cksum();
    let mut b = tar::Builder::new(Vec::new());
    b.append(&h, &b"x"[..]).unwrap();
    raw.truncate(raw.len() - 1024);
    raw.extend(b.into_inner().unwrap());
    let out = build_stdin(&k, &["-"], &raw);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("escape"));
}

#[test]
fn output_image_names_it_and_refuses_what_kiln_cannot_do_by_name() {
    let k = Kiln::new();
    let ctx = common::context(&[("Dockerfile", "FROM busybox\nLABEL o=1\n")]);
    let d = ctx.path().to_str().unwrap();
    // name= names the image as -t does (BuildKit's image exporter).
    k.ok(&[
        "build",
        "-q",
        "-o",
        "type=image,name=named:v1,push=false",
        d,
    ]);
    assert_eq!(k.inspect("named:v1")["Config"]["Labels"]["o"], "1");
    k.ok(&["build", "-q", "-o", "type=image,\"name=a:1,b:2\"", d]);
    assert_eq!(k.inspect("a:1")["Id"], k.inspect("b:2")["Id"]);
    // name= inside a docker archive.
    let dest = tempfile::tempdir().unwrap();
    let tar = dest.path().join("x.tar");
    let spec = format!("type=docker,name=arch:v2,dest={}", tar.display());
    k.ok(&["build", "-q", "-o", &spec, d]);
    let manifest = read_tar_entry(&tar, "manifest.json");
    assert!(manifest.contains("arch:v2"), "{manifest}");
    // A push needs a name (BuildKit's words), and is refused before anything is built.
    let out = k.run(&["build", "-q", "-o", "type=registry", d]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("tag is needed when pushing to registry"));
    for (spec, words) in [
        (
            "type=image,bogus=1",
            &["\"bogus\"", "valid keys: type, name, push"][..],
        ),
        (
            "type=bogus",
            &[
                "\"bogus\"",
                "valid types: image, registry, oci, docker, local, tar",
            ][..],
        ),
        (
            "type=docker,dest=x.tar,tar=false",
            &["\"tar\"", "valid keys"][..],
        ),
        (
            "type=image,compression=lz4",
            &["compression=\"lz4\"", "gzip, zstd, uncompressed"][..],
        ),
        ("type=local", &["dest=PATH is required"][..]),
    ] {
        let out = k.run(&["build", "-q", "-t", "never", "-o", spec, d]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{spec}: {err}");
        for w in words {
            assert!(err.contains(w), "{spec}: {w:?} not in {err}");
        }
        assert_eq!(
            k.run(&["inspect", "never"]).status.code(),
            Some(1),
            "{spec}"
        );
    }
}

fn read_tar_entry(tar: &std::path::Path, name: &str) -> String {
    let mut a = tar::Archive::new(std::fs::File::open(tar).unwrap());
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path().unwrap().to_str() == Some(name) {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut e, &mut s).unwrap();
            return s;
        }
    }
    panic!("no {name} in {}", tar.display());
}
