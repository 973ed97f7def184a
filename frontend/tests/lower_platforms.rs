//! Lowering for several platforms: one graph, the platform on every exec, shared work once,
//! the predefined platform args, base images per platform and InvalidBaseImagePlatform.

#[path = "lower_common.rs"]
mod common;

use common::*;
use kiln_frontend::image::{ImageConfig, Platform};
use kiln_frontend::lower::{
    lower_platforms, BuildOptions, BuildPlan, ImageResolver, ResolvedImage,
};
use kiln_solver::{Op, SourceOp};
use std::cell::RefCell;

/// Images for every platform asked for (the config says that platform, the digest differs per
/// platform, as entries of an index do), except `amd64only`, which is always linux/amd64.
#[derive(Default)]
struct PerPlatform {
    calls: RefCell<Vec<(String, String)>>,
}

impl ImageResolver for PerPlatform {
    fn resolve(&self, reference: &str, platform: &Platform) -> Result<ResolvedImage, String> {
        self.calls
            .borrow_mut()
            .push((reference.to_string(), platform.to_string()));
        let fixed = reference == "amd64only";
        let p = if fixed {
            Platform::parse("linux/amd64").unwrap()
        } else {
            platform.clone()
        };
        let config = ImageConfig {
            os: p.os.clone(),
            architecture: p.architecture.clone(),
            variant: p.variant.clone(),
            ..busybox_config()
        };
        let digest = oci::Digest::sha256(format!("{reference} {p}").as_bytes());
        Ok(ResolvedImage {
            name: format!("docker.io/library/{reference}:latest"),
            manifest_digest: digest.to_string(),
            config,
        })
    }
}

fn p(s: &str) -> Platform {
    Platform::parse(s).unwrap()
}

fn lower_for(df: &str, platforms: &[&str]) -> (Vec<BuildPlan>, PerPlatform) {
    let r = PerPlatform::default();
    let ps: Vec<Platform> = platforms.iter().map(|s| p(s)).collect();
    let plans = lower_platforms(df, &opts(), &ps, &r).unwrap_or_else(|e| panic!("{e}"));
    (plans, r)
}

/// The exec vertices running `cmd`, with their platforms.
fn runs_of(plan: &BuildPlan, cmd: &str) -> Vec<(kiln_solver::VertexId, Option<Platform>)> {
    execs(plan)
        .into_iter()
        .filter(|(_, e)| e.meta.args.last().map(String::as_str) == Some(cmd))
        .map(|(v, e)| (v, e.platform.map(|p| *p)))
        .collect()
}

fn sources(plan: &BuildPlan, prefix: &str) -> Vec<SourceOp> {
    plan.graph
        .dag()
        .node_weights()
        .filter_map(|v| match &v.op {
            Op::Source(s) if s.identifier.starts_with(prefix) => Some(s.clone()),
            _ => None,
        })
        .collect()
}

const CROSS: &str = "\
FROM --platform=$BUILDPLATFORM busybox AS build
COPY . /src
RUN make
FROM busybox
COPY --from=build /out /
RUN uname -m
";

#[test]
fn one_graph_for_every_platform_with_platform_independent_work_once() {
    let (plans, r) = lower_for(CROSS, &["linux/amd64", "linux/arm64"]);
    assert_eq!(plans.len(), 2);
    let g = &plans[0];
    // The very same graph in both plans, each result a vertex of it.
    assert_eq!(g.graph.len(), plans[1].graph.len());
    assert_ne!(plans[0].result, plans[1].result);
    // Context loaded once, the build-platform stage (its COPY and RUN) once, on amd64.
    assert_eq!(sources(g, "local://").len(), 1);
    let make = runs_of(g, "make");
    assert_eq!(make, vec![(make[0].0, Some(p("linux/amd64")))], "{make:?}");
    // The target stage once per platform, each RUN carrying its platform.
    let mut uname: Vec<String> = runs_of(g, "uname -m")
        .into_iter()
        .map(|(_, pl)| pl.unwrap().to_string())
        .collect();
    uname.sort();
    assert_eq!(uname, ["linux/amd64", "linux/arm64"]);
    // A base image per platform: busybox for amd64 (both stages share it) and for arm64.
    let mut images: Vec<String> = sources(g, "docker-image://")
        .into_iter()
        .map(|s| s.attrs["platform"].clone())
        .collect();
    images.sort();
    assert_eq!(images, ["linux/amd64", "linux/arm64"]);
    assert!(r
        .calls
        .borrow()
        .contains(&("busybox".into(), "linux/arm64".into())));
    // The images' configs say their platforms.
    assert_eq!(plans[0].config.architecture, "amd64");
    assert_eq!(plans[1].config.architecture, "arm64");
    // Step names say the platform of their stage, as BuildKit's do.
    let names: Vec<String> = g
        .graph
        .dag()
        .node_weights()
        .map(|v| v.meta.name.clone())
        .collect();
    assert!(
        names.contains(&"[linux/arm64 stage-1 3/3] RUN uname -m".to_string()),
        "{names:?}"
    );
    assert!(
        names.contains(&"[linux/amd64 build 3/3] RUN make".to_string()),
        "{names:?}"
    );
}

