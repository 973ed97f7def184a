//! Lazy compression: a layer kept as a plain tar is compressed on demand, once per
//! (diff ID, compression, level); an original compressed blob answers without recompressing;
//! a source that is not the diff it claims is refused and leaves nothing.

mod common;

use std::io::Read;

use common::TarBuilder;
use kiln_snapshot::{derive_layers, Compression, ContentStore, LayerInfo, Target};

fn tar_bytes() -> Vec<u8> {
    let mut t = TarBuilder::new().dir("d");
    for i in 0..40 {
        let data: Vec<u8> = (0..50_000u32)
            .map(|j| ((j.wrapping_mul(2654435761) >> 13) as u8) ^ (i as u8))
            .collect();
        t = t.file(&format!("d/f{i}"), &data);
    }
    t.finish()
}

fn plain(store: &ContentStore, tar: &[u8]) -> LayerInfo {
    let (digest, size) = store.write_bytes(tar).unwrap();
    LayerInfo {
        diff_id: digest.clone(),
        digest,
        size,
        media_type: Compression::None.media_type().into(),
    }
}

fn unpacked(store: &ContentStore, l: &LayerInfo) -> Vec<u8> {
    let f = store.open_blob(l.digest.as_ref()).unwrap();
    let mut out = Vec::new();
    match Compression::from_media_type(&l.media_type).unwrap() {
        Compression::Gzip => flate2::read::MultiGzDecoder::new(f)
            .read_to_end(&mut out)
            .unwrap(),
        Compression::Zstd => zstd::stream::read::Decoder::new(f)
            .unwrap()
            .read_to_end(&mut out)
            .unwrap(),
        Compression::None => std::io::BufReader::new(f).read_to_end(&mut out).unwrap(),
    };
    out
}

#[test]
fn derived_once_per_diff_compression_and_level() {
    let dir = tempfile::tempdir().unwrap();
    let store = ContentStore::open(dir.path()).unwrap();
    let tar = tar_bytes();
    let src = plain(&store, &tar);
    let gz = Target::new(Compression::Gzip);
    let a = store.derive_layer(&src, gz, false).unwrap();
    assert_eq!(a.media_type, "application/vnd.oci.image.layer.v1.tar+gzip");
    assert_eq!(a.diff_id, src.diff_id);
    assert_eq!(unpacked(&store, &a), tar);
    assert!(a.size < src.size);
    let path = store.path(a.digest.as_ref());
    let made = std::fs::metadata(&path).unwrap().modified().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    // Asked again, from any source of the same diff: the same blob, not written again.
    assert_eq!(store.derive_layer(&src, gz, false).unwrap(), a);
    assert_eq!(store.derive_layer(&a, gz, false).unwrap(), a);
    assert_eq!(std::fs::metadata(&path).unwrap().modified().unwrap(), made);
    assert_eq!(store.diff_size(src.diff_id.as_ref()), Some(src.size));

    let fast = Target {
        compression: Compression::Gzip,
        level: Some(1),
    };
    let b = store.derive_layer(&src, fast, true).unwrap();
    assert_ne!(b.digest, a.digest);
    assert_eq!(unpacked(&store, &b), tar);
    // zstd from the gzip blob (decompressed first).
    let z = store
        .derive_layer(&a, Target::new(Compression::Zstd), false)
        .unwrap();
    assert_eq!(z.media_type, "application/vnd.oci.image.layer.v1.tar+zstd");
    assert_eq!(unpacked(&store, &z), tar);
    // And back to the plain tar: the very blob the diff ID names.
    let p = store
        .derive_layer(&z, Target::new(Compression::None), false)
        .unwrap();
    assert_eq!(p.digest, src.digest);

    let all: Vec<_> = store
        .derived_blobs(src.diff_id.as_ref())
        .into_iter()
        .map(|l| l.digest)
        .collect();
    for l in [&a, &b, &z] {
        assert!(all.contains(&l.digest), "{all:?}");
    }
    // A collected blob is made again rather than answered from the memo.
    store.delete(a.digest.as_ref()).unwrap();
    let again = store.derive_layer(&src, gz, false).unwrap();
    assert_eq!(again.digest, a.digest, "the same bytes again");
    assert!(store.has(a.digest.as_ref()));
}

#[test]
fn several_layers_at_once_give_what_one_at_a_time_gives() {
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (s1, s2) = (
        ContentStore::open(d1.path()).unwrap(),
        ContentStore::open(d2.path()).unwrap(),
    );
    let tars: Vec<Vec<u8>> = (0..5u8)
        .map(|i| {
            TarBuilder::new()
                .file(&format!("f{i}"), &vec![i; 300_000 + i as usize])
                .finish()
        })
        .collect();
    let src1: Vec<_> = tars.iter().map(|t| plain(&s1, t)).collect();
    let src2: Vec<_> = tars.iter().map(|t| plain(&s2, t)).collect();
    let gz = Target::new(Compression::Gzip);
    let par = derive_layers(&s1, &src1, gz, false, 3).unwrap();
    let one = derive_layers(&s2, &src2, gz, false, 1).unwrap();
    assert_eq!(par, one);
}

