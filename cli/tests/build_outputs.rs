//! `kiln build --output …` as a CI pipeline uses it: OCI and docker archives whose layers are
//! compressed when they leave the store (once), buildx's compression keys, the final filesystem
//! as a directory or a tar, `--iidfile`/`--metadata-file`, destinations that cannot be written,
//! a full disk, and SOURCE_DATE_EPOCH giving the same bytes from two different machines.

mod common;

use common::{context, out_dir, random_context, tar_files, test_tmp, Kiln};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).unwrap()
}

/// The manifest an OCI layout tar's index names first.
fn layout_manifest(files: &BTreeMap<String, Vec<u8>>) -> serde_json::Value {
    let index = json(&files["index.json"]);
    let d = index["manifests"][0]["digest"].as_str().unwrap();
    json(&files[&format!("blobs/sha256/{}", &d[7..])])
}

fn layer_types(m: &serde_json::Value) -> Vec<String> {
    m["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["mediaType"].as_str().unwrap().to_string())
        .collect()
}

fn layer_digests(m: &serde_json::Value) -> Vec<String> {
    m["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn layers_are_compressed_when_they_leave_and_only_once() {
    let k = Kiln::new();
    let ctx = random_context(3 << 20, 0x9e3779b97f4a7c15);
    let d = ctx.path().to_str().unwrap();
    k.build_ok(ctx.path(), "app:1", &[]);
    let id = k.inspect("app:1")["Id"].as_str().unwrap().to_string();
    // The store keeps the built layers uncompressed: sizes are docker's (uncompressed).
    let size = k.inspect("app:1")["Size"].as_u64().unwrap();
    assert!(size > 3 << 20, "size {size}");
    let local = k.inspect("app:1")["Descriptor"]["digest"].clone();

    let out = out_dir();
    let (a, b) = (out.path().join("a.tar"), out.path().join("b.tar"));
    let spec = |p: &Path| format!("type=oci,dest={}", p.display());
    k.build_ok(ctx.path(), "app:1", &["-o", &spec(&a)]);
    let files = tar_files(&std::fs::read(&a).unwrap());
    let m = layout_manifest(&files);
    assert!(
        layer_types(&m)
            .iter()
            .all(|t| t == "application/vnd.oci.image.layer.v1.tar+gzip"),
        "{m}"
    );
    // The config (the image ID) is the store's; only the manifest is rewritten.
    assert_eq!(m["config"]["digest"], id.as_str());
    let index = json(&files["index.json"]);
    assert_ne!(index["manifests"][0]["digest"], local);
    let new_layer = layer_digests(&m).last().unwrap().clone();
    let blob = k
        .root
        .path()
        .join("content/blobs/sha256")
        .join(&new_layer[7..]);
    let made = std::fs::metadata(&blob).unwrap().modified().unwrap();
    assert!(
        files[&format!("blobs/sha256/{}", &new_layer[7..])].len() < (3 << 20) + 4096,
        "the random layer is compressed"
    );

    // The second export (and `kiln save`) compress nothing again: same bytes, same blob.
    std::thread::sleep(std::time::Duration::from_millis(20));
    k.ok(&["build", "-q", "-t", "app:1", "-o", &spec(&b), d]);
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    assert_eq!(std::fs::metadata(&blob).unwrap().modified().unwrap(), made);
    let saved = out.path().join("s.tar");
    k.ok(&["save", "-o", saved.to_str().unwrap(), "app:1"]);
    let s = tar_files(&std::fs::read(&saved).unwrap());
    assert_eq!(layer_digests(&layout_manifest(&s)), layer_digests(&m));

    // What left runs elsewhere.
    let fresh = Kiln::empty();
    fresh.ok(&["load", "-i", a.to_str().unwrap()]);
    let loaded = fresh.ok(&["images", "-q", "--no-trunc"]);
    assert!(loaded.contains(&id), "{loaded}");
    assert_eq!(fresh.ok(&["run", "--rm", &id, "cat", "/made"]), "made\n");
    // The local image still runs from its uncompressed layers.
    assert_eq!(k.ok(&["run", "--rm", "app:1", "cat", "/made"]), "made\n");
}

#[test]
fn compression_keys_choose_how_layers_leave() {
    let k = Kiln::new();
    let ctx = random_context(3 << 20, 0x9e3779b97f4a7c15);
    let d = ctx.path().to_str().unwrap();
    let out = out_dir();
    let export = |name: &str, keys: &str| {
        let p = out.path().join(name);
        k.ok(&[
            "build",
            "-q",
            "-t",
            "app:1",
            "-o",
            &format!("type=oci,dest={}{keys}", p.display()),
            d,
        ]);
        let files = tar_files(&std::fs::read(&p).unwrap());
        (layout_manifest(&files), p)
    };
    let (gz, _) = export("gz.tar", "");
    let (zst, zst_path) = export("zst.tar", ",compression=zstd,compression-level=5");
    let types = layer_types(&zst);
    // The base layer came gzip-compressed and stays so unless forced; new layers are zstd.
    assert_eq!(types[0], "application/vnd.oci.image.layer.v1.tar+gzip");
    assert!(
        types[1..]
            .iter()
            .all(|t| t == "application/vnd.oci.image.layer.v1.tar+zstd"),
        "{types:?}"
    );
    let (forced, _) = export("forced.tar", ",compression=zstd,force-compression=true");
    assert!(
        layer_types(&forced)
            .iter()
            .all(|t| t == "application/vnd.oci.image.layer.v1.tar+zstd"),
        "{forced}"
    );
    let (regz, _) = export(
        "regz.tar",
        ",compression=gzip,compression-level=1,force-compression=true",
    );
    assert_ne!(layer_digests(&regz)[0], layer_digests(&gz)[0]);
    let (plain, _) = export("plain.tar", ",compression=uncompressed");
    assert_eq!(
        layer_types(&plain)[1..],
        ["application/vnd.oci.image.layer.v1.tar"; 2]
    );
    let (docker, _) = export("docker.tar", ",oci-mediatypes=false");
    assert_eq!(
        docker["mediaType"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    assert_eq!(
        docker["config"]["mediaType"],
        "application/vnd.docker.container.image.v1+json"
    );
    assert!(layer_types(&docker)
        .iter()
        .all(|t| t == "application/vnd.docker.image.rootfs.diff.tar.gzip"));
    // Every form is the same image.
    for m in [&zst, &forced, &regz, &plain, &docker] {
        assert_eq!(m["config"]["digest"], gz["config"]["digest"]);
    }
    // A zstd image loads and runs.
    let fresh = Kiln::empty();
    fresh.ok(&["load", "-i", zst_path.to_str().unwrap()]);
    let id = gz["config"]["digest"].as_str().unwrap();
    assert_eq!(fresh.ok(&["run", "--rm", id, "cat", "/made"]), "made\n");
}

#[test]
fn local_and_tar_outputs_hold_the_final_filesystem() {
    let k = Kiln::new();
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox\nRUN mkdir -p /app && echo one > /app/f && ln -s /etc/passwd /app/link\n\
         RUN rm /app/f && echo two > /app/g\n",
    )]);
    let d = ctx.path().to_str().unwrap();
    let out = out_dir();
    let dir = out.path().join("fs");
    k.ok(&["build", "-q", "-o", dir.to_str().unwrap(), d]);
    assert_eq!(std::fs::read_to_string(dir.join("app/g")).unwrap(), "two\n");
    assert!(!dir.join("app/f").exists(), "a deleted file is not there");
    assert_eq!(
        std::fs::read_link(dir.join("app/link")).unwrap(),
        Path::new("/etc/passwd")
    );
    assert!(dir.join("bin/busybox").is_file());
    let dir2 = out.path().join("fs2");
    k.ok(&[
        "build",
        "-q",
        "-o",
        &format!("type=local,dest={}", dir2.display()),
        d,
    ]);
    assert!(dir2.join("app/g").is_file());

    // `-o -`: the tar on stdout, and nothing else there (not even with -q).
    let o = k.run(&["build", "-q", "-o", "-", d]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let files = tar_files(&o.stdout);
    assert_eq!(files["app/g"], b"two\n");
    assert!(!files.contains_key("app/f"));
    let file = out.path().join("fs.tar");
    k.ok(&[
        "build",
        "-q",
        "-o",
        &format!("type=tar,dest={}", file.display()),
        d,
    ]);
    assert_eq!(std::fs::read(&file).unwrap(), o.stdout);
}

#[test]
fn several_outputs_in_one_build_all_get_the_image() {
    // buildx 0.13+: -o given several times runs every exporter after one build.
    let k = Kiln::new();
    let ctx = context(&[("Dockerfile", "FROM busybox\nRUN echo both > /both\n")]);
    let d = ctx.path().to_str().unwrap();
    let out = out_dir();
    let (dir, oci) = (out.path().join("fs"), out.path().join("img.oci.tar"));
    let log = k.build_ok(
        ctx.path(),
        "multi:1",
        &[
            "-o",
            &format!("type=local,dest={}", dir.display()),
            "-o",
            &format!("type=oci,dest={}", oci.display()),
        ],
    );
    assert!(log.contains("copying files"), "{log}");
    assert!(log.contains("exporting to oci image format"), "{log}");
    assert_eq!(std::fs::read_to_string(dir.join("both")).unwrap(), "both\n");
    let fresh = Kiln::new();
    fresh.ok(&["load", "-i", oci.to_str().unwrap()]);
    assert_eq!(
        fresh.ok(&["run", "--rm", "multi:1", "cat", "/both"]),
        "both\n"
    );
    // Two outputs on stdout cannot share it: refused before anything runs.
    let o = k.run(&["build", "-o", "-", "-o", "type=oci,dest=-", d]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("only one output can write to stdout"), "{err}");
    assert!(o.stdout.is_empty());
}

#[test]
fn iidfile_and_metadata_file_name_the_image() {
    let k = Kiln::new();
    let ctx = context(&[("Dockerfile", "FROM busybox\nRUN echo x > /x\n")]);
    let d = ctx.path().to_str().unwrap();
    let out = out_dir();
    let (iid, meta, arch) = (
        out.path().join("iid"),
        out.path().join("meta.json"),
        out.path().join("d.tar"),
    );
    k.ok(&[
        "build",
        "-q",
        "-t",
        "app:1",
        "--iidfile",
        iid.to_str().unwrap(),
        "--metadata-file",
        meta.to_str().unwrap(),
        d,
    ]);
    let id = k.inspect("app:1")["Id"].as_str().unwrap().to_string();
    assert_eq!(std::fs::read_to_string(&iid).unwrap(), id);
    let m = json(&std::fs::read(&meta).unwrap());
    assert_eq!(m["containerimage.config.digest"], id.as_str());
    assert_eq!(
        m["containerimage.digest"],
        k.inspect("app:1")["Descriptor"]["digest"]
    );
    assert_eq!(m["image.name"], "docker.io/library/app:1");
    // With a docker archive, the digest is the archive's manifest, named by every -t.
    k.ok(&[
        "build",
        "-q",
        "-t",
        "app:1",
        "-t",
        "app:2",
        "--metadata-file",
        meta.to_str().unwrap(),
        "-o",
        &format!("type=docker,dest={}", arch.display()),
        d,
    ]);
    let files = tar_files(&std::fs::read(&arch).unwrap());
    let index = json(&files["index.json"]);
    let m = json(&std::fs::read(&meta).unwrap());
    assert_eq!(m["containerimage.digest"], index["manifests"][0]["digest"]);
    let mj = json(&files["manifest.json"]);
    assert_eq!(mj[0]["RepoTags"], serde_json::json!(["app:1", "app:2"]));
}

#[test]
fn a_destination_that_cannot_be_written_fails_before_the_build() {
    let k = Kiln::new();
    // The build would take a minute: it must not start.
    let ctx = context(&[("Dockerfile", "FROM busybox\nRUN sleep 60\n")]);
    let d = ctx.path().to_str().unwrap();
    let out = out_dir();
    let file = out.path().join("file");
    std::fs::write(&file, "x").unwrap();
    let local = format!("type=local,dest={}", file.display());
    for args in [
        ["-o", "type=oci,dest=/nonexistent/dir/x.tar"],
        ["-o", "type=tar,dest=/nonexistent/dir/x.tar"],
        ["-o", local.as_str()],
        ["--iidfile", "/nonexistent/dir/iid"],
        ["--metadata-file", "/nonexistent/dir/m.json"],
    ] {
        let start = std::time::Instant::now();
        let mut full = vec!["build", "-q", "-t", "never"];
        full.extend(args);
        full.push(d);
        let o = k.run(&full);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains("cannot write there"), "{args:?}: {err}");
        assert!(start.elapsed().as_secs() < 30, "{args:?} built first");
        assert_eq!(k.run(&["inspect", "never"]).status.code(), Some(1));
    }
}

#[test]
fn a_full_disk_leaves_no_partial_export_and_a_sound_store() {
    let k = Kiln::new();
    let ctx = random_context(3 << 20, 0x9e3779b97f4a7c15);
    let d = ctx.path().to_str().unwrap();
    let out = out_dir();
    let small = out.path().join("small");
    std::fs::create_dir(&small).unwrap();
    let st = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&small)
        .status()
        .unwrap();
    assert!(st.success(), "cannot mount a tmpfs");
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(self.0).status();
        }
    }
    let _u = Unmount(&small);
    let dest = small.join("out.tar");
    let o = k.run(&[
        "build",
        "-q",
        "-t",
        "app:1",
        "-o",
        &format!("type=oci,dest={}", dest.display()),
        d,
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("No space left on device"), "{err}");
    let left: Vec<_> = std::fs::read_dir(&small).unwrap().flatten().collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    // The store is sound: the image is there, and exports where there is room.
    let good = out.path().join("good.tar");
    k.ok(&[
        "build",
        "-q",
        "-t",
        "app:1",
        "-o",
        &format!("type=oci,dest={}", good.display()),
        d,
    ]);
    let fresh = Kiln::empty();
    fresh.ok(&["load", "-i", good.to_str().unwrap()]);
    assert_eq!(
        fresh.ok(&["run", "--rm", "app:1", "cat", "/made"]),
        "made\n"
    );
    k.ok(&["system", "check"]);
}

