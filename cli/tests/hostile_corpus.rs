//! The hostile-tar corpus (testdata/hostile) through every way an archive reaches kiln's
//! extraction from the command line: `kiln import`, `kiln load` of a docker archive and of an
//! OCI layout (their layers are unpacked when a build uses them: here `COPY --from`), and `ADD`
//! of a local archive in a Dockerfile. A case the layer path refuses must fail the command that
//! unpacks it, an accepted one must build, and the host sentinel must never change. The same
//! layers pushed to a real registry go through `kiln pull` and a build that uses them.

mod common;
mod registry_support;

use common::{context, Kiln};
use kiln_hostile::{corpus, Outcome, Sentinel};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::Path;

fn sha(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// The uncompressed bytes of a (possibly gzip) layer.
fn plain(layer: &[u8]) -> Vec<u8> {
    if layer.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(layer)
            .read_to_end(&mut out)
            .unwrap();
        return out;
    }
    layer.to_vec()
}

fn config(layer: &[u8]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{}", sha(&plain(layer)))]},
        "history": [{"created_by": "hostile"}],
    }))
    .unwrap()
}

fn add_file(b: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8]) {
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    b.append_data(&mut h, name, data).unwrap();
}

/// A `docker save` archive of a one-layer image tagged `tag`.
fn docker_archive(layer: &[u8], tag: &str) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let manifest = serde_json::json!([{
        "Config": "config.json", "RepoTags": [tag], "Layers": ["layer.tar"]
    }]);
    add_file(
        &mut b,
        "manifest.json",
        &serde_json::to_vec(&manifest).unwrap(),
    );
    add_file(&mut b, "config.json", &config(layer));
    add_file(&mut b, "layer.tar", layer);
    b.into_inner().unwrap()
}

/// An OCI image layout archive of a one-layer image named `name`.
fn oci_archive(layer: &[u8], name: &str) -> Vec<u8> {
    let cfg = config(layer);
    let media = if layer.starts_with(&[0x1f, 0x8b]) {
        "application/vnd.oci.image.layer.v1.tar+gzip"
    } else {
        "application/vnd.oci.image.layer.v1.tar"
    };
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": format!("sha256:{}", sha(&cfg)), "size": cfg.len()},
        "layers": [{"mediaType": media, "digest": format!("sha256:{}", sha(layer)),
                    "size": layer.len()}],
    }))
    .unwrap();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "digest": format!("sha256:{}", sha(&manifest)), "size": manifest.len(),
                       "annotations": {"io.containerd.image.name": name}}],
    });
    let mut b = tar::Builder::new(Vec::new());
    add_file(&mut b, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
    add_file(&mut b, "index.json", &serde_json::to_vec(&index).unwrap());
    for blob in [&cfg, &manifest, &layer.to_vec()] {
        add_file(&mut b, &format!("blobs/sha256/{}", sha(blob)), blob);
    }
    b.into_inner().unwrap()
}

fn write(dir: &Path, name: &str, data: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::File::create(&p).unwrap().write_all(data).unwrap();
    p.to_string_lossy().into_owned()
}

