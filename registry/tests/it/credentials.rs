//! docker's credentials: a credential helper (`docker-credential-kilntest`, a script in a
//! temp PATH speaking the helpers' protocol), `credsStore` and `credHelpers`, and config.json
//! written back atomically with what kiln does not know kept.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use registry::{blocking, CredentialStore, Credentials, DockerConfig};
use registry_harness::image::image;
use registry_harness::Registry;
use serde_json::Value;

use crate::common::{options, push_image, reference};

/// A helper keeping one file per server (named by the server's hex) in `store`, logging each
/// call to `store/calls`.
fn write_helper(bin: &Path, store: &Path) {
    fs::create_dir_all(store).unwrap();
    let script = format!(
        r#"#!/bin/sh
store='{store}'
input=$(cat)
echo "$1 $input" >> "$store/calls"
case "$1" in
get|erase) server="$input" ;;
store) server=$(printf '%s' "$input" | sed -n 's/.*"ServerURL":"\([^"]*\)".*/\1/p') ;;
*) echo "unknown action"; exit 1 ;;
esac
f="$store/$(printf '%s' "$server" | od -An -tx1 | tr -d ' \n')"
case "$1" in
get) if [ -f "$f" ]; then cat "$f"; else echo "credentials not found in native keychain"; exit 1; fi ;;
store) printf '%s' "$input" > "$f" ;;
erase) if [ -f "$f" ]; then rm "$f"; else echo "credentials not found in native keychain"; exit 1; fi ;;
esac
"#,
        store = store.display()
    );
    let p = bin.join("docker-credential-kilntest");
    fs::write(&p, script).unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&fs::read(path).unwrap()).unwrap()
}

