//! The builder's collectors and leases: `rmi` and `prune` never delete what a live process
//! holds, and `system df`'s reclaimable space is, to the byte, what `prune` frees.

mod store_support;

use std::fs;
use std::io::Write;
use std::time::{Duration, SystemTime};

use kiln_builder::prune::{disk_usage, prune};
use kiln_builder::Kiln;
use kiln_solver::PruneFilter;
use store_support::import_marker;

fn all() -> PruneFilter {
    PruneFilter {
        all: true,
        ..PruneFilter::default()
    }
}

fn reclaimable(kiln: &Kiln) -> u64 {
    disk_usage(kiln)
        .unwrap()
        .iter()
        .find(|r| r.kind == "Build Cache")
        .unwrap()
        .reclaimable
}

/// Import an image as a command of its own would (its process lease ends with it).
fn import(root: &std::path::Path, marker: &str, name: &str) -> String {
    let kiln = Kiln::open(root).unwrap();
    import_marker(&kiln.images, marker, Some(name))
}

#[test]
fn rmi_and_prune_leave_a_blob_a_live_process_holds() {
    let dir = tempfile::tempdir().unwrap();
    let m = import(dir.path(), "held", "held:1");
    let kiln = Kiln::open(dir.path()).unwrap();
    let layer = kiln.images.manifest(&m).unwrap().layers[0].digest.clone();

    // Another build exporting an image over this layer holds it...
    let lease = kiln.leases.create();
    let user = kiln.with_lease(&lease);
    assert!(user.images.content().hold(&layer).unwrap());
    let lines = kiln.images.remove("held:1", false).unwrap();
    assert!(
        lines.iter().any(|l| l.starts_with("Deleted: ")),
        "{lines:?}"
    );
    assert!(
        !kiln.images.content().has(&m),
        "the manifest nobody holds goes"
    );
    assert!(kiln.images.content().has(&layer), "the held layer stays");
    prune(&kiln, &all(), true).unwrap();
    assert!(kiln.images.content().has(&layer), "prune leaves it too");
    assert_eq!(reclaimable(&kiln), 0);

    // ... until it is done with it.
    drop(user);
    drop(lease);
    let size = fs::metadata(kiln.images.content().path(&layer))
        .unwrap()
        .len();
    assert_eq!(reclaimable(&kiln), size);
    let r = prune(&kiln, &all(), true).unwrap();
    assert_eq!((r.blobs, r.reclaimed), (1, size));
    assert!(!kiln.images.content().has(&layer));
}

#[test]
fn df_reclaimable_is_what_prune_frees_to_the_byte() {
    let dir = tempfile::tempdir().unwrap();
    let m = import(dir.path(), "kept", "kept:1");
    let kiln = Kiln::open(dir.path()).unwrap();
    // Garbage of every kind: a blob no image references, unpacked layers and a step result no
    // record keeps, an unowned old partial blob, and what a killed process left (its lease
    // file, a partial blob and an uncommitted snapshot).
    let (images, snaps) = kiln.unleased();
    images.content().write_bytes(&[9u8; 12345]).unwrap();
    let base = snaps.prepare(None).unwrap();
    fs::write(base.upper.join("f"), vec![1u8; 4000]).unwrap();
    let base = snaps.commit(base).unwrap();
    let step = snaps.prepare(Some(&base)).unwrap();
    fs::write(step.upper.join("g"), vec![2u8; 3000]).unwrap();
    snaps.commit(step).unwrap();
    let ingest = dir.path().join("content/ingest");
    let old = ingest.join("0000000000000000000000000000000a");
    fs::write(&old, vec![3u8; 777]).unwrap();
    fs::File::options()
        .write(true)
        .open(&old)
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(2 * 3600))
        .unwrap();
    let dead = "deaddeaddeaddeaddeaddeaddeaddead";
    fs::write(ingest.join(format!("{dead}-1")), vec![4u8; 555]).unwrap();
    let active = snaps.prepare(None).unwrap();
    fs::write(active.upper.join("h"), vec![5u8; 2000]).unwrap();
    let mut f = fs::File::create(dir.path().join("leases").join(dead)).unwrap();
    writeln!(f, "ingest {dead}-1\nsnapshot {}", active.id).unwrap();
    drop(f);

    let said = reclaimable(&kiln);
    assert!(said > 12345 + 4000 + 3000 + 777 + 555 + 2000, "{said}");
    let r = prune(&kiln, &PruneFilter::default(), false).unwrap();
    assert_eq!(r.reclaimed, said);
    assert_eq!((r.snapshots, r.blobs, r.partials), (3, 1, 2), "{r:?}");
    assert_eq!(reclaimable(&kiln), 0);
    assert_eq!(prune(&kiln, &all(), true).unwrap().reclaimed, 0);
    assert!(!dir.path().join("leases").join(dead).exists());
    // The image is untouched.
    let (manifest, _) = kiln.images.image(&m).unwrap();
    assert!(manifest
        .layers
        .iter()
        .all(|l| kiln.images.content().has(&l.digest)));
}
