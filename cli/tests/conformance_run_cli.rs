//! `kiln run`'s command line and exit status as docker's (issue 9, items 11, 12 and 14).
//! Every expected value was recorded from Docker 20.10.24 on this machine (`docker run --rm
//! --network none …` on a busybox made with scripts/busybox-rootfs.sh and `docker import`).

mod common;

use common::{context, Kiln};

/// An image whose entrypoint prints each of its arguments as `[arg]`.
fn args_image(k: &Kiln) {
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox\nRUN printf '#!/bin/sh\\nfor a; do echo \"[$a]\"; done\\n' > /args && chmod +x /args\nENTRYPOINT [\"/args\"]\n",
    )]);
    k.build_ok(ctx.path(), "args", &[]);
}

/// Every flag `kiln run --help` lists: (`-e`, `--env`)...
fn run_flags(k: &Kiln) -> Vec<String> {
    let help = k.ok(&["run", "--help"]);
    let mut flags = Vec::new();
    for line in help
        .lines()
        .map(str::trim_start)
        .filter(|l| l.starts_with('-'))
    {
        for word in line.split_whitespace() {
            let w = word.trim_end_matches(',');
            let w = w.split(['[', '=', '<']).next().unwrap_or(w);
            if w.starts_with('-') && w.len() > 1 {
                flags.push(w.to_string());
            }
            if !word.ends_with(',') {
                break;
            }
        }
    }
    flags
}

#[test]
fn everything_after_the_image_belongs_to_the_container() {
    let k = Kiln::new();
    args_image(&k);
    let flags = run_flags(&k);
    for f in [
        "-e", "--env", "-t", "-w", "--rm", "--name", "-v", "--root", "--help",
    ] {
        assert!(flags.iter().any(|x| x == f), "{f} not in {flags:?}");
    }
    for flag in &flags {
        for args in [vec![flag.as_str(), "x"], vec![flag.as_str()]] {
            let mut cmd = vec!["run", "--rm", "--network", "none", "args"];
            cmd.extend(&args);
            let out = k.ok(&cmd);
            let want: String = args.iter().map(|a| format!("[{a}]\n")).collect();
            assert_eq!(out, want, "kiln {cmd:?}");
        }
        let joined = format!("{flag}=v");
        let out = k.ok(&["run", "--rm", "--network", "none", "args", &joined]);
        assert_eq!(out, format!("[{joined}]\n"));
    }
    assert!(
        flags.len() >= 20,
        "long and short forms of every flag: {flags:?}"
    );
}

#[test]
fn the_issues_examples_print_what_docker_prints() {
    let k = Kiln::new();
    // docker: `hello`, `-t /`, `-w /tmp --rm` (exit 0 each).
    for (args, docker) in [
        (&["-e", "hello"][..], "hello\n"),
        (&["-t", "/"][..], "-t /\n"),
        (&["-w", "/tmp", "--rm"][..], "-w /tmp --rm\n"),
    ] {
        let mut cmd = vec![
            "run",
            "--rm",
            "--network",
            "none",
            "--entrypoint",
            "/bin/echo",
            "busybox",
        ];
        cmd.extend(args);
        assert_eq!(k.ok(&cmd), docker, "{cmd:?}");
    }
    // docker: `exec: "-t": executable file not found in $PATH`, exit 127.
    let out = k.run(&["run", "--rm", "--network", "none", "busybox", "-t", "/"]);
    assert_eq!(out.status.code(), Some(127));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("exec: \"-t\": executable file not found in $PATH"),
        "{err}"
    );
}

