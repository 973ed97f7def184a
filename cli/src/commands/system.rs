//! `kiln prune` and `kiln system df`.

use crate::format::human_size;
use anyhow::{anyhow, bail};
use kiln_builder::solver::PruneFilter;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Args)]
pub struct PruneArgs {
    /// Remove all build cache, including the unpacked layers of images (unpacked again when needed)
    #[arg(short, long)]
    all: bool,
    /// Provide filter values (until=DURATION, e.g. until=24h)
    #[arg(long)]
    filter: Vec<String>,
    /// Amount of disk space to keep for cache (e.g. 512MB, 2GB)
    #[arg(long)]
    keep_storage: Option<String>,
    /// Do not prompt for confirmation (kiln never prompts)
    #[arg(short, long)]
    force: bool,
}

#[derive(clap::Subcommand)]
pub enum SystemCommand {
    /// Show kiln disk usage
    Df,
    /// Verify every blob and every reference of the store
    Check(CheckArgs),
}

#[derive(clap::Args)]
pub struct CheckArgs {
    /// Remove what is broken: corrupt blobs, broken images, dangling records
    #[arg(long)]
    repair: bool,
}

/// `24h`, `30m`, `90s`, `1h30m`.
pub fn parse_duration(s: &str) -> anyhow::Result<Duration> {
    let mut total = 0u64;
    let mut num = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: u64 = num.parse().map_err(|_| anyhow!("invalid duration {s:?}"))?;
        num.clear();
        total += n * match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            _ => bail!("invalid duration {s:?}: unknown unit {c:?}"),
        };
    }
    if !num.is_empty() {
        bail!("invalid duration {s:?}: missing unit (s, m, h)");
    }
    Ok(Duration::from_secs(total))
}

/// `512MB`, `2GB`, `100kB`, `1000`.
pub fn parse_size(s: &str) -> anyhow::Result<u64> {
    let t = s.trim();
    let idx = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (n, unit) = t.split_at(idx);
    let n: f64 = n.parse().map_err(|_| anyhow!("invalid size {s:?}"))?;
    let mult = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        "t" | "tb" => 1e12,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        other => bail!("invalid size {s:?}: unknown unit {other:?}"),
    };
    Ok((n * mult) as u64)
}

pub fn prune(root: &Path, a: PruneArgs) -> anyhow::Result<ExitCode> {
    let mut filter = PruneFilter {
        all: a.all,
        until: None,
        keep_storage: None,
    };
    for f in &a.filter {
        match f.split_once('=') {
            Some(("until", v)) => filter.until = Some(parse_duration(v)?),
            _ => bail!("invalid filter {f:?}: kiln supports until=DURATION"),
        }
    }
    if let Some(k) = &a.keep_storage {
        filter.keep_storage = Some(parse_size(k)?);
    }
    if filter.until.is_none() && filter.keep_storage.is_none() {
        // docker builder prune without filters removes everything unused.
        filter.all = true;
    }
    let kiln = super::open(root)?;
    let report = kiln_builder::prune::prune(&kiln, &filter, a.all)?;
    let _ = a.force;
    println!(
        "Deleted build cache objects: {} records, {} snapshots, {} blobs",
        report.records,
        report.snapshots,
        report.blobs + report.partials
    );
    println!("Total reclaimed space: {}", human_size(report.reclaimed));
    Ok(ExitCode::SUCCESS)
}

pub fn system(root: &Path, c: SystemCommand) -> anyhow::Result<ExitCode> {
    let kiln = super::open(root)?;
    match c {
        SystemCommand::Df => {
            println!(
                "{:<16}{:<10}{:<10}{:<12}RECLAIMABLE",
                "TYPE", "TOTAL", "ACTIVE", "SIZE"
            );
            for r in kiln_builder::prune::disk_usage(&kiln)? {
                println!(
                    "{:<16}{:<10}{:<10}{:<12}{}",
                    r.kind,
                    r.total,
                    r.active,
                    human_size(r.size),
                    human_size(r.reclaimable)
                );
            }
        }
        SystemCommand::Check(a) => return check(&kiln, a.repair),
    }
    Ok(ExitCode::SUCCESS)
}

fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `kiln system check [--repair]`: one line per problem, a summary, exit 1 while any remains.
fn check(kiln: &kiln_builder::Kiln, repair: bool) -> anyhow::Result<ExitCode> {
    let r = kiln_builder::check::check(kiln, repair)?;
    let c = &r.checked;
    if !r.collected.dead.is_empty() {
        println!(
            "Removed what {} left: {}, {} ({})",
            count(
                r.collected.dead.len(),
                "dead kiln process",
                "dead kiln processes"
            ),
            count(r.collected.partials, "partial blob", "partial blobs"),
            count(
                r.collected.snapshots,
                "uncommitted snapshot",
                "uncommitted snapshots"
            ),
            human_size(r.collected.bytes)
        );
    }
    println!(
        "Checked {} blobs, {} images, {} cache records, {} snapshots, {} base layers, {} containers",
        c.blobs, c.images, c.records, c.snapshots, c.chains, c.containers
    );
    for p in &r.problems {
        // Problems quote what the store holds (step names from Dockerfiles, tags).
        let message = crate::diag::escape(&p.message);
        match &p.repaired {
            Some(done) => println!("{message} ({done})"),
            None => println!("{message}"),
        }
    }
    let remaining = r.remaining();
    let found = r.problems.len();
    let problems = if found == 1 { "problem" } else { "problems" };
    if found == 0 {
        println!("No problems found");
    } else if repair {
        println!("{found} {problems} found, {} repaired", found - remaining);
    } else {
        println!("{found} {problems} found; `kiln system check --repair` repairs them");
    }
    Ok(if remaining > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_sizes() {
        assert_eq!(parse_duration("24h").unwrap(), Duration::from_secs(86400));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("5x").is_err());
        assert_eq!(parse_size("512MB").unwrap(), 512_000_000);
        assert_eq!(parse_size("1GiB").unwrap(), 1 << 30);
        assert!(parse_size("lots").is_err());
    }
}
