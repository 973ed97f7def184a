//! End-to-end: `kiln build --ssh` and `RUN --mount=type=ssh` (issue 10). The test starts its
//! own OpenSSH agent; the step runs the host's `ssh-add` (with its libraries, bind-mounted from
//! the context) against the socket kiln relays, so `ssh-add -l` inside RUN lists the agent's
//! keys, as under docker.

mod common;

use common::{context, Kiln};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// An ssh-agent of the test's own, with one new key; killed when dropped.
struct Agent {
    child: Child,
    socket: PathBuf,
    dir: tempfile::TempDir,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn have_openssh() -> bool {
    let ok = [
        "/usr/bin/ssh-agent",
        "/usr/bin/ssh-add",
        "/usr/bin/ssh-keygen",
    ]
    .iter()
    .all(|p| Path::new(p).exists());
    if !ok {
        assert!(
            std::env::var_os("KILN_REQUIRE_PEERS").is_none(),
            "KILN_REQUIRE_PEERS is set but OpenSSH's client is missing (scripts/test.sh installs openssh-client)"
        );
        eprintln!("SKIPPED: no ssh-agent/ssh-add/ssh-keygen (apt-get install openssh-client)");
    }
    ok
}

/// A new ed25519 key `name` in `dir`; returns its path and its fingerprint line as
/// `ssh-add -l` prints it.
fn keygen(dir: &Path, name: &str) -> (PathBuf, String) {
    let key = dir.join(name);
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(st.success());
    let fp = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(&key)
        .output()
        .unwrap();
    (
        key,
        String::from_utf8(fp.stdout).unwrap().trim().to_string(),
    )
}

impl Agent {
    fn start() -> (Agent, String) {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("agent.sock");
        let child = Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        for _ in 0..500 {
            if socket.exists() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let (key, fp) = keygen(dir.path(), "agent-key");
        let st = Command::new("ssh-add")
            .arg("-q")
            .arg(&key)
            .env("SSH_AUTH_SOCK", &socket)
            .status()
            .unwrap();
        assert!(st.success(), "ssh-add in the test's agent");
        (Agent { child, socket, dir }, fp)
    }
}

/// A context with `tools/`: the host's ssh-add and the libraries it loads, to run as
/// `/t/ld.so --library-path /t /t/ssh-add` from a bind mount.
fn tools_context(dockerfile: &str) -> tempfile::TempDir {
    let ctx = context(&[("Dockerfile", dockerfile)]);
    let tools = ctx.path().join("tools");
    std::fs::create_dir(&tools).unwrap();
    std::fs::copy("/usr/bin/ssh-add", tools.join("ssh-add")).unwrap();
    let ldd = Command::new("ldd")
        .arg("/usr/bin/ssh-add")
        .output()
        .unwrap();
    for word in String::from_utf8_lossy(&ldd.stdout).split_whitespace() {
        if word.starts_with('/') {
            let name = Path::new(word).file_name().unwrap();
            std::fs::copy(word, tools.join(name)).unwrap();
        }
    }
    assert!(tools.join("ld-linux-x86-64.so.2").exists(), "{ldd:?}");
    ctx
}

const SSH_ADD: &str = "/t/ld-linux-x86-64.so.2 --library-path /t /t/ssh-add";

#[test]
fn ssh_add_in_run_lists_the_forwarded_agents_keys() {
    if !have_openssh() {
        return;
    }
    let k = Kiln::new();
    let (agent, agent_fp) = Agent::start();
    let (key, key_fp) = keygen(agent.dir.path(), "file-key");
    // A key file readable by others: kiln hands it to its agent on stdin, so ssh-add's
    // permission check on key files does not apply (BuildKit reads it the same way).
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let df = format!(
        "FROM busybox
RUN --mount=type=ssh --mount=target=/t,source=tools echo \"sock: $SSH_AUTH_SOCK $(stat -c '%a %u' $SSH_AUTH_SOCK)\"; {SSH_ADD} -l
RUN --mount=type=ssh,id=keys,target=/ag,mode=0600,uid=1000 --mount=target=/t,source=tools echo \"sock: $(stat -c '%n %a %u' /ag)\"; su app -c 'SSH_AUTH_SOCK=/ag {SSH_ADD} -l'
RUN --mount=type=ssh,id=unknown --mount=target=/t,source=tools echo \"sock: unknown $(test -S /run/buildkit/ssh_agent.0 && echo present || echo absent)\"
"
    );
    let ctx = tools_context(&df);
    let keys = format!("keys={}", key.display());
    let tmp = tempfile::tempdir().unwrap();
    let out = k
        .cmd()
        .args(["build", "--progress=plain", "-t", "ssh:1"])
        .args(["--ssh", "default", "--ssh", &keys])
        .arg(ctx.path())
        .env("SSH_AUTH_SOCK", &agent.socket)
        .env("TMPDIR", tmp.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    for line in [
        "sock: /run/buildkit/ssh_agent.0 600 0",
        agent_fp.as_str(),
        "sock: /ag 600 1000",
        key_fp.as_str(),
        "sock: unknown absent",
    ] {
        assert!(common::printed(&err, line), "{line:?} in:\n{err}");
    }
    // Each id reaches its own agent only.
    assert!(!common::printed(
        &err,
        &key_fp.replace("file-key", "agent-key")
    ));
    let env = k.inspect("ssh:1")["Config"]["Env"].to_string();
    assert!(!env.contains("SSH_AUTH_SOCK"), "{env}");
    // The relays and kiln's agent are gone with the build: no socket of kiln's is left under
    // its root or in the temporary directory, where their sockets were.
    let left = walk_sockets(k.root.path());
    assert!(left.is_empty(), "sockets left: {left:?}");
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "left in TMPDIR: {left:?}");
}

fn walk_sockets(dir: &Path) -> Vec<PathBuf> {
    use std::os::unix::fs::FileTypeExt;
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let t = e.file_type().unwrap();
        if t.is_dir() {
            out.extend(walk_sockets(&e.path()));
        } else if t.is_socket() {
            out.push(e.path());
        }
    }
    out
}

#[test]
fn bad_ssh_input_gets_one_error_naming_the_cause() {
    if !have_openssh() {
        return;
    }
    let k = Kiln::new();
    let before = k.ok(&["images", "-q"]);
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox\nRUN --mount=type=ssh,id=other,required=true true\n",
    )]);
    let dir = tempfile::tempdir().unwrap();
    let not_a_key = dir.path().join("notakey");
    std::fs::write(&not_a_key, "hello\n").unwrap();
    let cases: Vec<(Vec<String>, Option<&str>, String)> = vec![
        (
            vec!["default".into()],
            None,
            "could not parse ssh: [default]: invalid empty ssh agent socket, make sure SSH_AUTH_SOCK is set".into(),
        ),
        (
            vec!["default=/nonexistent/agent.sock".into()],
            None,
            "could not parse ssh: [default=/nonexistent/agent.sock]: stat /nonexistent/agent.sock: no such file or directory".into(),
        ),
        (
            vec![format!("other={}", not_a_key.display())],
            None,
            format!(
                "could not parse ssh: [other={0}]: failed to parse {0}: ssh: no key found",
                not_a_key.display()
            ),
        ),
        (
            vec![],
            None,
            "ERROR: failed to solve: unset ssh forward key other".into(),
        ),
    ];
    for (specs, _, message) in cases {
        let mut cmd = k.cmd();
        cmd.args(["build", "--progress=plain", "-t", "bad:1"]);
        for s in &specs {
            cmd.args(["--ssh", s]);
        }
        let out = cmd
            .arg(ctx.path())
            .env_remove("SSH_AUTH_SOCK")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{specs:?}: {err}");
        if message.starts_with("ERROR") {
            assert!(err.contains(&message), "{specs:?}: {err}");
        } else {
            assert_eq!(err.trim_end(), format!("ERROR: {message}"), "{specs:?}");
        }
    }
    assert_eq!(k.ok(&["images", "-q"]), before, "nothing stored");
}