#[test]
fn a_build_stage_that_reads_targetarch_runs_once_per_target() {
    let df = "FROM --platform=$BUILDPLATFORM busybox AS build\nARG TARGETARCH\nRUN make ARCH=$TARGETARCH\nFROM scratch\nCOPY --from=build /out /\n";
    let (plans, _) = lower_for(df, &["linux/amd64", "linux/arm64", "linux/arm/v7"]);
    let g = &plans[0];
    let mut envs: Vec<(String, String)> = execs(g)
        .into_iter()
        .map(|(_, e)| {
            let arch = e
                .meta
                .env
                .iter()
                .find_map(|kv| kv.strip_prefix("TARGETARCH="))
                .unwrap()
                .to_string();
            (arch, e.platform.unwrap().to_string())
        })
        .collect();
    envs.sort();
    // Three cross-compiles, all on the build platform.
    assert_eq!(
        envs,
        [
            ("amd64".into(), "linux/amd64".into()),
            ("arm".into(), "linux/amd64".into()),
            ("arm64".into(), "linux/amd64".into())
        ]
    );
    let arches: Vec<(String, Option<String>)> = plans
        .iter()
        .map(|p| (p.config.architecture.clone(), p.config.variant.clone()))
        .collect();
    assert_eq!(
        arches,
        [
            ("amd64".into(), None),
            ("arm64".into(), None),
            ("arm".into(), Some("v7".into()))
        ]
    );
}

#[test]
fn predefined_platform_args_per_platform() {
    let df = "FROM busybox\nARG TARGETPLATFORM TARGETOS TARGETARCH TARGETVARIANT BUILDPLATFORM BUILDOS BUILDARCH BUILDVARIANT\nRUN env\n";
    let (plans, _) = lower_for(df, &["linux/arm/v7", "linux/arm64"]);
    // Each plan's result is its platform's RUN, with that platform's values.
    let run_of = |plan: &BuildPlan| match &plan.graph.vertex(plan.result).op {
        Op::Exec(e) => e.clone(),
        other => panic!("{other:?}"),
    };
    let env = |plan: &BuildPlan| -> Vec<String> {
        let mut e: Vec<String> = run_of(plan)
            .meta
            .env
            .into_iter()
            .filter(|kv| kv.starts_with("TARGET") || kv.starts_with("BUILD"))
            .collect();
        e.sort();
        e
    };
    assert_eq!(
        run_of(&plans[0]).platform.unwrap().to_string(),
        "linux/arm/v7"
    );
    assert_eq!(
        run_of(&plans[1]).platform.unwrap().to_string(),
        "linux/arm64"
    );
    let build = [
        "BUILDARCH=amd64",
        "BUILDOS=linux",
        "BUILDPLATFORM=linux/amd64",
        "BUILDVARIANT=",
    ];
    let mut want: Vec<String> = build.iter().map(|s| s.to_string()).collect();
    want.extend(
        [
            "TARGETARCH=arm",
            "TARGETOS=linux",
            "TARGETPLATFORM=linux/arm/v7",
            "TARGETVARIANT=v7",
        ]
        .map(String::from),
    );
    assert_eq!(env(&plans[0]), want);
    let mut want: Vec<String> = build.iter().map(|s| s.to_string()).collect();
    want.extend(
        [
            "TARGETARCH=arm64",
            "TARGETOS=linux",
            "TARGETPLATFORM=linux/arm64",
            "TARGETVARIANT=",
        ]
        .map(String::from),
    );
    assert_eq!(env(&plans[1]), want);
}

#[test]
fn one_platform_foreign_to_this_machine_is_lowered_with_its_platform() {
    let arm = BuildOptions {
        target_platform: p("linux/arm64"),
        ..opts()
    };
    let plan =
        kiln_frontend::lower::lower("FROM busybox\nRUN true\n", &arm, &PerPlatform::default())
            .unwrap();
    let runs = runs_of(&plan, "true");
    assert_eq!(runs[0].1, Some(p("linux/arm64")));
    // Names carry no platform for a single-platform build.
    assert_eq!(plan.graph.vertex(runs[0].0).meta.name, "[2/2] RUN true");
    // FROM --platform on a stage wins, normalised (arm64/v8 is arm64).
    let plan = kiln_frontend::lower::lower(
        "FROM --platform=linux/arm64/v8 busybox\nRUN true\n",
        &opts(),
        &PerPlatform::default(),
    )
    .unwrap();
    assert_eq!(runs_of(&plan, "true")[0].1, Some(p("linux/arm64")));
}

#[test]
fn a_base_image_for_another_platform_is_reported_as_buildkit_does() {
    let (plans, _) = lower_for(
        "FROM amd64only\nRUN true\n",
        &["linux/amd64", "linux/arm64"],
    );
    let w: Vec<(String, String)> = plans
        .iter()
        .flat_map(|p| p.warnings.iter())
        .map(|w| (w.rule.clone(), w.message.clone()))
        .collect();
    assert_eq!(
        w,
        [(
            "InvalidBaseImagePlatform".to_string(),
            "Base image docker.io/library/amd64only:latest was pulled with platform \"linux/amd64\", expected \"linux/arm64\" for current build".to_string()
        )]
    );
}
