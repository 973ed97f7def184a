//! Bytes from outside (an archive, a Dockerfile, a context file name, the command line) never
//! reach the terminal raw: every message kiln prints, its own and its libraries' log lines,
//! shows control characters escaped as Go's `%q` does (`\x1b`, `\x7f`), ordinary text intact.

mod common;

use common::{context, Kiln};

/// A control character other than newline and tab, if `text` has one.
fn raw_control(text: &[u8]) -> Option<(usize, u8)> {
    text.iter()
        .copied()
        .enumerate()
        .find(|&(_, b)| (b < 0x20 && b != b'\n' && b != b'\t') || b == 0x7f)
}

fn assert_clean(what: &str, stderr: &[u8]) -> String {
    if let Some((at, b)) = raw_control(stderr) {
        panic!(
            "{what}: raw byte {b:#04x} at {at} in:\n{}",
            String::from_utf8_lossy(stderr).escape_debug()
        );
    }
    String::from_utf8_lossy(stderr).into_owned()
}

#[test]
fn load_of_a_binary_non_tar_prints_no_raw_bytes() {
    let k = Kiln::new();
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("not-a-tar");
    // An ELF header (the tar reader quotes it), a terminal escape and invalid UTF-8.
    let mut bytes = std::fs::read("/bin/busybox").unwrap()[..4096].to_vec();
    bytes[100..113].copy_from_slice(b"\x1b]0;pwned\x07\xff\xfe\x00");
    std::fs::write(&bin, &bytes).unwrap();
    let out = k.run(&["load", "-i", bin.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = assert_clean("load", &out.stderr);
    assert!(err.starts_with("ERROR: "), "{err}");
    assert!(
        err.contains("\\x7fELF"),
        "the quoted header is shown escaped:\n{err}"
    );
}

#[test]
fn a_copy_source_named_with_an_escape_sequence_is_shown_escaped() {
    let k = Kiln::new();
    // No `[`: COPY would read it as a wildcard.
    let name = "\x1b]0;pwned\x07\x1bc.txt";
    let df = format!("FROM busybox\nCOPY {name} /x\n");
    let ctx = context(&[("Dockerfile", &df)]);
    // Missing: the error, the step name and the Dockerfile excerpt all quote the name.
    let (ok, _) = k.build(ctx.path(), "esc:1", &[]);
    assert!(!ok);
    let out = k.run(&[
        "build",
        "--progress=plain",
        "-t",
        "esc:1",
        ctx.path().to_str().unwrap(),
    ]);
    let err = assert_clean("failed build", &out.stderr);
    assert!(err.contains("\\x1b]0;pwned\\a\\x1bc.txt"), "{err}");
    assert!(err.contains("not found"), "{err}");
    // Present: the build works and its progress shows the name escaped.
    std::fs::write(ctx.path().join(name), "content\n").unwrap();
    let out = k.run(&[
        "build",
        "--progress=plain",
        "-t",
        "esc:2",
        ctx.path().to_str().unwrap(),
    ]);
    let err = assert_clean("build", &out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("COPY \\x1b]0;pwned\\a\\x1bc.txt /x"), "{err}");
    assert_eq!(k.sh("esc:2", "cat /x"), "content\n");
}

/// A ustar header for an entry of type `kind` named `name`, with no data.
fn tar_header(name: &[u8], kind: u8) -> [u8; 512] {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name);
    h[100..108].copy_from_slice(b"0000644\0");
    h[108..116].copy_from_slice(b"0000000\0");
    h[116..124].copy_from_slice(b"0000000\0");
    h[124..136].copy_from_slice(b"00000000000\0");
    h[136..148].copy_from_slice(b"00000000000\0");
    h[156] = kind;
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| b as u32).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    h
}

#[test]
fn library_warnings_pass_through_the_escaping_logger() {
    let k = Kiln::empty();
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("odd.tar");
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&tar_header(b"ok/", b'5'));
    // An entry of a type no tar format defines: kiln skips it with a warning that names it.
    bytes.extend_from_slice(&tar_header(b"ok/\x1b[31mevil\x1b[0m", b'Z'));
    bytes.extend_from_slice(&[0u8; 1024]);
    std::fs::write(&tar, &bytes).unwrap();
    k.ok(&["import", tar.to_str().unwrap(), "odd:1"]);
    // Its layer is unpacked when a build starts from it.
    let ctx = context(&[("Dockerfile", "FROM odd:1\nCOPY Dockerfile /\n")]);
    let out = k.run(&["build", "--progress=plain", ctx.path().to_str().unwrap()]);
    let err = assert_clean("build", &out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("WARNING: skipping tar entry ok/\\x1b[31mevil\\x1b[0m"),
        "{err}"
    );
}

#[test]
fn usage_errors_quote_what_was_typed_escaped() {
    let k = Kiln::empty();
    let out = k.run(&["images", "--\x1b[31mbad"]);
    assert_eq!(out.status.code(), Some(125));
    let err = assert_clean("usage", &out.stderr);
    assert!(err.contains("--\\x1b[31mbad"), "{err}");
}