#[test]
fn exit_codes_are_dockers() {
    let k = Kiln::new();
    // (arguments of `run --rm --network none`, docker's status, a word of docker's message)
    let cases: &[(&[&str], i32, &str)] = &[
        (&["no-such-image"], 125, "Unable to find image"),
        (&["--bogus", "busybox"], 125, "--bogus"),
        (&["--rm=maybe", "busybox", "true"], 125, "strconv.ParseBool"),
        (
            &["-v", "rel:rel", "busybox", "true"],
            125,
            "must be absolute",
        ),
        (
            &["-w", "rel", "busybox", "true"],
            125,
            "needs to be an absolute path",
        ),
        (
            &["-u", "ghost", "busybox", "true"],
            125,
            "unable to find user ghost",
        ),
        (
            &["--name", "bad name", "busybox", "true"],
            125,
            "Invalid container name (bad name)",
        ),
        (
            &["busybox", "nosuchcmd"],
            127,
            "executable file not found in $PATH",
        ),
        (&["busybox", "/no/such"], 127, "no such file or directory"),
        (&["busybox", "/etc/passwd"], 126, "permission denied"),
        (&["busybox", "/etc"], 126, "/etc"),
        (&["busybox", "sh", "-c", "exit 3"], 3, ""),
        (&["busybox", "sh", "-c", "exit 0"], 0, ""),
        (&["busybox", "sh", "-c", "kill -9 $$"], 137, ""),
    ];
    for (args, code, word) in cases {
        let mut cmd = vec!["run", "--rm", "--network", "none"];
        cmd.extend(*args);
        let out = k.run(&cmd);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(*code), "kiln {cmd:?}:\n{err}");
        assert!(err.contains(word), "kiln {cmd:?}: {err}");
    }
    // `kiln build` keeps 1 for a failed build.
    let ctx = context(&[("Dockerfile", "FROM busybox\nRUN exit 3\n")]);
    let out = k.run(&["build", "--progress=plain", ctx.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let out = k.run(&["build", "--progress=plain", "/no/such/context"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn boolean_flags_take_dockers_forms() {
    let k = Kiln::new();
    // `docker run --rm=false` keeps the container; `--rm=true` and `--rm` remove it.
    for (flag, kept) in [
        ("--rm=false", true),
        ("--rm=true", false),
        ("--rm", false),
        ("--rm=0", true),
        ("--rm=T", false),
    ] {
        let name = format!(
            "b{}",
            flag.len() + flag.bytes().map(u32::from).sum::<u32>() as usize
        );
        k.ok(&[
            "run",
            flag,
            "--network",
            "none",
            "--name",
            &name,
            "busybox",
            "true",
        ]);
        let ps = k.ok(&["ps", "-a", "--format", "{{.Names}}"]);
        assert_eq!(ps.lines().any(|l| l == name), kept, "{flag}: {ps}");
    }
    // `docker images -q=true` prints IDs only, `-q=false` the table; `-qa=false` is -q.
    let id = k.ok(&["images", "-q"]);
    assert_eq!(k.ok(&["images", "-q=true"]), id);
    assert_eq!(k.ok(&["images", "-qa=false"]), id);
    assert!(k.ok(&["images", "-q=false"]).starts_with("REPOSITORY"));
    assert!(k.ok(&["images", "--quiet=False"]).starts_with("REPOSITORY"));
    // `docker images --quiet=yes`: `invalid argument "yes" for "-q, --quiet" flag:
    // strconv.ParseBool: parsing "yes": invalid syntax`, exit 125.
    let out = k.run(&["images", "--quiet=yes"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(
            "invalid argument \"yes\" for \"-q, --quiet\" flag: strconv.ParseBool: parsing \"yes\": invalid syntax"
        ),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // `--no-cache=true|false`, `--pull=false`-style forms on build; `-H=false` on history.
    let ctx = context(&[("Dockerfile", "FROM busybox\nRUN echo built-$RANDOM\n")]);
    let d = ctx.path().to_str().unwrap();
    k.ok(&["build", "-q", "-t", "nc", d]);
    let cached = k.build_ok(ctx.path(), "nc", &["--no-cache=false"]);
    assert!(cached.contains("CACHED"), "{cached}");
    let fresh = k.build_ok(ctx.path(), "nc", &["--no-cache=true", "--pull=false"]);
    assert!(!fresh.contains("CACHED"), "{fresh}");
    let raw = k.ok(&["history", "-H=false", "--format", "{{.Size}}", "nc"]);
    assert!(raw.lines().all(|l| l.parse::<u64>().is_ok()), "{raw}");
    let human = k.ok(&["history", "-H", "--format", "{{.Size}}", "nc"]);
    assert!(human.lines().all(|l| l.ends_with('B')), "{human}");
    // A bare boolean does not take the next argument: `--rm false` runs the command `false`.
    let out = k.run(&["run", "--rm", "--network", "none", "busybox", "false"]);
    assert_eq!(out.status.code(), Some(1));
}

/// The command names of a help text's `Commands:` section.
fn commands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| l.trim() != "Commands:")
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next().map(String::from))
        .collect()
}

/// The long boolean flags (no value) of a help text, but `--help` and `--version`.
fn boolean_flags(help: &str) -> Vec<String> {
    help.lines()
        .map(str::trim_start)
        .filter(|l| l.starts_with('-'))
        .filter_map(|l| {
            let long = l
                .split_whitespace()
                .find(|w| w.starts_with("--"))?
                .trim_end_matches(',');
            let takes_value = l.contains(&format!("{long} <")) || long.contains('[');
            (!takes_value && long != "--help" && long != "--version").then(|| long.to_string())
        })
        .collect()
}

#[test]
fn every_boolean_flag_of_every_command_takes_true_and_false() {
    let k = Kiln::empty();
    let top = k.ok(&["--help"]);
    let mut paths: Vec<Vec<String>> = Vec::new();
    for c in commands(&top) {
        let subs = commands(&k.ok(&[&c, "--help"]));
        if subs.is_empty() {
            paths.push(vec![c]);
        } else {
            paths.extend(subs.into_iter().map(|s| vec![c.clone(), s]));
        }
    }
    let mut checked = 0;
    for path in &paths {
        let base: Vec<&str> = path.iter().map(String::as_str).collect();
        let help = k.ok(&[&base[..], &["--help"]].concat());
        for flag in boolean_flags(&help) {
            for v in ["true", "false", "1", "0", "T", "F", "TRUE", "False"] {
                let arg = format!("{flag}={v}");
                // `--help` after the flag: parsing the flag is all that runs.
                let out = k.run(&[&base[..], &[arg.as_str(), "--help"]].concat());
                assert_eq!(
                    out.status.code(),
                    Some(0),
                    "kiln {path:?} {arg}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            let arg = format!("{flag}=maybe");
            let out = k.run(&[&base[..], &[arg.as_str()]].concat());
            // docker: `invalid argument "maybe" for "--flag" flag: strconv.ParseBool: …`, 125.
            assert_eq!(out.status.code(), Some(125), "kiln {path:?} {arg}");
            assert!(String::from_utf8_lossy(&out.stderr)
                .contains("strconv.ParseBool: parsing \"maybe\": invalid syntax"));
            checked += 1;
        }
    }
    assert!(checked >= 15, "boolean flags checked: {checked}");
}
