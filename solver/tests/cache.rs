//! The persistent cache on disk.

use kiln_solver::*;
use std::fs::File;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, SystemTime};

fn key(n: u8) -> Digest {
    Digest::sha256(&[n])
}

#[test]
fn put_get_list_remove_round_trip_across_handles() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    assert!(cache.get(&key(1)).unwrap().is_none());
    cache
        .put(&key(1), "[1/2] RUN make", Some(4096), b"snap-1")
        .unwrap();
    cache
        .put(&key(2), "[2/2] COPY . .", None, b"\n\nbinary\0data")
        .unwrap();

    let other = Cache::open(dir.path()).unwrap();
    let r = other.get(&key(2)).unwrap().unwrap();
    assert_eq!(r.data, b"\n\nbinary\0data");
    assert_eq!(r.info.name, "[2/2] COPY . .");
    assert_eq!(r.info.size, None);

    let list = other.list().unwrap();
    assert_eq!(list.len(), 2);
    let one = list.iter().find(|i| i.key == key(1)).unwrap();
    assert_eq!(one.name, "[1/2] RUN make");
    assert_eq!(one.data_len, 6);
    assert_eq!(one.size, Some(4096));
    assert_eq!(one.storage_size(), 4096);

    let removed = other.remove(&key(1)).unwrap().unwrap();
    assert_eq!(removed.data, b"snap-1");
    assert!(cache.get(&key(1)).unwrap().is_none());
    assert!(other.remove(&key(1)).unwrap().is_none());
    // Nothing left behind in tmp/.
    assert_eq!(
        std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
        0
    );
}

#[test]
fn put_replaces_an_existing_record() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    cache.put(&key(1), "old", None, b"old").unwrap();
    cache.put(&key(1), "new", None, b"new").unwrap();
    let r = cache.get(&key(1)).unwrap().unwrap();
    assert_eq!(
        (r.info.name.as_str(), r.data.as_slice()),
        ("new", &b"new"[..])
    );
    assert_eq!(cache.list().unwrap().len(), 1);
}

#[test]
fn get_marks_the_record_used() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    cache.put(&key(1), "a", None, b"x").unwrap();
    let long_ago = SystemTime::now() - Duration::from_secs(3600 * 24);
    let path = dir.path().join("records").join(key(1).hex());
    File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(long_ago)
        .unwrap();
    assert!(cache.list().unwrap()[0].last_used <= long_ago + Duration::from_secs(1));
    cache.get(&key(1)).unwrap().unwrap();
    assert!(cache.list().unwrap()[0].last_used > long_ago + Duration::from_secs(3600));
}

#[test]
fn prune_removes_old_records_and_returns_their_data() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    cache.put(&key(1), "old", None, b"old-data").unwrap();
    cache.put(&key(2), "new", None, b"new-data").unwrap();
    let path = dir.path().join("records").join(key(1).hex());
    let long_ago = SystemTime::now() - Duration::from_secs(3600 * 48);
    File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(long_ago)
        .unwrap();

    assert!(cache.prune(&PruneFilter::default()).unwrap().is_empty());
    let removed = cache
        .prune(&PruneFilter {
            until: Some(Duration::from_secs(3600 * 24)),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0].info.key, key(1));
    assert_eq!(removed[0].data, b"old-data");
    assert_eq!(cache.list().unwrap().len(), 1);

    let removed = cache
        .prune(&PruneFilter {
            all: true,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(removed.len(), 1);
    assert!(cache.list().unwrap().is_empty());
}

#[test]
fn prune_keep_storage_uses_the_worker_size() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    for n in 1..=3u8 {
        cache.put(&key(n), "r", Some(1000), b"x").unwrap();
        let path = dir.path().join("records").join(key(n).hex());
        let t = SystemTime::now() - Duration::from_secs(100 * (4 - n as u64));
        File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(t)
            .unwrap();
    }
    let removed = cache
        .prune(&PruneFilter {
            keep_storage: Some(2000),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        removed
            .iter()
            .map(|r| r.info.key.clone())
            .collect::<Vec<_>>(),
        vec![key(1)]
    );
}

#[test]
fn corrupt_records_are_reported_by_get_and_skipped_by_list() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    cache.put(&key(2), "fine", None, b"ok").unwrap();
    std::fs::write(
        dir.path().join("records").join(key(1).hex()),
        b"garbage without header",
    )
    .unwrap();
    assert!(matches!(
        cache.get(&key(1)),
        Err(CacheError::Corrupt { .. })
    ));
    let list = cache.list().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].key, key(2));
}

#[test]
fn keys_that_are_not_digests_cannot_be_made() {
    // A key is an `oci::Digest`: one that is not `sha256:` + 64 hex digits (a path, say) is
    // refused where it is read, so the cache never sees it.
    for evil in ["sha256:../../../etc/passwd", "sha256:", "md5:00"] {
        assert!(
            serde_json::from_str::<Digest>(&format!("{evil:?}")).is_err(),
            "{evil}"
        );
        assert!(Digest::parse(evil).is_err(), "{evil}");
    }
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    assert!(cache.get(&key(9)).unwrap().is_none());
}

#[test]
fn a_key_lock_excludes_other_handles_until_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let a = Cache::open(dir.path()).unwrap();
    let b = Cache::open(dir.path()).unwrap();
    let never = AtomicBool::new(false);
    let held = a.lock_key(&key(1), &never).unwrap().unwrap();
    // While held, a waiter only gives up when cancelled.
    let cancelled = AtomicBool::new(true);
    assert!(b.lock_key(&key(1), &cancelled).unwrap().is_none());
    // Other keys are independent.
    assert!(b.lock_key(&key(2), &never).unwrap().is_some());
    drop(held);
    assert!(b.lock_key(&key(1), &never).unwrap().is_some());
}