#[test]
fn every_hostile_archive_through_import_load_and_add() {
    let k = Kiln::new();
    let host = tempfile::tempdir().unwrap();
    let sentinel = Sentinel::new(host.path());
    let files = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for (i, case) in corpus(&sentinel).into_iter().enumerate() {
        let layer = case.tar.clone();
        let mut check = |what: &str, ok: bool, expected: Outcome, out: &str| {
            let want = expected == Outcome::Accepted;
            if ok != want {
                failures.push(format!(
                    "{} via {what}: {} (expected {expected:?})\n{}",
                    case.name,
                    if ok { "succeeded" } else { "failed" },
                    out.lines().rev().take(3).collect::<Vec<_>>().join(" | ")
                ));
            }
            if let Err(e) = sentinel.check() {
                failures.push(format!("{} via {what}: {e}", case.name));
            }
        };
        // import, then a build that unpacks the image for COPY --from.
        let tarfile = write(files.path(), &format!("case{i}.tar"), &layer);
        let imported = k.run(&["import", &tarfile, &format!("hostile-import:{i}")]);
        let ok = imported.status.success() && {
            let ctx = context(&[(
                "Dockerfile",
                &format!("FROM busybox\nCOPY --from=hostile-import:{i} / /h/\n"),
            )]);
            k.build(ctx.path(), &format!("out-import:{i}"), &[]).0
        };
        check("import + COPY --from", ok, case.layer, "");
        // load of a docker archive and of an OCI layout, each used by COPY --from.
        for (fmt, archive, name) in [
            (
                "docker",
                docker_archive(&layer, &format!("hostile-docker:{i}")),
                format!("hostile-docker:{i}"),
            ),
            (
                "oci",
                oci_archive(&layer, &format!("docker.io/library/hostile-oci:{i}")),
                format!("hostile-oci:{i}"),
            ),
        ] {
            let path = write(files.path(), &format!("case{i}-{fmt}.tar"), &archive);
            let loaded = k.run(&["load", "-i", &path]);
            let (ok, err) = if loaded.status.success() {
                let ctx = context(&[(
                    "Dockerfile",
                    &format!("FROM busybox\nCOPY --from={name} / /h/\n"),
                )]);
                k.build(ctx.path(), &format!("out-{fmt}:{i}"), &[])
            } else {
                (false, String::from_utf8_lossy(&loaded.stderr).into_owned())
            };
            check(&format!("load ({fmt}) + COPY --from"), ok, case.layer, &err);
        }
        // ADD of the archive from the build context.
        let ctx = context(&[("Dockerfile", "FROM busybox\nADD case.tar /added/\n")]);
        write(ctx.path(), "case.tar", &layer);
        let (ok, err) = k.build(ctx.path(), &format!("out-add:{i}"), &[]);
        check("ADD", ok, case.add, &err);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(k.leftover_mounts().is_empty());
}

/// The image of a corpus case as a registry serves it: config, layer, manifest.
fn registry_image(layer: &[u8]) -> registry_harness::image::TestImage {
    use registry_harness::image::Blob;
    let media = if layer.starts_with(&[0x1f, 0x8b]) {
        "application/vnd.oci.image.layer.v1.tar+gzip"
    } else {
        "application/vnd.oci.image.layer.v1.tar"
    };
    let config = Blob::new("application/vnd.oci.image.config.v1+json", config(layer));
    let layer = Blob::new(media, layer.to_vec());
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config.descriptor,
        "layers": [layer.descriptor],
    }))
    .unwrap();
    registry_harness::image::TestImage {
        manifest: Blob::new("application/vnd.oci.image.manifest.v1+json", manifest),
        config,
        layers: vec![layer],
        platform: oci::Platform::parse("linux/amd64").unwrap(),
    }
}

#[test]
fn every_hostile_layer_through_a_registry_pull() {
    let Some(reg) = registry_support::registry(registry_harness::Registry::anonymous) else {
        return;
    };
    let k = Kiln::new();
    let env = registry_support::Env::new();
    let c = registry_support::client(&reg);
    let host = tempfile::tempdir().unwrap();
    let sentinel = Sentinel::new(host.path());
    let mut failures = Vec::new();
    for (i, case) in corpus(&sentinel).into_iter().enumerate() {
        let name = registry_support::at(&reg, &format!("hostile/case:{i}"));
        let r = oci::Reference::parse(&name).unwrap();
        registry_support::push_image(&c, &r, &registry_image(&case.tar));
        // The pull verifies and stores the blob; the build unpacks it (COPY --from).
        let pulled = env.run(&k, &["pull", "-q", &name]);
        let (ok, err) = if pulled.status.success() {
            let ctx = context(&[(
                "Dockerfile",
                &format!("FROM busybox\nCOPY --from={name} / /h/\n"),
            )]);
            env.build(&k, ctx.path(), &format!("out-pull:{i}"), &[])
        } else {
            (false, String::from_utf8_lossy(&pulled.stderr).into_owned())
        };
        if ok != (case.layer == Outcome::Accepted) {
            failures.push(format!(
                "{} via pull + COPY --from: {} (expected {:?})\n{}",
                case.name,
                if ok { "succeeded" } else { "failed" },
                case.layer,
                err.lines().rev().take(3).collect::<Vec<_>>().join(" | ")
            ));
        }
        if let Err(e) = sentinel.check() {
            failures.push(format!("{} via pull: {e}", case.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(k.leftover_mounts().is_empty());
}
