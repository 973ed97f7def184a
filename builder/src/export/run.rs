//! Running a build's exporters, each as a step of the build's progress: the store's first
//! (`exporting to image`, which commits the image), then the others in the order asked, a push
//! last.

use std::time::Instant;

use kiln_frontend::lower::BuildPlan;
use kiln_snapshot::SnapshotId;
use kiln_solver::{Event, ProgressSink};
use oci::Platform;

use super::{BuiltImage, ExportContext, ExportInput, Exporter, Metadata, PushLines};
use crate::error::Result;
use crate::multiplatform::commit_all;
use crate::root::Kiln;
use crate::store::Reference;

/// What a build's exporters need besides the solved result.
pub struct ExportPlan<'a> {
    pub exporters: &'a [Box<dyn Exporter>],
    pub names: &'a [Reference],
    pub epoch: Option<i64>,
    pub push_lines: &'a dyn PushLines,
}

/// What a build made: its images (one per platform), the index over several, and what the
/// exporters said (later exporters' keys win: a push's digest is the one that names the image
/// remotely).
pub struct Exported {
    pub images: Vec<BuiltImage>,
    pub index: Option<String>,
    pub metadata: Metadata,
}

/// Commit the results `tops` of `builds` (one per platform of `platforms`) to the store, with
/// an index over several, and run every exporter, numbering their progress steps from
/// `vertex`.
pub fn export_build(
    kiln: &Kiln,
    builds: &[BuildPlan],
    platforms: &[Platform],
    tops: &[Option<SnapshotId>],
    plan: &ExportPlan,
    progress: &dyn ProgressSink,
    vertex: usize,
) -> Result<Exported> {
    let mut metadata = Metadata::new();
    let mut built: Option<(Vec<BuiltImage>, Option<String>)> = None;
    for (i, exporter) in plan.exporters.iter().enumerate() {
        let vertex = vertex + i;
        let start = Instant::now();
        progress.event(Event::Started {
            vertex,
            name: exporter.step_name(),
        });
        let log = |line: &str| {
            progress.event(Event::Log {
                vertex,
                stream: 1,
                data: format!("{line}\n"),
                elapsed: start.elapsed(),
            })
        };
        let res = (|| -> Result<Metadata> {
            if built.is_none() {
                let all = commit_all(kiln, builds, platforms, tops, plan.epoch)?;
                built = Some(all);
            }
            let (images, index) = built.as_ref().expect("committed above");
            let cx = ExportContext {
                kiln,
                log: &log,
                push_lines: plan.push_lines,
            };
            let input = ExportInput {
                images,
                index: index.as_deref(),
                names: plan.names,
                epoch: plan.epoch,
            };
            Ok(exporter.export(&cx, &input)?)
        })();
        match res {
            Ok(m) => {
                metadata.extend(m);
                progress.event(Event::Done {
                    vertex,
                    elapsed: start.elapsed(),
                });
            }
            Err(e) => {
                progress.event(Event::Error {
                    vertex,
                    message: e.message.clone(),
                    elapsed: start.elapsed(),
                });
                return Err(e);
            }
        }
    }
    let (images, index) =
        built.ok_or_else(|| crate::Error::new("internal error: no exporter ran"))?;
    Ok(Exported {
        images,
        index,
        metadata,
    })
}