#[test]
fn a_credential_helper_gets_stores_and_erases() {
    let d = tempfile::tempdir().unwrap();
    let (bin, store, cfg_dir) = (
        d.path().join("bin"),
        d.path().join("store"),
        d.path().join("docker"),
    );
    fs::create_dir_all(&bin).unwrap();
    write_helper(&bin, &store);
    fs::create_dir_all(&cfg_dir).unwrap();
    fs::write(
        cfg_dir.join("config.json"),
        r#"{"credsStore": "kilntest", "detachKeys": "ctrl-e"}"#,
    )
    .unwrap();
    let cfg = DockerConfig::new(&cfg_dir).with_helper_path(&bin);
    let basic = Credentials::Basic {
        username: "u".into(),
        password: "p w:x".into(),
    };

    assert_eq!(cfg.get("reg.example:5000").unwrap(), None);
    cfg.store("reg.example:5000", &basic).unwrap();
    assert_eq!(cfg.get("reg.example:5000").unwrap(), Some(basic.clone()));
    // The secret went to the helper; config.json only says the registry has an entry.
    let j = json(&cfg_dir.join("config.json"));
    assert_eq!(j["auths"]["reg.example:5000"], serde_json::json!({}));
    assert_eq!(j["detachKeys"], "ctrl-e");
    assert!(!fs::read_to_string(cfg_dir.join("config.json"))
        .unwrap()
        .contains("p w:x"));

    // docker.io is stored under docker's key.
    let token = Credentials::IdentityToken {
        username: String::new(),
        token: "refresh-1".into(),
    };
    cfg.store("docker.io", &token).unwrap();
    assert_eq!(cfg.get("docker.io").unwrap(), Some(token));
    let calls = fs::read_to_string(store.join("calls")).unwrap();
    assert!(calls.contains("get https://index.docker.io/v1/"), "{calls}");
    assert!(calls.contains(r#""Username":"<token>""#), "{calls}");

    assert!(cfg.erase("reg.example:5000").unwrap());
    assert_eq!(cfg.get("reg.example:5000").unwrap(), None);
    assert!(json(&cfg_dir.join("config.json"))["auths"]
        .get("reg.example:5000")
        .is_none());
    assert!(!cfg.erase("reg.example:5000").unwrap());
}

#[test]
fn cred_helpers_pick_a_helper_per_registry() {
    let d = tempfile::tempdir().unwrap();
    let (bin, store) = (d.path().join("bin"), d.path().join("store"));
    fs::create_dir_all(&bin).unwrap();
    write_helper(&bin, &store);
    fs::write(
        d.path().join("config.json"),
        r#"{"credsStore": "no-such-helper", "credHelpers": {"reg.example": "kilntest"}, "auths": {"plain.example": {"auth": "YTpi"}}}"#,
    )
    .unwrap();
    let cfg = DockerConfig::new(d.path()).with_helper_path(&bin);
    let c = Credentials::Basic {
        username: "x".into(),
        password: "y".into(),
    };
    cfg.store("reg.example", &c).unwrap();
    assert_eq!(cfg.get("reg.example").unwrap(), Some(c));
    // Every other registry goes to credsStore, which is missing: a clear error.
    let e = cfg.get("plain.example").unwrap_err();
    assert!(
        e.to_string()
            .contains("docker-credential-no-such-helper is not in PATH"),
        "{e}"
    );
}

#[test]
fn config_json_is_rewritten_atomically_keeping_what_kiln_does_not_know() {
    let d = tempfile::tempdir().unwrap();
    let target = d.path().join("real-config.json");
    fs::write(
        &target,
        r#"{"auths": {"other.example": {"auth": "b3RoZXI6cHc=", "email": "o@example.com"},
                      "https://index.docker.io/v1/": {"auth": "b2xkOm9sZA=="}},
            "psFormat": "table {{.ID}}", "proxies": {"default": {"httpProxy": "http://p:3128"}}}"#,
    )
    .unwrap();
    std::os::unix::fs::symlink(&target, d.path().join("config.json")).unwrap();
    let cfg = DockerConfig::new(d.path());
    cfg.store(
        "docker.io",
        &Credentials::Basic {
            username: "me".into(),
            password: "pw".into(),
        },
    )
    .unwrap();
    // The link stays a link; its target holds the new file.
    assert!(fs::symlink_metadata(d.path().join("config.json"))
        .unwrap()
        .file_type()
        .is_symlink());
    let j = json(&target);
    assert_eq!(
        j["auths"]["https://index.docker.io/v1/"]["auth"],
        "bWU6cHc="
    );
    assert_eq!(j["auths"]["other.example"]["email"], "o@example.com");
    assert_eq!(j["psFormat"], "table {{.ID}}");
    assert_eq!(j["proxies"]["default"]["httpProxy"], "http://p:3128");
    assert_eq!(
        fs::metadata(&target).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // No temp file left beside it.
    let names: Vec<String> = fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");

    assert!(cfg.erase("docker.io").unwrap());
    let j = json(&target);
    assert!(j["auths"].get("https://index.docker.io/v1/").is_none());
    assert_eq!(
        cfg.get("other.example").unwrap(),
        Some(Credentials::Basic {
            username: "other".into(),
            password: "pw".into(),
        })
    );

    // A fresh folder is made with config.json in it.
    let fresh = DockerConfig::new(d.path().join("new/dir"));
    fresh
        .store(
            "h:1",
            &Credentials::Basic {
                username: "a".into(),
                password: "b".into(),
            },
        )
        .unwrap();
    assert_eq!(
        json(&d.path().join("new/dir/config.json"))["auths"]["h:1"]["auth"],
        "YTpi"
    );
}

#[test]
fn a_helper_serves_a_real_registry() {
    if !registry_harness::available() {
        return;
    }
    let reg = Registry::basic(&[("helped", "secret")]);
    let d = tempfile::tempdir().unwrap();
    let (bin, store) = (d.path().join("bin"), d.path().join("store"));
    fs::create_dir_all(&bin).unwrap();
    write_helper(&bin, &store);
    fs::write(
        d.path().join("config.json"),
        r#"{"credsStore": "kilntest"}"#,
    )
    .unwrap();
    let cfg = DockerConfig::new(d.path()).with_helper_path(&bin);
    cfg.store(
        &reg.host(),
        &Credentials::Basic {
            username: "helped".into(),
            password: "secret".into(),
        },
    )
    .unwrap();
    let c = blocking::Client::new(options(&reg, Arc::new(cfg))).unwrap();
    let img = image(70, "linux/amd64", &[10]);
    let r = reference(&reg, "kiln/helped:1");
    push_image(&c, &r, &img);
    assert_eq!(c.get_manifest(&r, None).unwrap().bytes, img.manifest.bytes);
}
