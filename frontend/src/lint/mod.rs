//! Build checks: docker's Dockerfile lint rules (`docker build --check`), run on the file
//! without building anything.
//!
//! [`check`] reports every stage and never resolves images (a stage on an image whose `Env` is
//! unknown gets no `UndefinedVar` findings); [`check_with`] can look base images up and limit
//! itself to the stages a build of the target reaches, as a build does. Options come from the
//! `# check=skip=…;error=…;experimental=…` directive, replaced by the
//! `BUILDKIT_DOCKERFILE_CHECK` build arg; a `# check=skip=…` comment right above an
//! instruction skips rules for that instruction only. [`check_until_error`] keeps the findings
//! made before an invalid instruction, for `docker build --check`-like output. CopyIgnoredFile
//! needs the context's `.dockerignore`, which the builder hands over in
//! [`BuildOptions::dockerignore`].

mod config;
mod excerpt;
mod file_rules;
mod from_rules;
mod global;
mod ignore_rules;
pub mod reference;
mod resolve;
pub mod rules;
mod stage_rules;
mod syntax;

pub use config::{CheckConfig, CHECK_BUILD_ARG};
pub use excerpt::{source_excerpt, EXCERPT_CONTEXT};
pub use resolve::{CachedOnly, MemoResolver};
pub use rules::Rule;
pub use syntax::{check_syntax, is_builtin_frontend};

use crate::ast::{Dockerfile, Node};
use crate::image::{ImageConfig, Platform};
use crate::instructions::FrontendError;
use crate::lower::{BuildOptions, ImageResolver, Warning};
use crate::stages::StageModel;
use stage_rules::Scope;

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LintWarning {
    /// Rule name, e.g. `FromAsCasing`.
    pub rule: String,
    /// The rule's description.
    pub description: String,
    /// The rule's docs page.
    pub url: String,
    /// What is wrong here, e.g. `'as' and 'FROM' keywords' casing do not match`.
    pub message: String,
    /// The Dockerfile's name.
    pub file: String,
    /// 1-based lines (inclusive) of the offending instruction.
    pub start_line: usize,
    pub end_line: usize,
}

/// What the checks found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LintReport {
    /// Findings, by line.
    pub warnings: Vec<LintWarning>,
    /// `check=error=true` is in force and there are findings: the build must fail.
    pub error: bool,
}

impl LintReport {
    /// BuildKit's error for a failing check: `lint violation found for rules: A, B`.
    pub fn error_message(&self) -> Option<String> {
        if !self.error {
            return None;
        }
        let mut rules: Vec<&str> = Vec::new();
        for w in &self.warnings {
            if !rules.contains(&w.rule.as_str()) {
                rules.push(&w.rule);
            }
        }
        Some(format!(
            "lint violation found for rules: {}",
            rules.join(", ")
        ))
    }
}

/// How [`check_with`] runs.
#[derive(Clone, Copy, Default)]
pub struct LintOptions<'a> {
    /// Looks base images up (for their `Env` and `Shell`); `None`: never.
    pub resolver: Option<&'a dyn ImageResolver>,
    /// Check every stage (`docker build --check`), not only those the target needs.
    pub all_stages: bool,
}

/// Runs docker's checks on a Dockerfile: every stage, no image resolution.
///
/// Errors: the file does not parse, an instruction is invalid, there is no stage, the
/// `check` options are invalid, or `# syntax=` names another frontend.
pub fn check(text: &str, opts: &BuildOptions) -> Result<LintReport, FrontendError> {
    check_with(
        text,
        opts,
        LintOptions {
            resolver: None,
            all_stages: true,
        },
    )
}

/// Runs docker's checks with the given options (see [`LintOptions`]).
pub fn check_with(
    text: &str,
    opts: &BuildOptions,
    lint: LintOptions,
) -> Result<LintReport, FrontendError> {
    match check_until_error(text, opts, lint) {
        (report, None) => Ok(report),
        (_, Some(e)) => Err(e),
    }
}

