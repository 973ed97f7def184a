//! `kiln build`.

use crate::cancel;
use crate::progress::{renderer, ProgressMode};
use anyhow::{anyhow, bail, Context as _};
use kiln_builder::build::{build, forget_context, BuildRequest, PushLinesHandle};
use kiln_builder::context::stdin::read_stdin_context;
use kiln_builder::frontend::image::Platform;
use kiln_builder::frontend::lower::BuildOptions;
use kiln_builder::secrets::Secrets;
use kiln_builder::Kiln;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

#[derive(clap::Args)]
pub struct BuildArgs {
    /// Name and optionally a tag (format: "name:tag")
    #[arg(short = 't', long = "tag")]
    tags: Vec<String>,
    /// Name of the Dockerfile (default: "PATH/Dockerfile")
    #[arg(short = 'f', long = "file")]
    file: Option<PathBuf>,
    /// Set the target build stage to build
    #[arg(long)]
    target: Option<String>,
    /// Set build-time variables
    #[arg(long = "build-arg")]
    build_args: Vec<String>,
    /// Set metadata for an image
    #[arg(long = "label")]
    labels: Vec<String>,
    /// Do not use cache when building the image
    #[arg(long)]
    no_cache: bool,
    /// Do not cache specified stages
    #[arg(long = "no-cache-filter", value_delimiter = ',')]
    no_cache_filter: Vec<String>,
    /// Set type of progress output
    #[arg(long, value_enum, default_value = "auto")]
    progress: ProgressMode,
    /// Always attempt to pull a newer version of the base images
    #[arg(long)]
    pull: bool,
    /// Shorthand for "--output=type=registry": push every tag after the build
    #[arg(long)]
    push: bool,
    /// Suppress the build output and print image ID on success
    #[arg(short, long)]
    quiet: bool,
    /// Set target platform for build
    #[arg(long)]
    platform: Option<String>,
    /// Set the networking mode for the RUN instructions during build
    #[arg(long, default_value = "default")]
    network: String,
    /// Output destination (format: "type=local,dest=path"; types: image, registry, oci,
    /// docker, local, tar; "-o DIR" and "-o -" are local and tar); may be given several times;
    /// the image always goes to the local store too
    #[arg(short = 'o', long)]
    output: Vec<String>,
    /// Write the image ID to the file
    #[arg(long)]
    iidfile: Option<PathBuf>,
    /// Write build result metadata to the file
    #[arg(long = "metadata-file")]
    metadata_file: Option<PathBuf>,
    /// Check the Dockerfile against docker's build checks and build nothing
    #[arg(long)]
    check: bool,
    /// Allow extra privileged entitlement (e.g., "network.host", "security.insecure")
    #[arg(long = "allow", value_delimiter = ',')]
    allow: Vec<String>,
    /// After the build, list the steps that ran and why each missed the cache
    #[arg(long)]
    explain: bool,
    /// Maximum number of steps run at once (default: number of cores)
    #[arg(long, default_value_t = 0)]
    jobs: usize,
    /// Secret to expose to the build (format: "id=mysecret[,src=/local/secret]")
    #[arg(long = "secret")]
    secrets: Vec<String>,
    /// SSH agent socket or keys to expose to the build (format:
    /// "default|<id>[=<socket>|<key>[,<key>]]")
    #[arg(long = "ssh")]
    ssh: Vec<String>,
    /// Build context directory, or `-`: a tar (plain, gzip, bzip2, xz) or a Dockerfile on stdin
    context: PathBuf,
}

/// A context that `kiln build -` read from stdin, removed when dropped.
struct StdinContext {
    dir: PathBuf,
    _tmp: tempfile::TempDir,
}

