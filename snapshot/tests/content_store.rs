//! Content store behaviour.

use std::fs;

use kiln_snapshot::{sha256_digest, ContentStore, Error};

#[test]
fn round_trip_and_idempotent_write() {
    let dir = tempfile::tempdir().unwrap();
    let cs = ContentStore::open(dir.path()).unwrap();
    let (d, n) = cs.write_bytes(b"hello").unwrap();
    assert_eq!(d, sha256_digest(b"hello"));
    assert_eq!(n, 5);
    assert!(cs.has(&d));
    assert_eq!(cs.read(&d).unwrap(), b"hello");
    assert_eq!(cs.size(&d).unwrap(), 5);
    assert_eq!(cs.path(&d), dir.path().join("blobs/sha256").join(&d[7..]));
    let (d2, _) = cs.write(&mut &b"hello"[..], Some(&d)).unwrap();
    assert_eq!(d2, d);
    assert_eq!(cs.list().unwrap(), vec![(d.clone(), 5)]);
    cs.delete(&d).unwrap();
    assert!(!cs.has(&d));
    assert!(matches!(cs.read(&d), Err(Error::BlobNotFound(_))));
    assert_eq!(fs::read_dir(dir.path().join("ingest")).unwrap().count(), 0);
}

#[test]
fn digest_mismatch_stores_nothing_and_names_both_digests() {
    let dir = tempfile::tempdir().unwrap();
    let cs = ContentStore::open(dir.path()).unwrap();
    let wrong = sha256_digest(b"other");
    let err = cs.write(&mut &b"hello"[..], Some(&wrong)).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(wrong.as_str()), "{msg}");
    assert!(msg.contains(sha256_digest(b"hello").as_str()), "{msg}");
    assert!(cs.list().unwrap().is_empty());
    assert!(!cs.has(&sha256_digest(b"hello")));
    assert_eq!(fs::read_dir(dir.path().join("ingest")).unwrap().count(), 0);
}

#[test]
fn malformed_digests_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let cs = ContentStore::open(dir.path()).unwrap();
    for bad in ["sha256:../../../etc/passwd", "md5:abc", "sha256:ABCDEF", ""] {
        assert!(
            matches!(cs.read(bad), Err(Error::InvalidDigest(_))),
            "{bad}"
        );
        assert!(!cs.has(bad));
        assert!(cs.path(bad).starts_with(dir.path()));
        assert!(cs.write(&mut &b"x"[..], Some(bad)).is_err());
    }
}

#[test]
fn concurrent_writers_of_one_blob() {
    let dir = tempfile::tempdir().unwrap();
    let cs = ContentStore::open(dir.path()).unwrap();
    let data: Vec<u8> = (0..2_000_000u32).map(|i| (i % 251) as u8).collect();
    let expected = sha256_digest(&data);
    std::thread::scope(|s| {
        let hs: Vec<_> = (0..8)
            .map(|_| {
                let cs = cs.clone();
                let data = &data;
                let expected = &expected;
                s.spawn(move || cs.write(&mut &data[..], Some(expected)).unwrap())
            })
            .collect();
        for h in hs {
            assert_eq!(h.join().unwrap(), (expected.clone(), data.len() as u64));
        }
    });
    assert_eq!(
        cs.list().unwrap(),
        vec![(expected.clone(), data.len() as u64)]
    );
    assert_eq!(cs.read(&expected).unwrap(), data);
    assert_eq!(fs::read_dir(dir.path().join("ingest")).unwrap().count(), 0);
}

#[test]
fn a_resumable_partial_carries_over_to_the_next_writer() {
    let dir = tempfile::tempdir().unwrap();
    let cs = ContentStore::open(dir.path()).unwrap();
    let data = b"0123456789abcdef".repeat(1000);
    let digest = sha256_digest(&data);
    {
        let mut w = cs.resumable(&digest).unwrap();
        assert!(w.is_resumable());
        assert_eq!(w.held().unwrap(), 0);
        w.write(&data[..7000]).unwrap();
        // While it is held, a second writer gets a private partial.
        let mut other = cs.resumable(&digest).unwrap();
        assert!(!other.is_resumable());
        assert_eq!(other.held().unwrap(), 0);
        // Dropped without commit: the bytes stay for the next writer (this one "died").
    }
    let mut w = cs.resumable(&digest).unwrap();
    assert_eq!(w.held().unwrap(), 7000);
    let mut back = Vec::new();
    std::io::Read::read_to_end(&mut w.read_held().unwrap(), &mut back).unwrap();
    assert_eq!(back, &data[..7000]);
    w.write(&data[7000..]).unwrap();
    w.commit(&digest, data.len() as u64).unwrap();
    assert_eq!(cs.read(&digest).unwrap(), data);
    // Nothing of the partial is left.
    assert_eq!(
        std::fs::read_dir(dir.path().join("ingest"))
            .unwrap()
            .count(),
        0
    );
    // A partial that does not verify is thrown away.
    let other = sha256_digest(b"other");
    let mut w = cs.resumable(&other).unwrap();
    w.write(b"tampered").unwrap();
    w.discard();
    assert!(!cs.has(&other));
    assert_eq!(
        std::fs::read_dir(dir.path().join("ingest"))
            .unwrap()
            .count(),
        0
    );
}
