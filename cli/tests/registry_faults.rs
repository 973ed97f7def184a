//! A registry that lies and a pull that dies: a tampered blob is refused and leaves nothing
//! behind; a pull killed half-way continues where it stopped.

mod common;
mod registry_support;

use common::Kiln;
use registry_harness::{image, Registry};
use registry_support::{at, client, push_image, Env};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn find_partial(root: &Path) -> Option<(PathBuf, u64)> {
    walkdir(root)
        .into_iter()
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("resume-"))
        })
        .filter_map(|p| std::fs::metadata(&p).ok().map(|m| (p, m.len())))
        .max_by_key(|(_, n)| *n)
}

fn walkdir(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn a_tampered_layer_is_refused_and_nothing_is_stored() {
    let Some(reg) = registry_support::registry(Registry::anonymous) else {
        return;
    };
    let k = Kiln::new();
    let env = Env::new();
    let name = at(&reg, "tampered/bb:1");
    k.ok(&["tag", "busybox", &name]);
    env.ok(&k, &["push", &name]);
    let manifest = client(&reg)
        .get_manifest(&oci::Reference::parse(&name).unwrap(), None)
        .unwrap();
    let oci::ManifestKind::Image(m) = &manifest.kind else {
        panic!("an image manifest")
    };
    let blob = reg.blob_path(&m.layers[0].digest);
    let mut bytes = std::fs::read(&blob).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&blob, &bytes).unwrap();

    let fresh = Kiln::empty();
    let err = env.fails(&fresh, &["pull", &name]);
    assert!(
        err.contains(&format!("digest mismatch for blob {}", m.layers[0].digest)),
        "{err}"
    );
    let images = fresh.ok(&["images", "-q"]);
    assert_eq!(images, "", "nothing registered");
    assert!(
        !walkdir(fresh.root.path())
            .iter()
            .any(|p| p.to_string_lossy().contains(m.layers[0].digest.hex())),
        "no blob or partial of the tampered layer is kept"
    );
    let check = fresh.run(&["system", "check"]);
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    // The same in a build: it fails naming the layer, and builds nothing.
    let ctx = common::context(&[("Dockerfile", &format!("FROM {name}\nRUN true\n"))]);
    let (ok, log) = env.build(&fresh, ctx.path(), "x", &[]);
    assert!(!ok);
    assert!(log.contains("digest mismatch"), "{log}");
}

#[test]
fn a_killed_pull_resumes_where_it_stopped() {
    let Some(reg) = registry_support::registry(Registry::anonymous) else {
        return;
    };
    let env = Env::new();
    let size = 192 << 20;
    let img = image::image(42, &oci::Platform::host().to_string(), &[size]);
    let r = oci::Reference::parse(&at(&reg, "big/blob:1")).unwrap();
    push_image(&client(&reg), &r, &img);
    let k = Kiln::empty();
    let name = r.to_string();

    let mut child = env
        .cmd(&k)
        .args(["pull", "-q", &name])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let held = loop {
        if let Some((_, n)) = find_partial(k.root.path()).filter(|(_, n)| *n >= 8 << 20) {
            break n;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the pull ended before it could be killed"
        );
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no partial blob appeared"
        );
        std::thread::sleep(Duration::from_millis(1));
    };
    // SIGKILL: no handler runs, the partial stays as it is.
    child.kill().unwrap();
    child.wait().unwrap();
    let (_, kept) = find_partial(k.root.path()).expect("the partial is kept");
    assert!(kept >= held && kept < size as u64, "{kept} of {size}");

    let before = reg.access_log().len();
    env.ok(&k, &["pull", "-q", &name]);
    let blob_gets: Vec<_> = reg
        .access_log()
        .into_iter()
        .skip(before)
        .filter(|a| a.method == "GET" && a.path.contains(img.layers[0].descriptor.digest.hex()))
        .collect();
    assert_eq!(blob_gets.len(), 1, "{blob_gets:?}");
    assert_eq!(blob_gets[0].status, 206, "a range request: {blob_gets:?}");
    assert!(
        blob_gets[0].bytes <= size as u64 - kept,
        "only the rest was sent: {blob_gets:?}"
    );
    assert!(
        find_partial(k.root.path()).is_none(),
        "the partial became the blob"
    );
    let got = k.inspect(&name);
    assert_eq!(got["Id"], img.config.descriptor.digest.to_string());
}
