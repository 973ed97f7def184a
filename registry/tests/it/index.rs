//! An OCI index with two platforms: each is selected, and a platform it lacks is an error
//! listing what it has.

use oci::{media, Platform};
use registry::Error;
use registry_harness::image::{entry, image, index};
use registry_harness::Registry;

use crate::common::{client, fetch, push_image, reference};

#[test]
fn an_index_with_two_platforms_gives_each() {
    if !registry_harness::available() {
        return;
    }
    let reg = Registry::anonymous();
    let c = client(&reg);
    let amd = image(30, "linux/amd64", &[1000]);
    let arm = image(31, "linux/arm64", &[2000]);
    let repo = reference(&reg, "kiln/multi");
    for img in [&amd, &arm] {
        let mut by_digest = repo.clone();
        by_digest.tag = None;
        by_digest.digest = Some(img.manifest.descriptor.digest.clone());
        push_image(&c, &by_digest, img);
    }
    let idx = index(&[entry(&amd), entry(&arm)]);
    let r = reference(&reg, "kiln/multi:1");
    assert_eq!(
        c.put_manifest(&r, media::OCI_INDEX, &idx.bytes).unwrap(),
        idx.descriptor.digest
    );
    assert_eq!(c.resolve(&r).unwrap(), idx.descriptor);

    let dir = tempfile::tempdir().unwrap();
    for (want, img) in [
        ("linux/amd64", &amd),
        ("linux/arm64/v8", &arm),
        ("linux/arm64", &arm),
    ] {
        let got = c.get_image(&r, &Platform::parse(want).unwrap()).unwrap();
        assert_eq!(got.manifest.bytes, img.manifest.bytes, "{want}");
        assert_eq!(got.index.as_ref().unwrap().bytes, idx.bytes);
        assert_eq!(
            fetch(&c, &r, &img.layers[0], dir.path()),
            img.layers[0].bytes
        );
    }

    let e = c
        .get_image(&r, &Platform::parse("linux/s390x").unwrap())
        .unwrap_err();
    match &e {
        Error::PlatformNotFound {
            wanted, available, ..
        } => {
            assert_eq!(wanted.to_string(), "linux/s390x");
            let names: Vec<String> = available.iter().map(|p| p.to_string()).collect();
            assert_eq!(names, ["linux/amd64", "linux/arm64"]);
        }
        other => panic!("{other:?}"),
    }
    assert!(
        e.to_string().contains("(it has: linux/amd64, linux/arm64)"),
        "{e}"
    );
}
