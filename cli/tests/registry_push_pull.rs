//! `kiln push` and `kiln pull` against a real registry, and builds on images the store lacks:
//! what a docker user sees (docker's lines, `RepoDigests`), and what goes over the wire (a
//! second push sends no layer).

mod common;
mod registry_support;

use common::{context, Kiln};
use registry_harness::image;
use registry_harness::Registry;
use registry_support::{at, client, entry, push_blob, push_image, pushed_digest, Env};

#[test]
fn build_push_remove_pull_run_round_trip() {
    let Some(reg) = registry_support::registry(Registry::anonymous) else {
        return;
    };
    let k = Kiln::new();
    let env = Env::new();
    let app = at(&reg, "team/app:1");
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox\nRUN echo kiln-made > /made\nCMD [\"cat\", \"/made\"]\n",
    )]);
    let (ok, log) = env.build(&k, ctx.path(), &app, &[]);
    assert!(ok, "{log}");

    let out = env.ok(&k, &["push", &app]);
    assert!(
        out.starts_with(&format!(
            "The push refers to repository [{}]\n",
            at(&reg, "team/app")
        )),
        "{out}"
    );
    assert_eq!(
        out.matches(": Pushed\n").count(),
        2,
        "two layers sent:\n{out}"
    );
    let digest = pushed_digest(&out);
    assert!(
        out.contains(&format!("1: digest: {digest} size: ")),
        "{out}"
    );
    // The registry serves the manifest kiln has under that digest.
    let served = client(&reg)
        .resolve(&oci::Reference::parse(&app).unwrap())
        .unwrap();
    assert_eq!(served.digest.to_string(), digest);
    let repo_digests = &k.inspect(&app)["RepoDigests"];
    assert_eq!(
        repo_digests,
        &serde_json::json!([format!("{}@{digest}", at(&reg, "team/app"))])
    );

    // Pushing again sends nothing but the manifest.
    let before = reg.access_log().len();
    let again = env.ok(&k, &["push", &app]);
    assert_eq!(
        again.matches(": Layer already exists\n").count(),
        2,
        "{again}"
    );
    assert_eq!(pushed_digest(&again), digest);
    assert!(
        registry_support::uploads_since(&reg, before).is_empty(),
        "a second push uploaded blobs: {:?}",
        registry_support::uploads_since(&reg, before)
    );

    // Gone from the store, back from the registry, and it runs.
    k.ok(&["rmi", &app]);
    let fresh = Kiln::empty();
    for store in [&k, &fresh] {
        let out = env.ok(store, &["pull", &app]);
        assert!(out.starts_with("1: Pulling from team/app\n"), "{out}");
        assert!(out.contains(&format!("Digest: {digest}\n")), "{out}");
        assert!(
            out.ends_with(&format!(
                "Status: Downloaded newer image for {app}\n{app}\n"
            )),
            "{out}"
        );
        assert_eq!(env.ok(store, &["run", "--rm", &app]), "kiln-made\n");
    }
    // The busybox layer was still in the first store: docker says so.
    let out = env.ok(&fresh, &["pull", &app]);
    assert!(
        out.contains(&format!("Status: Image is up to date for {app}\n")),
        "{out}"
    );
    assert!(!out.contains("Pull complete"), "{out}");
    let quiet = env.ok(&fresh, &["pull", "-q", &app]);
    assert_eq!(quiet, format!("{app}\n"));
}

#[test]
fn push_mounts_layers_of_the_base_from_its_repository() {
    let Some(reg) = registry_support::registry(Registry::anonymous) else {
        return;
    };
    let k = Kiln::new();
    let env = Env::new();
    let base = at(&reg, "library/base:1");
    k.ok(&["tag", "busybox", &base]);
    env.ok(&k, &["push", &base]);
    // Built on the pushed base: its layer is mounted, only the new one is sent.
    let ctx = context(&[("Dockerfile", &format!("FROM {base}\nRUN echo x > /x\n"))]);
    let app = at(&reg, "other/app");
    let (ok, log) = env.build(&k, ctx.path(), &app, &[]);
    assert!(ok, "{log}");
    let out = env.ok(&k, &["push", &app]);
    assert!(out.starts_with("Using default tag: latest\n"), "{out}");
    assert!(out.contains(": Mounted from library/base\n"), "{out}");
    assert_eq!(out.matches(": Pushed\n").count(), 1, "{out}");
    assert!(out.contains("latest: digest: sha256:"), "{out}");
}

