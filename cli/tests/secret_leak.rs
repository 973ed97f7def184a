//! The guarantee of issue 10: a secret's value never appears in a layer blob, an image config,
//! a history entry, a cache record, a log or `inspect` output. A random secret is used as a
//! file, as an env secret, and copied into a /tmp file the step's next command deletes; then
//! every byte under the store root (compressed blobs decompressed, tars opened), every export
//! format (`-o type=oci` as a tar and a directory, `-o type=docker`, `kiln save` in both formats),
//! the build logs (plain and rawjson) and `inspect`/`history` output are scanned for it, raw,
//! base64 and as a JSON byte array. A control build that does write its secret into a layer
//! shows the scan finds what is there.

mod common;

use base64::Engine as _;
use common::{context, Kiln};
use std::io::Read;
use std::path::Path;

fn random_secret() -> String {
    let mut b = [0u8; 18];
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut b)
        .unwrap();
    format!("kiln-leak-{}", hex::encode(b))
}

/// The forms a value could be stored in.
fn needles(secret: &str) -> Vec<Vec<u8>> {
    let b64 = base64::engine::general_purpose::STANDARD.encode(secret);
    let array = secret
        .bytes()
        .map(|b| b.to_string())
        .collect::<Vec<_>>()
        .join(",");
    vec![
        secret.as_bytes().to_vec(),
        b64.into_bytes(),
        array.into_bytes(),
    ]
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Where in `data` (named `name`) a needle is, looking inside gzip and zstd streams and tar
/// archives too.
fn scan(data: &[u8], name: &str, needles: &[Vec<u8>], found: &mut Vec<String>, depth: usize) {
    for n in needles {
        if contains(data, n) {
            found.push(format!("{name} ({} bytes)", data.len()));
        }
    }
    if depth > 4 {
        return;
    }
    let mut inner = Vec::new();
    if data.starts_with(&[0x1f, 0x8b]) {
        if flate2::read::MultiGzDecoder::new(data)
            .read_to_end(&mut inner)
            .is_ok()
        {
            scan(&inner, &format!("{name}!gunzip"), needles, found, depth + 1);
        }
    } else if data.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        if let Ok(d) = zstd::stream::decode_all(data) {
            scan(&d, &format!("{name}!unzstd"), needles, found, depth + 1);
        }
    } else if data.len() > 262 && &data[257..262] == b"ustar" {
        let mut ar = tar::Archive::new(data);
        if let Ok(entries) = ar.entries() {
            for e in entries.flatten() {
                let path = e
                    .path()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default();
                let mut e = e;
                let mut body = Vec::new();
                if e.read_to_end(&mut body).is_ok() {
                    scan(&body, &format!("{name}!{path}"), needles, found, depth + 1);
                }
            }
        }
    }
}

/// Scan every regular file under `dir`.
fn scan_tree(dir: &Path, needles: &[Vec<u8>]) -> (Vec<String>, usize) {
    let mut found = Vec::new();
    let mut files = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            let Ok(meta) = std::fs::symlink_metadata(&p) else {
                continue;
            };
            if meta.is_dir() {
                stack.push(p);
            } else if meta.is_file() {
                if let Ok(data) = std::fs::read(&p) {
                    files += 1;
                    scan(&data, &p.display().to_string(), needles, &mut found, 0);
                }
            }
        }
    }
    (found, files)
}

fn build(k: &Kiln, ctx: &Path, progress: &str, secret: &str, extra: &[&str]) -> String {
    let out = k
        .cmd()
        .args(["build", "--progress", progress, "-t", "leak:1"])
        .args(["--secret", "id=leak,env=LEAK_VALUE"])
        .args(extra)
        .arg(ctx)
        .env("LEAK_VALUE", secret)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    text
}

const USES: &str = "FROM busybox
RUN --mount=type=secret,id=leak test -s /run/secrets/leak && echo used-as-file
RUN --mount=type=secret,id=leak,env=LEAK test -n \"$LEAK\" && echo used-as-env
RUN --mount=type=secret,id=leak cat /run/secrets/leak > /tmp/copy && grep -q leak /tmp/copy && rm /tmp/copy && echo copied-and-deleted
RUN --mount=type=secret,id=leak,target=/etc/app/token,required=true cat /etc/app/token | wc -c > /token-size
";

