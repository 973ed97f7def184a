//! `kiln build`.

use crate::cancel;
use crate::progress::{renderer, ProgressMode};
use anyhow::{anyhow, bail};
use kiln_builder::build::{build, BuildRequest};
use kiln_builder::frontend::image::Platform;
use kiln_builder::frontend::lower::BuildOptions;
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
    /// Build context directory
    context: PathBuf,
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
    let target_platform = match &a.platform {
        Some(p) if p.contains(',') => {
            bail!("--platform with several platforms is not supported yet")
        }
        Some(p) => Platform::parse(p).map_err(|e| anyhow!(e))?,
        None => Platform::host(),
    };
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
    let req = BuildRequest {
        context_dir: a.context.clone(),
        dockerfile: a.file.clone(),
        tags: a.tags.clone(),
        options,
        jobs: a.jobs,
        allow_insecure,
        pull: Default::default(),
    };
    if a.check {
        return super::check::run(root, &req);
    }
    let kiln = super::open(root)?;
    let cancel = cancel::install();
    let mode = if a.quiet {
        ProgressMode::Quiet
    } else {
        a.progress
    };
    let r = renderer(mode);
    let result = build(&kiln, &req, &*r, cancel);
    r.finish();
    match result {
        Ok(res) => {
            for w in res.warnings.iter().filter(|w| w.rule.is_empty()) {
                crate::diag::warning(&w.message);
            }
            crate::diag::block(&super::check::build_summary(&res.warnings));
            if let Some(spec) = &output {
                super::output::write(&kiln, spec, &res.image.manifest_digest)?;
            }
            if a.quiet {
                println!("{}", res.image.config_digest);
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
