//! `kiln ps` and `kiln rm`.

use crate::format::{ellipsis, go_time, human_duration, seconds_since, ListFormat};
use kiln_builder::run::{
    list_containers, remove_container_forced, ContainerError, ContainerRecord,
};
use serde_json::{json, Value};
use std::path::Path;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    all: bool,
    /// Only display container IDs
    #[arg(short, long)]
    quiet: bool,
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
    /// Pretty-print containers using a Go template ("table …", "{{json .}}")
    #[arg(long)]
    format: Option<String>,
}

#[derive(clap::Args)]
pub struct RmArgs {
    /// Force the removal of a running container (kills it)
    #[arg(short, long)]
    force: bool,
    /// Containers to remove (ID prefix or name)
    #[arg(required = true)]
    containers: Vec<String>,
}

/// The column names of `kiln ps` (docker's).
const PS_HEADERS: &[(&str, &str)] = &[
    ("Command", "COMMAND"),
    ("CreatedAt", "CREATED AT"),
    ("ID", "CONTAINER ID"),
    ("Image", "IMAGE"),
    ("Labels", "LABELS"),
    ("LocalVolumes", "LOCAL VOLUMES"),
    ("Mounts", "MOUNTS"),
    ("Names", "NAMES"),
    ("Networks", "NETWORKS"),
    ("Ports", "PORTS"),
    ("RunningFor", "CREATED"),
    ("Size", "SIZE"),
    ("State", "STATE"),
    ("Status", "STATUS"),
];

pub fn ps(root: &Path, a: PsArgs) -> anyhow::Result<ExitCode> {
    let kiln = super::open(root)?;
    let shown: Vec<(ContainerRecord, bool)> = list_containers(&kiln)?
        .into_iter()
        .map(|c| {
            let running = c.is_running(&kiln);
            (c, running)
        })
        .filter(|(_, running)| a.all || *running)
        .collect();
    let id = |c: &ContainerRecord| {
        if a.no_trunc {
            c.id.clone()
        } else {
            c.id.chars().take(12).collect()
        }
    };
    if a.quiet {
        for (c, _) in &shown {
            println!("{}", id(c));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let format = ListFormat::new(
        a.format.as_deref(),
        "table {{.ID}}\\t{{.Image}}\\t{{.Command}}\\t{{.RunningFor}}\\t{{.Status}}\\t{{.Ports}}\\t{{.Names}}",
    )?;
    let rows: Vec<Value> = shown
        .iter()
        .map(|(c, running)| row(&kiln, c, *running, id(c), a.no_trunc))
        .collect();
    print!("{}", format.render(&rows, PS_HEADERS)?);
    Ok(ExitCode::SUCCESS)
}

/// One container as docker's `ps` shows it (`{{json .}}`).
fn row(
    kiln: &kiln_builder::Kiln,
    c: &ContainerRecord,
    running: bool,
    id: String,
    no_trunc: bool,
) -> Value {
    // docker's daemon: the arguments (not the program) that contain a space in single quotes.
    let command = c
        .command
        .iter()
        .enumerate()
        .map(|(i, a)| {
            if i > 0 && a.contains(' ') {
                format!("'{a}'")
            } else {
                a.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ");
    let command = if no_trunc {
        command
    } else {
        ellipsis(&command, 20)
    };
    let ago = |t: &str| seconds_since(t).map(human_duration);
    let (state, status) = match (running, c.exit_code) {
        (true, _) => (
            "running",
            format!("Up {}", ago(&c.created).unwrap_or_default()),
        ),
        (false, Some(code)) => (
            "exited",
            match c.finished.as_deref().and_then(ago) {
                Some(d) => format!("Exited ({code}) {d} ago"),
                None => format!("Exited ({code})"),
            },
        ),
        (false, None) => ("created", "Created".to_string()),
    };
    json!({
        "Command": go_quote(&command),
        "CreatedAt": go_time(Some(&c.created)),
        "ID": id,
        "Image": image_shown(kiln, c),
        "Labels": "",
        "LocalVolumes": "0",
        "Mounts": "",
        "Names": c.name,
        "Networks": "",
        "Ports": "",
        "RunningFor": ago(&c.created).map(|d| format!("{d} ago")).unwrap_or_default(),
        "Size": "0B",
        "State": state,
        "Status": status,
    })
}

/// docker's IMAGE column: the name given to `run` while it still names the container's image,
/// else the image's short ID.
fn image_shown(kiln: &kiln_builder::Kiln, c: &ContainerRecord) -> String {
    let same = kiln
        .images
        .resolve(&c.image)
        .ok()
        .flatten()
        .is_some_and(|r| r.manifest_digest == c.image_manifest);
    if same || c.image_id.is_empty() {
        c.image.clone()
    } else {
        crate::format::short_id(&c.image_id)
    }
}

/// Go's `strconv.Quote`: `"…"` with quotes, backslashes and unprintable characters escaped
/// (so a hostile command line cannot act on the terminal).
fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c == '\x7f' => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

pub fn rm(root: &Path, a: RmArgs) -> anyhow::Result<ExitCode> {
    let kiln = super::open(root)?;
    let mut failed = false;
    for c in &a.containers {
        match remove_container_forced(&kiln, c, a.force) {
            Ok(name) => println!("{name}"),
            // docker 20.10: `rm -f` of a container that does not exist says so and succeeds.
            Err(e @ ContainerError::NoSuch(_)) => {
                crate::diag::line(format_args!("Error: {e}"));
                failed |= !a.force;
            }
            Err(e) => {
                crate::diag::line(format_args!("Error response: {e}"));
                failed = true;
            }
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn quotes_like_go() {
        assert_eq!(super::go_quote("sh -c 'exit 3'"), "\"sh -c 'exit 3'\"");
        assert_eq!(super::go_quote("a\"b\x1b[31m"), "\"a\\\"b\\x1b[31m\"");
    }
}