/// Like [`check_with`], but an invalid file does not hide what was found before the error,
/// as `docker build --check` shows: the findings on the instructions before the first
/// invalid one (rules that need the whole file are skipped), and the error.
pub fn check_until_error(
    text: &str,
    opts: &BuildOptions,
    lint: LintOptions,
) -> (LintReport, Option<FrontendError>) {
    let file = &opts.dockerfile_name;
    let df = match crate::parser::parse(text, file) {
        Ok(df) => df,
        Err(e) => {
            let e = FrontendError::new(&e.file, e.line, e.column, e.message).with_source(text);
            return (LintReport::default(), Some(e));
        }
    };
    let (model, broken) = StageModel::build(&df, file);
    match run_checks(text, &df, &model, broken.is_some(), opts, lint) {
        Ok(report) => (report, broken.map(|e| e.with_source(text))),
        Err(e) => (LintReport::default(), Some(e.with_source(text))),
    }
}

/// The checks of a build, on the stage model lowering used: stages the target reaches,
/// images as lowering resolved them (`memo` shared with lowering). Returns the warnings for
/// the build plan, or the build's error when `check=error=true` and there are findings.
pub(crate) fn warnings_for_build(
    text: &str,
    df: &Dockerfile,
    model: &StageModel,
    opts: &BuildOptions,
    memo: &MemoResolver,
) -> Result<Vec<Warning>, FrontendError> {
    let cached = memo.cached();
    let lint = LintOptions {
        resolver: Some(&cached),
        all_stages: false,
    };
    let report = run_checks(text, df, model, false, opts, lint).map_err(|e| e.with_source(text))?;
    if let Some(msg) = report.error_message() {
        let line = report.warnings.first().map_or(0, |w| w.start_line);
        return Err(FrontendError::new(&opts.dockerfile_name, line, 1, msg).with_source(text));
    }
    Ok(report
        .warnings
        .into_iter()
        .map(|w| Warning {
            rule: w.rule,
            message: w.message,
            file: w.file,
            line: w.start_line,
        })
        .collect())
}

/// The checks on a parsed file and its stage model; `broken`: the model stops at an invalid
/// instruction (rules that need the whole file are skipped). `Err` when they cannot run at
/// all (options, syntax).
fn run_checks(
    text: &str,
    df: &Dockerfile,
    model: &StageModel,
    broken: bool,
    opts: &BuildOptions,
    lint: LintOptions,
) -> Result<LintReport, FrontendError> {
    let file = &opts.dockerfile_name;
    check_syntax(df, file)?;
    let config =
        config::effective(df, &opts.build_args).map_err(|e| FrontendError::general(file, e))?;
    let mut sink = Sink::default();
    file_rules::empty_continuations(df, &mut sink);
    from_rules::stage_names(model, broken, &mut sink);
    file_rules::instruction_forms(model, &mut sink);
    if !broken {
        file_rules::instruction_casing(model, &mut sink);
        file_rules::definition_descriptions(text, df, model, &mut sink);
        if let Some(defaults) = global::global_scope(model, opts, false) {
            from_rules::default_args(model, &defaults, &mut sink);
        }
        if let Some(global) = global::global_scope(model, opts, true) {
            from_rules::from_args(model, &global, &mut sink);
            stages(model, &global, opts, lint, &mut sink);
        }
    }

    let skips = config::local_skips(text, df);
    let mut warnings: Vec<LintWarning> = sink
        .found
        .into_iter()
        .filter(|f| config.enabled(&f.rule))
        .filter(|f| {
            skips
                .get(&f.start_line)
                .is_none_or(|s| !s.contains("all") && !s.contains(f.rule.name))
        })
        .map(|f| LintWarning {
            rule: f.rule.name.to_string(),
            description: f.rule.description.to_string(),
            url: f.rule.url(),
            message: f.message,
            file: file.clone(),
            start_line: f.start_line,
            end_line: f.end_line,
        })
        .collect();
    warnings.sort_by_key(|w| w.start_line);
    let error = config.error && !warnings.is_empty();
    Ok(LintReport { warnings, error })
}

