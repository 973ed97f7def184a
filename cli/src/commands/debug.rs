//! `kiln debug ast FILE` (the parse in BuildKit's test dump layout) and `kiln debug graph`
//! (the lowered build graph, like `buildctl debug dump-llb`).

use anyhow::{anyhow, Context as _};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum DebugCommand {
    /// Print the Dockerfile's AST in BuildKit's parser-test dump layout
    Ast {
        /// The Dockerfile (`-` for stdin)
        file: PathBuf,
    },
    /// Print the build graph the Dockerfile lowers to (JSON lines, or Graphviz dot)
    Graph(GraphArgs),
}

#[derive(clap::Args)]
pub struct GraphArgs {
    /// The Dockerfile
    pub file: PathBuf,
    /// Output format: json, dot, or stats (vertex count and parse+lower time, for benchmarks)
    #[arg(long, default_value = "json")]
    pub format: String,
    /// Target stage
    #[arg(long)]
    pub target: Option<String>,
    /// Build-time variables
    #[arg(long = "build-arg")]
    pub build_args: Vec<String>,
}

pub fn read(file: &PathBuf) -> anyhow::Result<String> {
    if file.as_os_str() == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)?;
        return Ok(s);
    }
    std::fs::read_to_string(file)
        .with_context(|| format!("failed to read dockerfile {}", file.display()))
}

pub fn ast(file: &PathBuf) -> anyhow::Result<ExitCode> {
    let text = read(file)?;
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "Dockerfile".into());
    let df = kiln_builder::frontend::parser::parse(&text, &name).map_err(|e| anyhow!("{e}"))?;
    println!("{}", kiln_builder::frontend::parser::dump(&df));
    Ok(ExitCode::SUCCESS)
}

pub fn graph(root: &std::path::Path, a: GraphArgs) -> anyhow::Result<ExitCode> {
    let text = read(&a.file)?;
    let kiln = super::open(root)?;
    let mut options = kiln_builder::frontend::lower::BuildOptions {
        dockerfile_name: a
            .file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "Dockerfile".into()),
        target: a.target.clone(),
        ..Default::default()
    };
    for kv in &a.build_args {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| anyhow!("invalid build-arg {kv:?}: expected KEY=VALUE"))?;
        options.build_args.insert(k.to_string(), v.to_string());
    }
    let start = std::time::Instant::now();
    let plan = kiln_builder::frontend::lower::lower(
        &text,
        &options,
        &kiln_builder::resolver::StoreResolver::new(&kiln),
    )
    .map_err(|e| anyhow!("{e}"))?;
    let elapsed = start.elapsed();
    let dag = plan.graph.dag();
    // Inputs before their users: a topological order.
    let order =
        petgraph::algo::toposort(dag, None).map_err(|_| anyhow!("the build graph has a cycle"))?;
    match a.format.as_str() {
        "json" => {
            for id in order {
                let v = plan.graph.vertex(id);
                let line = serde_json::json!({
                    "digest": v.digest,
                    "op": v.op,
                    "inputs": v.inputs,
                    "name": v.meta.name,
                    "result": id == plan.result,
                });
                println!("{line}");
            }
        }
        "dot" => {
            println!("digraph kiln {{");
            for id in &order {
                let v = plan.graph.vertex(*id);
                let kind = match &v.op {
                    kiln_builder::solver::Op::Source(s) => format!("source {}", s.identifier),
                    kiln_builder::solver::Op::Exec(_) => "exec".into(),
                    kiln_builder::solver::Op::File(_) => "file".into(),
                    kiln_builder::solver::Op::Merge(_) => "merge".into(),
                    kiln_builder::solver::Op::Diff(_) => "diff".into(),
                };
                let label = if v.meta.name.is_empty() {
                    kind
                } else {
                    format!("{}\\n{kind}", v.meta.name)
                };
                println!(
                    "  \"{}\" [label=\"{}\"];",
                    &v.digest.hex()[..12],
                    label.replace('"', "\\\"")
                );
                for input in &v.inputs {
                    println!(
                        "  \"{}\" -> \"{}\";",
                        &input.hex()[..12],
                        &v.digest.hex()[..12]
                    );
                }
            }
            println!("}}");
        }
        "stats" => {
            let lines = text.lines().count();
            println!(
                "lines {lines} vertices {} parse+lower {:.3}s",
                plan.graph.len(),
                elapsed.as_secs_f64()
            );
        }
        other => {
            return Err(anyhow!(
                "unknown --format {other:?}: expected json, dot or stats"
            ))
        }
    }
    Ok(ExitCode::SUCCESS)
}
