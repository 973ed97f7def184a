//! RUN: an exec vertex over the stage's root, with `--mount`s, heredocs and build args.

use super::dispatch::commit;
use super::history::run_command_string;
use super::paths::{base_name, clean_abs, join_abs};
use super::state::{display_text, StageState};
use super::{Loc, Lowerer};
use crate::instructions::{
    is_heredoc_word, parse_mount, Command, FrontendError, MountType, RunInstruction, ShellOrExec,
};
use kiln_solver::{ExecMeta, ExecOp, Mount, MountKind, Op, VertexId};

/// Inputs of an exec vertex, each vertex once.
struct Inputs(Vec<VertexId>);

impl Inputs {
    fn index(&mut self, v: VertexId) -> usize {
        match self.0.iter().position(|x| *x == v) {
            Some(i) => i,
            None => {
                self.0.push(v);
                self.0.len() - 1
            }
        }
    }
}

impl Lowerer<'_> {
    pub(crate) fn dispatch_run(
        &mut self,
        st: &mut StageState,
        r: &RunInstruction,
        cmd: &Command,
        loc: &Loc,
    ) -> Result<(), FrontendError> {
        let cwd = st.workdir();
        let mut inputs = Inputs(vec![st.vertex]);
        let mut mounts = vec![Mount {
            input: Some(0),
            selector: "/".into(),
            dest: "/".into(),
            readonly: false,
            kind: MountKind::Bind,
        }];

        let (mut args, mut prepend_shell) = match &r.cmd {
            ShellOrExec::Exec(a) => (a.clone(), false),
            ShellOrExec::Shell(s) => (vec![s.clone()], true),
        };
        if !r.heredocs.is_empty() && prepend_shell {
            let line = args.first().cloned().unwrap_or_default();
            if r.heredocs.len() == 1 && is_heredoc_word(line.trim()) {
                let h = &r.heredocs[0];
                let data = h.body();
                if data.starts_with("#!") && st.config.os != "windows" {
                    // A script with its own interpreter: write it and run it.
                    let doc = self.inline_document(&h.name, 0o755, data);
                    let idx = inputs.index(doc);
                    mounts.push(Mount {
                        input: Some(idx),
                        selector: "/".into(),
                        dest: "/dev/pipes/".into(),
                        readonly: true,
                        kind: MountKind::Bind,
                    });
                    args = vec![format!("/dev/pipes/{}", h.name)];
                    prepend_shell = false;
                } else {
                    // Run the body with the shell (works for shells without heredoc support).
                    args = vec![data];
                }
            } else {
                let mut full = line;
                for h in &r.heredocs {
                    full.push('\n');
                    full.push_str(&h.content);
                    full.push_str(&h.name);
                }
                args = vec![full];
            }
        }
        let argv = if prepend_shell {
            let mut a = st.shell();
            a.push(args.join(" "));
            a
        } else {
            args
        };

        // Environment: the build environment (ENV and ARG values, the later winning), as
        // BuildKit's LLB state carries it; proxies on the side, out of the key and history.
        let mut env = st.env_list();
        let env_map = st.env_map();
        let hist_args: Vec<(String, String)> = st
            .args
            .iter()
            .map(|(k, v)| {
                let shown = env_map.get(k).or(v.as_ref()).cloned().unwrap_or_default();
                (k.clone(), shown)
            })
            .collect();
        let proxy_env = super::proxy_env(&self.opts.build_args);

        // --mount
        let lexer = self.lexer;
        let mut ssh_count = 0;
        for spec in &r.mounts {
            let mut expand = |s: &str| lexer.process_word(s, &env_map).map_err(|e| e.to_string());
            let m = parse_mount(spec, &mut expand).map_err(|e| loc.err(e))?;
            let target = m.target.as_deref().map(|t| join_abs(&cwd, t));
            let from_input = match &m.from {
                Some(f) => Some(self.vertex_of_from(f, st).map_err(|e| loc.err(e))?),
                None => None,
            };
            let selector = clean_abs(m.source.as_deref().unwrap_or("/"));
            let mount = match m.kind {
                MountType::Bind => {
                    let v = match from_input {
                        Some(v) => v,
                        None => self.context_vertex(),
                    };
                    Mount {
                        input: Some(inputs.index(v)),
                        selector,
                        dest: target.unwrap_or_default(),
                        readonly: m.readonly.unwrap_or(true),
                        kind: MountKind::Bind,
                    }
                }
                MountType::Cache => {
                    let dest = target.unwrap_or_default();
                    let id =
                        m.id.clone()
                            .or_else(|| m.target.clone())
                            .unwrap_or_else(|| dest.clone());
                    Mount {
                        input: from_input.map(|v| inputs.index(v)),
                        selector,
                        dest,
                        readonly: m.readonly.unwrap_or(false),
                        kind: MountKind::Cache {
                            id,
                            sharing: m.sharing,
                            mode: m.mode,
                            uid: m.uid,
                            gid: m.gid,
                        },
                    }
                }
                MountType::Tmpfs => Mount {
                    input: None,
                    selector: "/".into(),
                    dest: target.unwrap_or_default(),
                    readonly: false,
                    kind: MountKind::Tmpfs { size: m.size },
                },
                MountType::Secret => {
                    let id =
                        m.id.clone()
                            .unwrap_or_else(|| base_name(target.as_deref().unwrap_or("")));
                    let dest = match (&target, &m.env) {
                        (Some(t), _) => t.clone(),
                        (None, Some(_)) => String::new(),
                        (None, None) => format!("/run/secrets/{id}"),
                    };
                    Mount {
                        input: None,
                        selector: "/".into(),
                        dest,
                        readonly: true,
                        kind: MountKind::Secret {
                            id,
                            required: m.required,
                            mode: m.mode.unwrap_or(0o400),
                            uid: m.uid.unwrap_or(0),
                            gid: m.gid.unwrap_or(0),
                            env: m.env.clone(),
                        },
                    }
                }
                MountType::Ssh => {
                    ssh_count += 1;
                    let dest = target
                        .unwrap_or_else(|| format!("/run/buildkit/ssh_agent.{}", ssh_count - 1));
                    if !env.iter().any(|e| e.starts_with("SSH_AUTH_SOCK=")) {
                        env.push(format!("SSH_AUTH_SOCK={dest}"));
                    }
                    Mount {
                        input: None,
                        selector: "/".into(),
                        dest,
                        readonly: true,
                        kind: MountKind::Ssh {
                            id: m.id.clone().unwrap_or_else(|| "default".into()),
                            required: m.required,
                            mode: m.mode.unwrap_or(0o600),
                            uid: m.uid.unwrap_or(0),
                            gid: m.gid.unwrap_or(0),
                        },
                    }
                }
            };
            mounts.push(mount);
        }

        check_exec_size(&argv, &env, &proxy_env).map_err(|e| loc.err(e))?;
        let exec = ExecOp {
            meta: ExecMeta {
                args: argv.clone(),
                env,
                cwd,
                user: st.config.config.user.clone().unwrap_or_default(),
                hostname: self
                    .opts
                    .build_args
                    .get("BUILDKIT_SANDBOX_HOSTNAME")
                    .cloned(),
                extra_hosts: Vec::new(),
                proxy_env,
            },
            mounts,
            network: r.network.unwrap_or(self.opts.network),
            security: r.security.unwrap_or_default(),
            // The stage's platform: the worker runs it natively or through an emulator.
            platform: Some(Box::new(st.platform.normalized())),
        };
        let meta = st.meta(loc, &display_text(self.lexer, st, cmd));
        st.vertex = self.graph.add(Op::Exec(exec), &inputs.0, meta);
        commit(
            st,
            format!("RUN {} # buildkit", run_command_string(&argv, &hist_args)),
            Some(st.vertex),
        );
        Ok(())
    }
}