#[test]
fn an_original_blob_answers_unless_a_level_is_forced() {
    let dir = tempfile::tempdir().unwrap();
    let store = ContentStore::open(dir.path()).unwrap();
    let tar = tar_bytes();
    // A gzip blob made elsewhere (another level, another tool): a pulled layer.
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(9));
    std::io::Write::write_all(&mut e, &tar).unwrap();
    let (digest, size) = store.write_bytes(&e.finish().unwrap()).unwrap();
    let orig = LayerInfo {
        digest,
        size,
        diff_id: kiln_snapshot::sha256_digest(&tar),
        media_type: "application/vnd.docker.image.rootfs.diff.tar.gzip".into(),
    };
    store.remember_layer(&orig, Some(tar.len() as u64)).unwrap();
    let plain_src = {
        let (d, s) = store.write_bytes(&tar).unwrap();
        LayerInfo {
            diff_id: d.clone(),
            digest: d,
            size: s,
            media_type: Compression::None.media_type().into(),
        }
    };
    let got = store
        .derive_layer(&plain_src, Target::new(Compression::Gzip), false)
        .unwrap();
    assert_eq!(got, orig, "the original blob, byte for byte");
    let forced = Target {
        compression: Compression::Gzip,
        level: Some(2),
    };
    let re = store.derive_layer(&plain_src, forced, true).unwrap();
    assert_ne!(re.digest, orig.digest);
    assert_eq!(
        store.diff_size(orig.diff_id.as_ref()),
        Some(tar.len() as u64)
    );
}

#[test]
fn a_source_that_is_not_its_diff_is_refused_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = ContentStore::open(dir.path()).unwrap();
    let tar = tar_bytes();
    let mut src = plain(&store, &tar);
    src.diff_id = kiln_snapshot::sha256_digest(b"another diff");
    let before = store.list().unwrap();
    let err = store
        .derive_layer(&src, Target::new(Compression::Gzip), false)
        .unwrap_err();
    assert!(
        matches!(err, kiln_snapshot::Error::DigestMismatch { .. }),
        "{err}"
    );
    assert_eq!(store.list().unwrap(), before, "no blob was stored");
    assert!(store.derived_blobs(src.diff_id.as_ref()).is_empty());
    let bad_level = Target {
        compression: Compression::Gzip,
        level: Some(12),
    };
    assert!(store.derive_layer(&src, bad_level, true).is_err());
}

#[test]
fn a_damaged_derived_blob_is_made_again_not_handed_out() {
    let dir = tempfile::tempdir().unwrap();
    let store = ContentStore::open(dir.path()).unwrap();
    let tar = tar_bytes();
    let src = plain(&store, &tar);
    let gz = Target::new(Compression::Gzip);
    let good = store.derive_layer(&src, gz, false).unwrap();
    let path = store.path(good.digest.as_ref());
    let bytes = std::fs::read(&path).unwrap();
    // Same size, other bytes; then a truncated blob.
    let mut bad = bytes.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0xff;
    for damaged in [bad, bytes[..bytes.len() - 10].to_vec()] {
        std::fs::write(&path, &damaged).unwrap();
        let again = store.derive_layer(&src, gz, false).unwrap();
        assert_eq!(again, good);
        assert_eq!(
            std::fs::read(&path).unwrap(),
            bytes,
            "the blob is whole again"
        );
        assert_eq!(store.verify(good.digest.as_ref()).unwrap(), None);
        assert_eq!(unpacked(&store, &again), tar);
    }
    // A memo naming a blob that is gone is not believed either.
    std::fs::remove_file(&path).unwrap();
    assert!(store
        .derived_blobs(src.diff_id.as_ref())
        .iter()
        .all(|l| l.digest != good.digest));
    assert_eq!(store.derive_layer(&src, gz, false).unwrap(), good);
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
}

#[test]
fn the_memo_sweep_drops_entries_of_collected_blobs_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = ContentStore::open(dir.path()).unwrap();
    let memos = dir.path().join("derived");
    let memo_names = || {
        let mut v: Vec<String> = std::fs::read_dir(&memos)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".json"))
            .collect();
        v.sort();
        v
    };
    let tar = tar_bytes();
    let other = TarBuilder::new().file("x", b"another layer").finish();
    let (a, b) = (plain(&store, &tar), plain(&store, &other));
    let gz = Target::new(Compression::Gzip);
    let a_gz = store.derive_layer(&a, gz, false).unwrap();
    let b_gz = store.derive_layer(&b, gz, false).unwrap();
    let zst = store
        .derive_layer(&a, Target::new(Compression::Zstd), false)
        .unwrap();
    store.remember_layer(&a, Some(a.size)).unwrap();
    assert_eq!(memo_names().len(), 2);
    // Nothing collected: the sweep changes nothing.
    assert_eq!(
        store.sweep_memos().unwrap(),
        kiln_snapshot::MemoSweep::default()
    );

    // b's blobs are all collected: its memo goes. a keeps the entries of the blobs left.
    for l in [&b, &b_gz, &a_gz] {
        store.delete(l.digest.as_ref()).unwrap();
    }
    let swept = store.sweep_memos().unwrap();
    assert_eq!((swept.removed, swept.trimmed), (1, 1), "{swept:?}");
    assert!(swept.bytes > 0);
    assert_eq!(
        memo_names(),
        vec![format!("{}.json", &a.diff_id.as_ref()[7..])]
    );
    let mut left: Vec<_> = store.derived_blobs(a.diff_id.as_ref());
    left.sort_by(|x, y| x.digest.as_ref().cmp(y.digest.as_ref()));
    let mut want = vec![a.clone(), zst.clone()];
    want.sort_by(|x, y| x.digest.as_ref().cmp(y.digest.as_ref()));
    assert_eq!(left, want);
    assert_eq!(store.diff_size(a.diff_id.as_ref()), Some(a.size));
    // A damaged memo file is only a lost memo.
    std::fs::write(
        memos.join(format!("{}.json", &b.diff_id.as_ref()[7..])),
        b"{not json",
    )
    .unwrap();
    assert_eq!(store.sweep_memos().unwrap().removed, 1);
    assert_eq!(memo_names().len(), 1);
    // What is left still derives without compressing again.
    assert_eq!(
        store
            .derive_layer(&a, Target::new(Compression::Zstd), false)
            .unwrap(),
        zst
    );
}