/// Read stdin as docker does for `build -`: a tar is the context (a `-f` names a file in it);
/// anything else is the Dockerfile, and the context is empty.
fn stdin_context(kiln: &Kiln, req: &mut BuildRequest) -> anyhow::Result<StdinContext> {
    if req.dockerfile.as_deref() == Some(Path::new("-")) {
        // docker's words.
        bail!("invalid argument: can't use stdin for both build context and dockerfile");
    }
    let tmp = tempfile::Builder::new()
        .prefix("stdin-context-")
        .tempdir_in(kiln.tmp_dir())
        .context("cannot make a directory for the build context")?;
    let dir = tmp.path().join("context");
    std::fs::create_dir(&dir).context("cannot make a directory for the build context")?;
    let mut spool = tempfile::tempfile_in(tmp.path()).context("cannot spool stdin")?;
    match read_stdin_context(&mut std::io::stdin().lock(), &mut spool, &dir)? {
        kiln_builder::context::stdin::StdinContext::Archive => {
            req.dockerfile = req.dockerfile.take().map(|f| dir.join(f));
        }
        kiln_builder::context::stdin::StdinContext::Dockerfile(text) => {
            // The context holds the Dockerfile (so messages call it `Dockerfile`) and a
            // .dockerignore that hides both from COPY: BuildKit's context is empty here.
            std::fs::write(dir.join("Dockerfile"), text).context("cannot write the Dockerfile")?;
            std::fs::write(dir.join(".dockerignore"), "Dockerfile\n.dockerignore\n")
                .context("cannot write the Dockerfile")?;
            req.dockerfile = None;
        }
    }
    req.context_dir = dir.clone();
    Ok(StdinContext { dir, _tmp: tmp })
}

fn parse_kv(
    items: &[String],
    what: &str,
    from_env: bool,
) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for item in items {
        match item.split_once('=') {
            Some(("", _)) => bail!("invalid {what} {item:?}: the name is empty"),
            Some((k, v)) => {
                out.insert(k.to_string(), v.to_string());
            }
            None if from_env => {
                // docker: `--build-arg K` takes K from the environment, or is ignored if unset.
                if let Ok(v) = std::env::var(item) {
                    out.insert(item.clone(), v);
                }
            }
            None => {
                out.insert(item.clone(), String::new());
            }
        }
    }
    Ok(out)
}

pub fn run(root: &Path, a: BuildArgs) -> anyhow::Result<ExitCode> {
    let build_args = parse_kv(&a.build_args, "build-arg", true)?;
    let outputs = a
        .output
        .iter()
        .map(|o| super::output::parse(o))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if outputs.iter().filter(|o| writes_stdout(o)).count() > 1 {
        bail!("invalid --output: only one output can write to stdout (\"-\")");
    }
    let labels = parse_kv(&a.labels, "label", false)?;
    let network = match a.network.as_str() {
        "default" | "bridge" => kiln_builder::solver::NetworkMode::Default,
        "none" => kiln_builder::solver::NetworkMode::None,
        "host" => kiln_builder::solver::NetworkMode::Host,
        other => bail!("invalid --network {other:?}: expected default, none or host"),
    };
    let mut allow_insecure = false;
    for e in &a.allow {
        match e.as_str() {
            "security.insecure" => allow_insecure = true,
            // RUN --network=host needs no entitlement in kiln, as in docker's own builder.
            "network.host" => {}
            other => {
                bail!("invalid entitlement {other:?}: expected network.host or security.insecure")
            }
        }
    }
    let platforms = super::multiplatform::parse_platforms(a.platform.as_deref())?;
    let target_platform = platforms.first().cloned().unwrap_or_else(Platform::host);
    let source_date_epoch = build_args
        .get("SOURCE_DATE_EPOCH")
        .cloned()
        .or_else(|| std::env::var("SOURCE_DATE_EPOCH").ok())
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<i64>()
                .map_err(|_| anyhow!("invalid SOURCE_DATE_EPOCH {s:?}: expected seconds"))
        })
        .transpose()?;
    let options = BuildOptions {
        dockerfile_name: "Dockerfile".into(),
        target: a.target.clone(),
        build_args,
        labels,
        target_platform,
        build_platform: Platform::host(),
        no_cache: a.no_cache,
        no_cache_filter: a.no_cache_filter.clone(),
        network,
        source_date_epoch,
        context_name: "context".into(),
        // The builder reads the context's .dockerignore.
        dockerignore: None,
    };
    let mut tags = a.tags.clone();
    tags.extend(outputs.iter().flat_map(|o| o.names.iter().cloned()));
    let push = a.push || outputs.iter().any(|o| o.push);
    for (f, flag) in [
        (&a.iidfile, "--iidfile"),
        (&a.metadata_file, "--metadata-file"),
    ] {
        if let Some(f) = f {
            super::output::check_file(f, flag)?;
        }
    }
    if push && tags.is_empty() {
        // BuildKit's words.
        bail!("tag is needed when pushing to registry (give -t NAME or --output name=NAME)");
    }
    let mut req = BuildRequest {
        context_dir: a.context.clone(),
        dockerfile: a.file.clone(),
        tags,
        options,
        jobs: a.jobs,
        allow_insecure,
        pull: if a.pull {
            kiln_builder::resolver::PullPolicy::Always
        } else {
            kiln_builder::resolver::PullPolicy::Missing
        },
        secrets: Default::default(),
        outputs,
        push,
        push_lines: None,
        platforms: if platforms.len() > 1 {
            platforms
        } else {
            Vec::new()
        },
    };
    let from_stdin = a.context.as_os_str() == "-";
    if a.check && !from_stdin {
        return super::check::run(root, &req);
    }
    let kiln = super::open(root)?;
    if !a.check {
        let env = |k: &str| std::env::var_os(k);
        // Sockets live in the system's temporary directory: a path under a deep store root
        // can pass the 108 bytes a unix socket's path may have.
        let secrets = Secrets::load(&a.secrets, &a.ssh, &env, &std::env::temp_dir())
            // The message names the spec and the cause, as docker's does.
            .map_err(|e| anyhow!(e.to_string()))?;
        req.secrets = std::sync::Arc::new(secrets);
    }
    let stdin = if from_stdin {
        Some(stdin_context(&kiln, &mut req)?)
    } else {
        None
    };
    let result = if a.check {
        super::check::run(root, &req)
    } else {
        run_build(&kiln, &mut req, &a)
    };
    if let Some(s) = stdin {
        forget_context(&kiln, &s.dir);
    }
    result
}

