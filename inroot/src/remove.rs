//! Removing a whole tree without following symlinks, in time linear in its size and with a
//! constant number of open descriptors, however deep it is.

use crate::dir::Dir;
use crate::error::Result;
use std::ffi::{OsStr, OsString};

/// One directory being emptied: the name it has in its parent, its identity (to check the
/// climb back up), and the names still to remove.
struct Frame {
    name: OsString,
    parent_id: (u64, u64),
    left: Vec<OsString>,
}

pub(crate) fn remove_all(dir: &Dir, name: &OsStr) -> Result<bool> {
    let Some(meta) = dir.stat(name)? else {
        return Ok(false);
    };
    if !meta.is_dir() {
        dir.unlink(name)?;
        return Ok(true);
    }
    dir.bump();
    let top_parent = dir
        .stat(OsStr::new(""))?
        .map(|m| m.id())
        .unwrap_or_default();
    let mut cur = dir.open_dir(name)?;
    let mut stack = vec![Frame {
        name: name.to_os_string(),
        parent_id: top_parent,
        left: cur.read_dir()?,
    }];
    while let Some(frame) = stack.last_mut() {
        if let Some(child) = frame.left.pop() {
            match cur.stat(&child)? {
                Some(m) if m.is_dir() => {
                    let here = cur
                        .stat(OsStr::new(""))?
                        .map(|m| m.id())
                        .unwrap_or_default();
                    let sub = cur.open_dir(&child)?;
                    let left = sub.read_dir()?;
                    stack.push(Frame {
                        name: child,
                        parent_id: here,
                        left,
                    });
                    cur = sub;
                }
                Some(_) => cur.unlink(&child)?,
                None => {}
            }
            continue;
        }
        // Emptied: climb back to the parent and remove this directory from it.
        let done = stack.pop().unwrap_or_else(|| unreachable!());
        if stack.is_empty() {
            break;
        }
        let parent = cur.open_parent_checked(done.parent_id)?;
        parent.rmdir(&done.name)?;
        cur = parent;
    }
    // `cur` is the top directory again (or was never left); its parent is `dir`.
    drop(cur);
    dir.rmdir(name)?;
    Ok(true)
}