/// The stage rules, stage by stage in file order (a parent stage comes before its children).
fn stages(
    model: &StageModel,
    global: &global::GlobalScope,
    opts: &BuildOptions,
    lint: LintOptions,
    sink: &mut Sink,
) {
    let expand = |w: &str| model.lexer.process_word(w, &global.env).ok();
    let bases: Vec<String> = model
        .stages
        .iter()
        .map(|s| expand(&s.base).unwrap_or_else(|| s.base.clone()))
        .collect();
    let reachable = if lint.all_stages {
        vec![true; model.stages.len()]
    } else {
        model.reachable(opts.target.as_deref(), &bases)
    };
    let mut scopes: Vec<Option<Scope>> = vec![None; model.stages.len()];
    for (i, st) in model.stages.iter().enumerate() {
        if !reachable[i] {
            continue;
        }
        let mut scope = match model.base_stage(i, &bases[i]) {
            Some(j) => scopes[j].clone().unwrap_or_else(|| Scope::from_image(None)),
            None if bases[i].eq_ignore_ascii_case("scratch") => {
                Scope::from_image(Some(&ImageConfig::default()))
            }
            None => {
                let platform = st
                    .platform
                    .as_deref()
                    .and_then(expand)
                    .and_then(|p| Platform::parse(&p).ok())
                    .unwrap_or_else(|| opts.target_platform.clone());
                let resolved = lint
                    .resolver
                    .and_then(|r| r.resolve(&bases[i], &platform).ok());
                if let Some(r) = &resolved {
                    base_platform(r, &platform, st.from.node, sink);
                }
                Scope::from_image(resolved.as_ref().map(|r| &r.config))
            }
        };
        stage_rules::lint_stage(model, i, &mut scope, global, opts, sink);
        scopes[i] = Some(scope);
    }
}

/// InvalidBaseImagePlatform: the image found for a stage is for another platform than the
/// stage's (a registry served a single-platform image of another architecture).
fn base_platform(r: &crate::lower::ResolvedImage, want: &Platform, from: &Node, sink: &mut Sink) {
    let c = &r.config;
    if c.os.is_empty() || c.architecture.is_empty() {
        return;
    }
    let have = Platform::new(&c.os, &c.architecture, c.variant.as_deref());
    if !have.satisfies(want) {
        sink.warn_at(
            &rules::INVALID_BASE_IMAGE_PLATFORM,
            format!(
                "Base image {} was pulled with platform {:?}, expected {:?} for current build",
                r.name,
                have.to_string(),
                want.to_string()
            ),
            from,
        );
    }
}

/// A finding before the options filter it.
struct Found {
    rule: Rule,
    message: String,
    start_line: usize,
    end_line: usize,
}

/// Collects findings.
#[derive(Default)]
pub(crate) struct Sink {
    found: Vec<Found>,
}

impl Sink {
    /// A finding on lines `start..=end`.
    pub fn warn(&mut self, rule: &Rule, message: String, start: usize, end: usize) {
        self.found.push(Found {
            rule: *rule,
            message,
            start_line: start,
            end_line: end,
        });
    }

    /// A finding on an instruction.
    pub fn warn_at(&mut self, rule: &Rule, message: String, node: &Node) {
        self.warn(rule, message, node.start_line, node.end_line);
    }

    /// Like [`Sink::warn_at`], unless the same finding is already there.
    pub fn warn_once(&mut self, rule: &Rule, message: String, node: &Node) {
        let dup = self.found.iter().any(|f| {
            f.rule.name == rule.name && f.start_line == node.start_line && f.message == message
        });
        if !dup {
            self.warn_at(rule, message, node);
        }
    }
}