/// Linux's limit on one argument or environment string (`MAX_ARG_STRLEN`).
pub const MAX_EXEC_STRING: usize = 128 * 1024;
/// The usual limit on all arguments and environment strings of an `exec` together (`ARG_MAX`
/// with the default 8 MiB stack).
pub const MAX_EXEC_TOTAL: usize = 2 * 1024 * 1024;

/// A RUN whose command line or environment is larger than Linux lets a process start with
/// can never run (`exec` fails with E2BIG): say so at the instruction, before a build graph
/// holding a copy of that environment per step is made.
fn check_exec_size(args: &[String], env: &[String], proxy_env: &[String]) -> Result<(), String> {
    let mut total = 0usize;
    for s in args.iter().chain(env).chain(proxy_env) {
        if s.len() > MAX_EXEC_STRING {
            let name = s
                .split('=')
                .next()
                .unwrap_or("")
                .chars()
                .take(40)
                .collect::<String>();
            let what = if env.contains(s) || proxy_env.contains(s) {
                format!("the environment variable {name}")
            } else {
                "an argument".to_string()
            };
            return Err(format!(
                "RUN cannot start: {what} is {} bytes, and Linux accepts at most {MAX_EXEC_STRING} bytes per argument or variable",
                s.len()
            ));
        }
        total += s.len() + 1;
    }
    if total > MAX_EXEC_TOTAL {
        return Err(format!(
            "RUN cannot start: its arguments and environment take {total} bytes, and Linux accepts at most {MAX_EXEC_TOTAL}"
        ));
    }
    Ok(())
}
