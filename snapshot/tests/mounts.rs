//! Mount namespace hygiene and long layer chains.

mod common;

use std::fs;

use common::{mounted_under, open, TarBuilder, MODES};
use kiln_snapshot::{Error, Mode};

#[test]
fn nothing_stays_mounted() {
    for mode in MODES {
        let dir = tempfile::tempdir().unwrap();
        let s = open(dir.path(), mode);
        let t = TarBuilder::new().file("f", b"1").finish();
        let (a, _) = s.apply_layer(None, &mut &t[..]).unwrap();
        let seen_inside = s
            .with_mounted(Some(&a), |p| {
                let inside = fs::read_to_string("/proc/thread-self/mountinfo").unwrap();
                (
                    fs::read(p.join("f")).unwrap(),
                    inside.contains(&*p.to_string_lossy()),
                )
            })
            .unwrap();
        assert_eq!(seen_inside, (b"1".to_vec(), true));
        assert!(mounted_under(dir.path()).is_empty(), "{mode:?}");
        let act = s.prepare(Some(&a)).unwrap();
        s.with_active_mounted(&act, |p| fs::write(p.join("g"), b"2").unwrap())
            .unwrap();
        // A second writable mount of the same active snapshot works (no busy upper).
        let g = s
            .with_active_mounted(&act, |p| fs::read(p.join("g")).unwrap())
            .unwrap();
        assert_eq!(g, b"2");
        assert!(mounted_under(dir.path()).is_empty());
        let r: Result<(), Error> = s.with_mounted(None, |p| {
            assert_eq!(fs::read_dir(p).unwrap().count(), 0);
            panic!("boom")
        });
        assert!(matches!(r, Err(Error::Panicked)));
        assert!(mounted_under(dir.path()).is_empty());
        // Temporary mount points are cleaned up.
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
        s.abort(act).unwrap();
    }
}

#[test]
fn a_hundred_and_twenty_layers_merge() {
    for mode in MODES {
        let dir = tempfile::tempdir().unwrap();
        let s = open(dir.path(), mode);
        let mut parent = None;
        for i in 0..120 {
            let t = TarBuilder::new().file(&format!("f{i}"), b"x").finish();
            let (id, _) = s.apply_layer(parent.as_ref(), &mut &t[..]).unwrap();
            parent = Some(id);
        }
        let top = parent.unwrap();
        if mode == Mode::Overlay {
            assert_eq!(s.lowers(&top).unwrap().len(), 120);
        }
        let n = s
            .with_mounted(Some(&top), |p| fs::read_dir(p).unwrap().count())
            .unwrap();
        assert_eq!(n, 120, "{mode:?}");
        let act = s.prepare(Some(&top)).unwrap();
        let n = s
            .with_active_mounted(&act, |p| {
                fs::write(p.join("top"), b"t").unwrap();
                fs::remove_file(p.join("f0")).unwrap();
                fs::read_dir(p).unwrap().count()
            })
            .unwrap();
        assert_eq!(n, 120);
        assert_eq!(fs::read(act.upper.join("top")).unwrap(), b"t");
        s.abort(act).unwrap();
    }
}

#[test]
fn open_detects_overlay_here() {
    let dir = tempfile::tempdir().unwrap();
    let s = kiln_snapshot::Snapshotter::open(dir.path()).unwrap();
    // The test machine supports overlayfs (root, ext4).
    assert_eq!(s.mode(), Mode::Overlay);
    assert!(mounted_under(dir.path()).is_empty());
}

#[test]
fn root_path_with_commas_and_colons() {
    let outer = tempfile::tempdir().unwrap();
    let root = outer.path().join("a,b:c");
    let s = open(&root, Mode::Overlay);
    let t = TarBuilder::new().file("f", b"1").finish();
    let (a, _) = s.apply_layer(None, &mut &t[..]).unwrap();
    let act = s.prepare(Some(&a)).unwrap();
    s.with_active_mounted(&act, |p| fs::write(p.join("g"), b"2").unwrap())
        .unwrap();
    let b = s.commit(act).unwrap();
    let names = s
        .with_mounted(Some(&b), |p| {
            let mut v: Vec<_> = fs::read_dir(p)
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            v.sort();
            v
        })
        .unwrap();
    assert_eq!(names, vec!["f", "g"]);
    let act = s.prepare(None).unwrap();
    s.with_active_mounted(&act, |p| fs::write(p.join("x"), b"").unwrap())
        .unwrap();
    assert!(act.upper.join("x").exists());
}