fn run_build(kiln: &Kiln, req: &mut BuildRequest, a: &BuildArgs) -> anyhow::Result<ExitCode> {
    let cancel = cancel::install();
    let mode = if a.quiet {
        ProgressMode::Quiet
    } else {
        a.progress
    };
    let r = Arc::new(super::output::OnceRenderer::new(renderer(mode)));
    // A push prints docker's lines once the progress display is done; a quiet build only
    // the image ID.
    let lines = super::output::BuildPushLines::new(r.clone(), a.quiet);
    req.push_lines = Some(PushLinesHandle(Arc::new(lines)));
    let table = crate::progress::explain::ExplainTable::new(r.sink());
    let sink: &dyn kiln_builder::solver::ProgressSink = if a.explain { &table } else { r.sink() };
    let result = build(kiln, req, sink, cancel);
    r.finish_once();
    if a.explain {
        eprint!("{}", table.table());
    }
    match result {
        Ok(res) => {
            for w in res.warnings.iter().filter(|w| w.rule.is_empty()) {
                crate::diag::warning(&w.message);
            }
            crate::diag::block(&super::check::build_summary(&res.warnings));
            super::multiplatform::shared_note(&res);
            // buildx: the config digest, or the index's digest when there is no one config.
            let id = res.index.as_deref().unwrap_or(&res.image.config_digest);
            if let Some(f) = &a.iidfile {
                super::output::write_file(f, id.as_bytes(), "--iidfile")?;
            }
            if let Some(f) = &a.metadata_file {
                let json = super::output::metadata_json(&res.metadata)?;
                super::output::write_file(f, &json, "--metadata-file")?;
            }
            let by_digest = req.outputs.iter().any(|o| o.push_by_digest);
            if by_digest {
                // Each repository with the digest it now holds, for `kiln manifest create`.
                let digest = res
                    .metadata
                    .get("containerimage.digest")
                    .and_then(|d| d.as_str())
                    .unwrap_or_default();
                for t in &res.tags {
                    println!("{}@{digest}", t.name());
                }
            } else if a.quiet && !req.outputs.iter().any(writes_stdout) {
                // An index's ID is its digest (docker's containerd store).
                println!("{id}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            if cancel::signalled() {
                crate::diag::error("build canceled");
                return Ok(ExitCode::from(130));
            }
            if let Some(d) = &e.detail {
                crate::diag::block(d);
            }
            crate::diag::error(&e.message);
            Ok(ExitCode::from(1))
        }
    }
}

/// Whether an `--output` writes to standard output (which then carries nothing else).
fn writes_stdout(o: &kiln_builder::export::OutputSpec) -> bool {
    use kiln_builder::export::{Dest, OutputKind};
    matches!(
        &o.kind,
        OutputKind::Oci {
            dest: Dest::Stdout,
            ..
        } | OutputKind::Docker { dest: Dest::Stdout }
            | OutputKind::Tar { dest: Dest::Stdout }
    )
}
