//! `kiln build`.

use crate::cancel;
use crate::progress::{renderer, ProgressMode};
use anyhow::{anyhow, bail, Context as _};
use kiln_builder::build::{build, forget_context, BuildRequest};
use kiln_builder::context::stdin::read_stdin_context;
use kiln_builder::frontend::image::Platform;
use kiln_builder::frontend::lower::BuildOptions;
use kiln_builder::Kiln;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

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
    /// Output destination (format: "type=oci|docker,dest=PATH"); the image always goes to the
    /// local store too
    #[arg(short = 'o', long)]
    output: Option<String>,
    /// Check the Dockerfile against docker's build checks and build nothing
    #[arg(long)]
    check: bool,
    /// Allow extra privileged entitlement (e.g., "network.host", "security.insecure")
    #[arg(long = "allow", value_delimiter = ',')]
    allow: Vec<String>,
    /// Maximum number of steps run at once (default: number of cores)
    #[arg(long, default_value_t = 0)]
    jobs: usize,
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
    let output = a.output.as_deref().map(super::output::parse).transpose()?;
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
    tags.extend(output.iter().flat_map(|o| o.names.iter().cloned()));
    let push = a.push || output.as_ref().is_some_and(|o| o.push);
    let by_digest = output.as_ref().is_some_and(|o| o.push_by_digest);
    if (push || by_digest) && tags.is_empty() {
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
    let stdin = if from_stdin {
        Some(stdin_context(&kiln, &mut req)?)
    } else {
        None
    };
    let result = if a.check {
        super::check::run(root, &req)
    } else {
        run_build(&kiln, &req, &a, output.as_ref(), push)
    };
    if let Some(s) = stdin {
        forget_context(&kiln, &s.dir);
    }
    result
}

/// Push each tag the build gave, as `docker build --push` does, with `kiln push`'s lines.
fn push_tags(kiln: &Kiln, tags: &[String], quiet: bool) -> anyhow::Result<()> {
    let client = kiln_builder::registry::client()?;
    // A quiet build prints only the image ID; the push then says nothing on stdout.
    let lines = crate::progress::layers::LayerLines::on_stderr(quiet);
    for tag in tags {
        let r = super::registry::parse_ref(tag)?;
        lines.line(&format!("The push refers to repository [{}]", r.name()));
        let pushed = super::registry::push_one(kiln, &client, &r, &lines)?;
        lines.line(&format!(
            "{}: digest: {} size: {}",
            r.tag.as_deref().unwrap_or("latest"),
            pushed.digest,
            pushed.size
        ));
    }
    lines.finish();
    Ok(())
}

fn run_build(
    kiln: &Kiln,
    req: &BuildRequest,
    a: &BuildArgs,
    output: Option<&super::output::OutputSpec>,
    push: bool,
) -> anyhow::Result<ExitCode> {
    let cancel = cancel::install();
    let mode = if a.quiet {
        ProgressMode::Quiet
    } else {
        a.progress
    };
    let r = renderer(mode);
    let result = build(kiln, req, &*r, cancel);
    r.finish();
    match result {
        Ok(res) => {
            for w in res.warnings.iter().filter(|w| w.rule.is_empty()) {
                crate::diag::warning(&w.message);
            }
            crate::diag::block(&super::check::build_summary(&res.warnings));
            super::multiplatform::shared_note(&res);
            if let Some(spec) = output {
                // A build for several platforms goes out as its index.
                let built = res.index.as_deref().unwrap_or(&res.image.manifest_digest);
                super::output::write(kiln, spec, built)?;
            }
            if push {
                push_tags(kiln, &req.tags, a.quiet)?;
            }
            if output.is_some_and(|o| o.push_by_digest) {
                super::manifest::push_by_digest(kiln, &req.tags, a.quiet)?;
            }
            if a.quiet {
                // An index's ID is its digest (docker's containerd store).
                println!(
                    "{}",
                    res.index.as_deref().unwrap_or(&res.image.config_digest)
                );
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