/// A busybox root filesystem made now (so its files' times are now).
fn fresh_rootfs() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("rootfs-")
        .tempdir_in(test_tmp())
        .unwrap();
    let st = Command::new(common::repo().join("scripts/busybox-rootfs.sh"))
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(st.success());
    dir
}

#[test]
fn source_date_epoch_gives_the_same_bytes_from_two_stores() {
    const EPOCH: &str = "1700000000";
    let mut exports = Vec::new();
    let mut ids = Vec::new();
    for round in 0..2 {
        if round == 1 {
            // Another clock reading: every file made from here on is younger.
            std::thread::sleep(std::time::Duration::from_millis(1100));
        }
        let k = Kiln::empty();
        let rootfs = fresh_rootfs();
        let o = k
            .cmd()
            .env("SOURCE_DATE_EPOCH", EPOCH)
            .args(["import", rootfs.path().to_str().unwrap(), "busybox:latest"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        ids.push(k.inspect("busybox")["Id"].clone());
        let ctx = context(&[(
            "Dockerfile",
            "FROM busybox\nCOPY . /src\nRUN echo built > /out && mkdir /d && touch /d/f\n",
        )]);
        // The same files, made in another order (other inodes), with other times.
        let mut names = vec!["a", "b", "c", "sub/x", "sub/y"];
        if round == 1 {
            names.reverse();
        }
        for n in &names {
            let p = ctx.path().join(n);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, format!("content of {n}\n")).unwrap();
            // Both after SOURCE_DATE_EPOCH (as a fresh checkout's are), which clamps them;
            // times before it are kept, as BuildKit keeps them.
            let t = if round == 0 {
                "2024-01-01"
            } else {
                "2025-05-05"
            };
            Command::new("touch")
                .args(["-d", t])
                .arg(&p)
                .status()
                .unwrap();
        }
        let out = out_dir();
        let dest = out.path().join("img.tar");
        k.ok(&[
            "build",
            "-q",
            "--build-arg",
            &format!("SOURCE_DATE_EPOCH={EPOCH}"),
            "-t",
            "app:1",
            "-o",
            &format!("type=oci,dest={}", dest.display()),
            ctx.path().to_str().unwrap(),
        ]);
        exports.push(std::fs::read(&dest).unwrap());
        ids.push(k.inspect("app:1")["Id"].clone());
    }
    assert_eq!(ids[0], ids[2], "kiln import with SOURCE_DATE_EPOCH");
    assert_eq!(ids[1], ids[3], "the built image");
    let (a, b) = (tar_files(&exports[0]), tar_files(&exports[1]));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    assert!(exports[0] == exports[1], "the OCI archives differ");
    let m = layout_manifest(&a);
    assert!(m["layers"].as_array().unwrap().len() == 3, "{m}");
}