#[test]
fn a_build_pulls_the_base_image_the_store_lacks() {
    let Some(reg) = registry_support::registry(Registry::anonymous) else {
        return;
    };
    let k = Kiln::new();
    let env = Env::new();
    let base = at(&reg, "base/busybox:1.0");
    k.ok(&["tag", "busybox", &base]);
    env.ok(&k, &["push", &base]);
    let layer = k.inspect(&base)["RootFS"]["Layers"][0].clone();
    assert!(layer.is_string());

    let fresh = Kiln::empty();
    let ctx = context(&[(
        "Dockerfile",
        &format!("FROM {base}\nRUN echo built > /x\nCMD [\"cat\", \"/x\"]\n"),
    )]);
    let (ok, log) = env.build(&fresh, ctx.path(), "app", &[]);
    assert!(ok, "{log}");
    assert!(
        log.contains(&format!("FROM {base}@sha256:")),
        "the step names the digest it resolved:\n{log}"
    );
    // The layer's transfer is on the FROM step, as BuildKit shows it.
    assert!(
        log.lines()
            .any(|l| l.starts_with("#1 sha256:") && l.ends_with(" done")),
        "no transfer line:\n{log}"
    );
    assert_eq!(env.ok(&fresh, &["run", "--rm", "app"]), "built\n");
    // The base stays in the store, under its name, as buildah and podman keep it.
    let images = env.ok(&fresh, &["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(images.contains(&base), "{images}");

    // With the registry gone, the store's copy is used; `--pull` insists on the registry.
    let host = reg.host();
    drop(reg);
    let ctx2 = context(&[("Dockerfile", &format!("FROM {base}\nRUN echo again\n"))]);
    let (ok, log) = env.build(&fresh, ctx2.path(), "app2", &[]);
    assert!(ok, "{log}");
    let (ok, log) = env.build(&fresh, ctx2.path(), "app2", &["--pull"]);
    assert!(!ok, "{log}");
    assert!(
        log.contains(&format!("failed to resolve source metadata for {base}"))
            && log.contains(&format!("cannot reach registry {host}")),
        "{log}"
    );
    // Said once: which image, then why.
    assert_eq!(
        log.matches("failed to resolve source metadata").count(),
        1,
        "{log}"
    );
}

#[test]
fn pull_chooses_the_platform_from_an_index_and_records_its_digest() {
    let Some(reg) = registry_support::registry(Registry::anonymous) else {
        return;
    };
    let k = Kiln::new();
    let env = Env::new();
    let c = client(&reg);
    // The host's image (runnable busybox, pushed by kiln) and an arm64 one, under one index.
    let amd = at(&reg, "multi/bb:amd64");
    k.ok(&["tag", "busybox", &amd]);
    let amd_digest = pushed_digest(&env.ok(&k, &["push", &amd]));
    let arm = image::image(7, "linux/arm64", &[1000, 2000]);
    let multi = oci::Reference::parse(&at(&reg, "multi/bb:all")).unwrap();
    push_image(&c, &multi.with_tag("arm64"), &arm);
    let host_platform = oci::Platform::host();
    let amd_entry = oci::Descriptor {
        platform: Some(host_platform.clone()),
        ..c.resolve(&oci::Reference::parse(&amd).unwrap()).unwrap()
    };
    assert_eq!(amd_entry.digest.to_string(), amd_digest);
    let index = image::index(&[amd_entry, entry(&arm)]);
    let index_digest = c
        .put_manifest(&multi, &index.descriptor.media_type, &index.bytes)
        .unwrap();
    let _ = push_blob;

    let fresh = Kiln::empty();
    let name = multi.to_string();
    let out = env.ok(&fresh, &["pull", &name]);
    assert!(out.contains(&format!("Digest: {index_digest}\n")), "{out}");
    let got = fresh.inspect(&name);
    assert_eq!(got["Architecture"], host_platform.architecture.as_str());
    assert_eq!(
        got["RepoDigests"],
        serde_json::json!([format!("{}@{index_digest}", multi.name())])
    );
    assert_eq!(
        env.ok(&fresh, &["run", "--rm", &name, "echo", "runs"]),
        "runs\n"
    );
    // By digest, in a build: the store knows the index digest it came from.
    let by_digest = format!("{}@{index_digest}", multi.name());
    let ctx = context(&[("Dockerfile", &format!("FROM {by_digest}\nRUN true\n"))]);
    let (ok, log) = env.build(&fresh, ctx.path(), "on-index", &[]);
    assert!(ok, "{log}");

    // Another platform is another image.
    let other = Kiln::empty();
    env.ok(&other, &["pull", "--platform", "linux/arm64", &name]);
    let got = other.inspect(&name);
    assert_eq!(got["Architecture"], "arm64");
    assert_eq!(got["Id"], arm.config.descriptor.digest.to_string());

    // skopeo copies the whole index (`--all`); kiln reads skopeo's copy for either platform.
    if std::path::Path::new("/usr/bin/skopeo").exists() {
        let copied = at(&reg, "copied/bb:all");
        let out = std::process::Command::new("/usr/bin/skopeo")
            .args([
                "copy",
                "--all",
                "--src-tls-verify=false",
                "--dest-tls-verify=false",
            ])
            .arg(format!("docker://{name}"))
            .arg(format!("docker://{copied}"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let third = Kiln::empty();
        env.ok(&third, &["pull", "--platform", "linux/arm64", &copied]);
        assert_eq!(third.inspect(&copied)["Architecture"], "arm64");
        let fourth = Kiln::empty();
        env.ok(&fourth, &["pull", &copied]);
        assert_eq!(
            env.ok(&fourth, &["run", "--rm", &copied, "echo", "copied"]),
            "copied\n"
        );
    }

    // A platform the index lacks: the error lists those it has.
    let err = env.fails(
        &Kiln::empty(),
        &["pull", "--platform", "linux/s390x", &name],
    );
    assert!(
        err.contains("linux/s390x")
            && err.contains(&host_platform.to_string())
            && err.contains("linux/arm64"),
        "{err}"
    );
}

#[test]
fn pull_and_push_errors_name_the_cause() {
    let Some(reg) = registry_support::registry(Registry::anonymous) else {
        return;
    };
    let k = Kiln::new();
    let env = Env::new();
    let missing = at(&reg, "nothing/here:1");
    let err = env.fails(&k, &["pull", &missing]);
    assert!(
        err.contains(&format!("{missing} not found on {}", reg.host())),
        "{err}"
    );
    let err = env.fails(&k, &["push", &at(&reg, "not/local:1")]);
    assert!(
        err.contains(&format!(
            "An image does not exist locally with the tag: {}",
            at(&reg, "not/local:1")
        )),
        "{err}"
    );
    let err = env.fails(&k, &["pull", "Busybox"]);
    assert!(err.contains("invalid reference format"), "{err}");
    let err = env.fails(&k, &["pull", "-a", &at(&reg, "x:1")]);
    assert!(
        err.contains("tag can't be used with --all-tags/-a"),
        "{err}"
    );
}

#[test]
fn pull_all_tags_and_push_all_tags() {
    let Some(reg) = registry_support::registry(Registry::anonymous) else {
        return;
    };
    let k = Kiln::new();
    let env = Env::new();
    let repo = at(&reg, "many/bb");
    for t in ["a", "b"] {
        k.ok(&["tag", "busybox", &format!("{repo}:{t}")]);
    }
    let out = env.ok(&k, &["push", "--all-tags", &repo]);
    assert!(
        out.contains("a: digest: ") && out.contains("b: digest: "),
        "{out}"
    );
    let fresh = Kiln::empty();
    env.ok(&fresh, &["pull", "--all-tags", &repo]);
    let images = env.ok(&fresh, &["images", "--format", "{{.Tag}}"]);
    let mut tags: Vec<&str> = images.lines().collect();
    tags.sort();
    assert_eq!(tags, ["a", "b"]);
}

#[test]
fn build_push_and_output_type_registry_push_every_tag() {
    let Some(reg) = registry_support::registry(Registry::anonymous) else {
        return;
    };
    let k = Kiln::new();
    let env = Env::new();
    let ctx = context(&[("Dockerfile", "FROM busybox\nRUN echo pushed > /p\n")]);
    let (a, b) = (at(&reg, "ci/app:1"), at(&reg, "ci/app:2"));
    let (ok, log) = env.build(&k, ctx.path(), &a, &["--push", "-t", &b]);
    assert!(ok, "{log}");
    // The push's lines are in the build's output, as docker build --push shows them.
    assert!(
        log.contains(&format!(
            "The push refers to repository [{}]",
            at(&reg, "ci/app")
        )),
        "{log}"
    );
    let c = client(&reg);
    let id = k.inspect(&a)["Id"].clone();
    for t in [&a, &b] {
        let served = c.resolve(&oci::Reference::parse(t).unwrap()).unwrap();
        assert!(
            log.contains(&format!("digest: {} size: ", served.digest)),
            "{t}: {log}"
        );
    }
    // What the registry has runs elsewhere.
    let fresh = Kiln::empty();
    env.ok(&fresh, &["pull", &b]);
    assert_eq!(fresh.inspect(&b)["Id"], id);
    assert_eq!(
        env.ok(&fresh, &["run", "--rm", &b, "cat", "/p"]),
        "pushed\n"
    );

    // -o type=registry,name=… pushes too; -q keeps stdout to the image ID alone.
    let c3 = at(&reg, "ci/other:3");
    let out = env.run(
        &k,
        &[
            "build",
            "-q",
            "-o",
            &format!("type=registry,name={c3}"),
            ctx.path().to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        id.as_str().unwrap()
    );
    c.resolve(&oci::Reference::parse(&c3).unwrap()).unwrap();

    // A dead registry fails the build with the cause, and keeps the built image.
    let host = reg.host();
    drop(reg);
    let (ok, log) = env.build(&k, ctx.path(), &format!("{host}/ci/app:dead"), &["--push"]);
    assert!(!ok, "{log}");
    assert!(
        log.contains(&format!("cannot reach registry {host}")),
        "{log}"
    );
    assert_eq!(k.inspect(&format!("{host}/ci/app:dead"))["Id"], id);
}

#[test]
fn copy_from_and_mount_from_an_image_pull_it() {
    let Some(reg) = registry_support::registry(Registry::anonymous) else {
        return;
    };
    let k = Kiln::new();
    let env = Env::new();
    let ctx = context(&[("Dockerfile", "FROM busybox\nRUN echo tool > /tool\n")]);
    let tool = at(&reg, "tools/t:1");
    let (ok, log) = env.build(&k, ctx.path(), &tool, &["--push"]);
    assert!(ok, "{log}");
    let base = at(&reg, "base/bb:1");
    k.ok(&["tag", "busybox", &base]);
    env.ok(&k, &["push", &base]);

    // A store that has neither fetches both: the stage base and the COPY/mount source.
    let fresh = Kiln::empty();
    let ctx = context(&[(
        "Dockerfile",
        &format!(
            "FROM {base}\nCOPY --from={tool} /tool /copied\n\
             RUN --mount=type=bind,from={tool},target=/m cat /m/tool > /mounted\n"
        ),
    )]);
    let (ok, log) = env.build(&fresh, ctx.path(), "app", &[]);
    assert!(ok, "{log}");
    assert_eq!(
        env.ok(
            &fresh,
            &["run", "--rm", "app", "cat", "/copied", "/mounted"]
        ),
        "tool\ntool\n"
    );
}