#[test]
fn a_secret_is_nowhere_in_the_store_the_exports_or_the_logs() {
    let k = Kiln::new();
    let secret = random_secret();
    let needles = needles(&secret);
    let ctx = context(&[("Dockerfile", USES)]);
    let out = tempfile::Builder::new()
        .prefix("leak-out-")
        .tempdir_in(common::test_tmp())
        .unwrap();
    let o = |name: &str| out.path().join(name).display().to_string();

    let mut logs = Vec::new();
    let plain = build(&k, ctx.path(), "plain", &secret, &[]);
    for step in ["used-as-file", "used-as-env", "copied-and-deleted"] {
        assert!(common::printed(&plain, step), "{step} in:\n{plain}");
    }
    logs.push(("plain progress".to_string(), plain));
    // Again, uncached, with every exporter and the rawjson log.
    let oci = format!("type=oci,dest={}", o("oci.tar"));
    // (kiln exports gzip layers only today; zstd blobs, where the store has them, are
    // decompressed by the scan all the same.)
    let zst = format!("type=oci,dest={},tar=false", o("oci-dir"));
    let dkr = format!("type=docker,dest={}", o("docker.tar"));
    for (progress, output) in [("rawjson", &oci), ("plain", &zst), ("plain", &dkr)] {
        let log = build(
            &k,
            ctx.path(),
            progress,
            &secret,
            &["--no-cache", "-o", output],
        );
        logs.push((format!("{progress} progress with -o {output}"), log));
    }
    k.ok(&["save", "-o", &o("save.tar"), "leak:1"]);
    k.ok(&[
        "save",
        "--format",
        "oci",
        "-o",
        &o("save-oci.tar"),
        "leak:1",
    ]);
    assert_eq!(
        k.sh("leak:1", "cat /token-size").trim(),
        secret.len().to_string()
    );
    logs.push(("inspect".into(), k.ok(&["inspect", "leak:1"])));
    logs.push(("history".into(), k.ok(&["history", "--no-trunc", "leak:1"])));
    logs.push((
        "history json".into(),
        k.ok(&["history", "--no-trunc", "--format", "{{json .}}", "leak:1"]),
    ));

    let mut found = Vec::new();
    for (what, text) in &logs {
        scan(text.as_bytes(), what, &needles, &mut found, 0);
    }
    let (in_store, store_files) = scan_tree(k.root.path(), &needles);
    let (in_exports, export_files) = scan_tree(out.path(), &needles);
    found.extend(in_store);
    found.extend(in_exports);
    assert!(
        store_files > 10,
        "the store was scanned ({store_files} files)"
    );
    assert!(
        export_files >= 8,
        "every export was written ({export_files} files)"
    );
    assert!(found.is_empty(), "the secret leaked into: {found:#?}");
}

/// The scan is not blind: a step that writes its secret into the image puts it in the store
/// (in a gzip layer) and in an OCI export (a gzip layer inside the tar), and the scan sees it.
#[test]
fn the_scan_finds_a_secret_a_step_writes_into_its_layer() {
    let k = Kiln::new();
    let secret = random_secret();
    let needles = needles(&secret);
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox\nRUN --mount=type=secret,id=leak cp /run/secrets/leak /kept\n",
    )]);
    let out = tempfile::Builder::new()
        .prefix("leak-out-")
        .tempdir_in(common::test_tmp())
        .unwrap();
    let oci = format!("type=oci,dest={}", out.path().join("o.tar").display());
    build(&k, ctx.path(), "plain", &secret, &["-o", &oci]);
    let (in_store, _) = scan_tree(k.root.path(), &needles);
    assert!(
        in_store.iter().any(|f| f.contains("!gunzip")),
        "found in a gzip layer: {in_store:#?}"
    );
    let (in_export, _) = scan_tree(out.path(), &needles);
    assert!(
        in_export
            .iter()
            .any(|f| f.contains("o.tar!blobs/sha256/") && f.contains("!gunzip")),
        "found in a gzip layer of the archive: {in_export:#?}"
    );
}
