//! How [`KilnWorker`] runs a `File` op (COPY, ADD, mkdir, …, incremental COPY included) and a
//! `Merge` (COPY --link layers rebased on their parent).

use super::*;

impl KilnWorker {
    pub(super) fn file(
        &self,
        ctx: &ExecContext<'_>,
        op: &FileOp,
        inputs: &[Ref],
    ) -> std::result::Result<Ref, WorkerError> {
        let start = Instant::now();
        let parent = Self::parent_snapshot(inputs.first())?;
        let shape = match (self.kiln.snapshots.mode(), &self.context) {
            // Only overlay layers hold nothing but their own files, safe to share.
            (Mode::Overlay, Some(c)) => {
                let input = inputs.iter().position(|r| matches!(r, Ref::Context(_)));
                crate::copy_reuse::shape(&self.kiln, op, input, c.root(), parent.as_ref())
            }
            _ => None,
        };
        let Some(shape) = shape else {
            return self
                .file_with(op, inputs, parent.as_ref(), None)
                .map(|(r, _)| r);
        };
        let earlier = shape.earlier(&self.kiln);
        let tried = earlier.is_some();
        match self.file_with(op, inputs, parent.as_ref(), Some((&shape, earlier))) {
            Ok((r, stats)) => {
                if tried {
                    ctx.progress.event(Event::Log {
                        vertex: ctx.vertex_index,
                        stream: 1,
                        data: format!(
                            "{} unchanged files reused from the previous build of this step, {} copied\n",
                            stats.reused, stats.copied
                        ),
                        elapsed: start.elapsed(),
                    });
                }
                Ok(r)
            }
            Err(e) if tried => {
                // The earlier result did not give what its record promised: copy in full.
                log::warn!("incremental COPY failed, copying everything: {}", e.message);
                shape.forget();
                self.file_with(op, inputs, parent.as_ref(), Some((&shape, None)))
                    .map(|(r, _)| r)
            }
            Err(e) => Err(e),
        }
    }

    /// Apply `op` on a new snapshot over `parent`; with a shape, reusing the files of its earlier
    /// result (if any) and remembering this one.
    fn file_with(
        &self,
        op: &FileOp,
        inputs: &[Ref],
        parent: Option<&SnapshotId>,
        reuse: Option<(
            &crate::copy_reuse::Shape,
            Option<crate::copy_reuse::Earlier>,
        )>,
    ) -> std::result::Result<(Ref, crate::fileop::ReuseStats), WorkerError> {
        let (shape, earlier) = match reuse {
            Some((s, e)) => (Some(s), e),
            None => (None, None),
        };
        let earlier_dir = match &earlier {
            Some((id, _)) => Some(
                self.kiln
                    .snapshots
                    .lowers(id)
                    .map_err(werr)?
                    .into_iter()
                    .next()
                    .ok_or_else(|| WorkerError::new("earlier COPY result has no layer"))?,
            ),
            None => None,
        };
        let reuse = match shape {
            Some(_) => Some(
                crate::fileop::Reuse::new(
                    earlier_dir.as_deref().zip(earlier.map(|(_, files)| files)),
                )
                .map_err(werr)?,
            ),
            None => None,
        };
        let reuse = Mutex::new(reuse);
        let active = self.kiln.snapshots.prepare(parent).map_err(werr)?;
        let snapshots = self.kiln.snapshots.clone();
        let result = snapshots
            .with_active_mounted(&active, |dest| {
                with_sources(&snapshots, inputs, 1, Vec::new(), &|sources| {
                    let mut guard = reuse.lock().unwrap_or_else(|p| p.into_inner());
                    crate::fileop::apply_actions_reusing(
                        dest,
                        sources,
                        &op.actions,
                        &crate::fileop::FileOpOptions::default(),
                        guard.as_mut(),
                    )
                    .map_err(|e| WorkerError::new(e.to_string()))
                })
            })
            .map_err(werr)
            .and_then(|r| r);
        let mut reuse = reuse.into_inner().unwrap_or_else(|p| p.into_inner());
        // Placeholders get their content once nothing is mounted over the layer any more.
        let result = result.and_then(|()| match &mut reuse {
            Some(r) => r.finish(&active.upper).map_err(werr),
            None => Ok(Default::default()),
        });
        match result {
            Ok(stats) => {
                let id = self.kiln.snapshots.commit(active).map_err(werr)?;
                if let (Some(shape), Some(r)) = (shape, &reuse) {
                    shape.remember(&id, r.manifest());
                }
                Ok((Ref::Snapshot(id), stats))
            }
            Err(e) => {
                let _ = self.kiln.snapshots.abort(active);
                Err(e)
            }
        }
    }

    /// `Merge`: the first input, with the layers of the others rebased on top of it.
    pub(super) fn merge(&self, inputs: &[Ref]) -> std::result::Result<Ref, WorkerError> {
        let mut acc = Self::parent_snapshot(inputs.first())?;
        for input in &inputs[1..] {
            let Ref::Snapshot(top) = input else { continue };
            for layer in self.kiln.snapshots.chain(top).map_err(werr)? {
                let (reader, mut writer) =
                    std::io::pipe().map_err(|e| WorkerError::new(e.to_string()))?;
                let snaps = self.kiln.snapshots.clone();
                let l = layer.clone();
                let t = std::thread::spawn(move || snaps.write_diff(&l, &mut writer, None));
                let mut reader = reader;
                let applied = self.kiln.snapshots.apply_layer(acc.as_ref(), &mut reader);
                drop(reader);
                let written = t
                    .join()
                    .map_err(|_| WorkerError::new("layer writer panicked"))?;
                let (id, _) = applied.map_err(werr)?;
                written.map_err(werr)?;
                acc = Some(id);
            }
        }
        Ok(acc.map(Ref::Snapshot).unwrap_or(Ref::Scratch))
    }
}

/// Mount every snapshot input from `next` on (each in its own nested mount namespace), then
/// call `f` with the source roots in input order (index 0 of `f`'s slice is input 1).
fn with_sources(
    snapshots: &kiln_snapshot::Snapshotter,
    inputs: &[Ref],
    next: usize,
    mut acc: Vec<crate::fileop::SourceRoot>,
    f: &(dyn Fn(&[crate::fileop::SourceRoot]) -> std::result::Result<(), WorkerError> + Sync),
) -> std::result::Result<(), WorkerError> {
    if next >= inputs.len() {
        return f(&acc);
    }
    match &inputs[next] {
        Ref::Context(c) => {
            acc.push(c.source_root());
            with_sources(snapshots, inputs, next + 1, acc, f)
        }
        Ref::Scratch => {
            let empty = tempfile::tempdir().map_err(|e| WorkerError::new(e.to_string()))?;
            acc.push(crate::fileop::SourceRoot::new(empty.path().to_path_buf()));
            with_sources(snapshots, inputs, next + 1, acc, f)
        }
        Ref::Snapshot(s) => snapshots
            .with_mounted(Some(s), |path| {
                let mut acc = acc;
                acc.push(crate::fileop::SourceRoot::new(path.to_path_buf()));
                with_sources(snapshots, inputs, next + 1, acc, f)
            })
            .map_err(werr)
            .and_then(|r| r),
    }
}
