//! `kiln save`: images out of the store as docker-archive or OCI layout.
//!
//! Both tar formats are an OCI image layout (`oci-layout`, `index.json` with
//! `io.containerd.image.name` + `org.opencontainers.image.ref.name` annotations,
//! `blobs/sha256/…`); the docker-archive adds docker's `manifest.json` (`Config`, `RepoTags`,
//! `Layers` pointing into `blobs/sha256/`), as docker 25+ writes it. Layers are written as
//! stored (gzip usually); `docker load` decompresses them. Tar headers are fixed (mtime 0,
//! uid/gid 0, mode 0644/0755) and entries sorted, so the same images give the same bytes.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::Path;

use tar::{EntryType, Header};

use crate::store::digest::to_digest;
use crate::store::docker_archive::DockerArchiveEntry;
use crate::store::{ImageStore, Reference, Result, StoreError};
use oci::{Descriptor, Index, Manifest, OciLayout};

/// Which archive layout [`save`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveFormat {
    /// `docker save` format (with the OCI layout files, like docker 25+).
    DockerArchive,
    /// An OCI image layout as a tar.
    OciLayout,
}

/// One image to save, and the tag it goes under.
struct Item {
    manifest_digest: String,
    manifest: Manifest,
    tag: Option<Reference>,
    /// A multi-platform image: the index (`manifest_digest`/`manifest` are then its first
    /// image's) and every image it lists.
    index: Option<crate::save_index::SavedIndex>,
}

/// Save the images `names` designate into `w`. A name is a reference (`busybox`, a
/// [`Reference`]) or an image ID / manifest digest; a tag is recorded for references that tag
/// the image, IDs are saved untagged (like `docker save ID`).
pub fn save<N: Display>(
    store: &ImageStore,
    names: &[N],
    w: impl Write,
    format: SaveFormat,
) -> Result<()> {
    let items = items_for_names(store, names)?;
    write_tar(store, &items, w, format)
}

/// Write (or add to) an OCI image layout directory `dir`: blobs are added, `index.json`
/// entries with the same names are replaced.
pub fn save_oci_dir<N: Display>(store: &ImageStore, names: &[N], dir: &Path) -> Result<()> {
    let items = items_for_names(store, names)?;
    let blob_dir = dir.join("blobs/sha256");
    fs::create_dir_all(&blob_dir).map_err(StoreError::io("creating", &blob_dir))?;
    for d in blob_digests(&items) {
        let hex = d.trim_start_matches("sha256:");
        let dest = blob_dir.join(hex);
        if dest.is_file() {
            continue;
        }
        let tmp = blob_dir.join(format!(".{hex}.tmp-{}", std::process::id()));
        let mut src = store
            .content()
            .open_blob(&d)
            .map_err(StoreError::content(format!("opening {d}")))?;
        let mut out = File::create(&tmp).map_err(StoreError::io("creating", &tmp))?;
        io::copy(&mut src, &mut out).map_err(StoreError::io("writing", &tmp))?;
        out.sync_all().map_err(StoreError::io("syncing", &tmp))?;
        fs::rename(&tmp, &dest).map_err(StoreError::io("renaming", &dest))?;
    }
    let index_path = dir.join("index.json");
    let mut index = match fs::read(&index_path) {
        Ok(b) => serde_json::from_slice::<Index>(&b)
            .map_err(StoreError::json(index_path.display().to_string()))?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => empty_index(),
        Err(e) => return Err(StoreError::io("reading", &index_path)(e)),
    };
    for desc in index_entries(store, &items)? {
        let name = desc.annotations.get(oci::ANNOTATION_REF_NAME).cloned();
        index.manifests.retain(|d| match &name {
            Some(n) => d.annotations.get(oci::ANNOTATION_REF_NAME) != Some(n),
            None => d.digest != desc.digest,
        });
        index.manifests.push(desc);
    }
    write_file(&index_path, &to_json(&index, "index.json")?)?;
    write_file(&dir.join("oci-layout"), &oci_layout_bytes()?)?;
    Ok(())
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    fs::write(&tmp, bytes).map_err(StoreError::io("writing", &tmp))?;
    fs::rename(&tmp, path).map_err(StoreError::io("renaming", path))
}

fn items_for_names<N: Display>(store: &ImageStore, names: &[N]) -> Result<Vec<Item>> {
    let mut items = Vec::new();
    for name in names {
        let name = name.to_string();
        let parsed = Reference::parse(&name).ok();
        if let Some((index, tag)) = crate::save_index::index_item(store, &name, parsed.as_ref())? {
            items.push(Item {
                manifest_digest: index.images[0].0.clone(),
                manifest: index.images[0].1.clone(),
                tag,
                index: Some(index),
            });
            continue;
        }
        let rec = store.resolve(&name)?.ok_or_else(|| {
            StoreError::NotFound(
                parsed
                    .as_ref()
                    .map(|r| r.familiar_string())
                    .unwrap_or_else(|| name.clone()),
            )
        })?;
        let tag = parsed.filter(|r| r.tag.is_some() && rec.tags.contains(r));
        items.push(Item {
            manifest_digest: rec.manifest_digest,
            manifest: rec.manifest,
            tag,
            index: None,
        });
    }
    if items.is_empty() {
        return Err(StoreError::NotFound("(no image given to save)".into()));
    }
    Ok(items)
}

fn empty_index() -> Index {
    Index {
        schema_version: 2,
        media_type: Some(oci::media::OCI_INDEX.into()),
        manifests: Vec::new(),
        annotations: BTreeMap::new(),
    }
}

fn to_json<T: serde::Serialize>(v: &T, what: &str) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(StoreError::json(what.to_string()))
}

fn oci_layout_bytes() -> Result<Vec<u8>> {
    to_json(
        &OciLayout {
            image_layout_version: "1.0.0".into(),
        },
        "oci-layout",
    )
}

/// Every blob of the items, sorted and without duplicates.
fn blob_digests(items: &[Item]) -> Vec<String> {
    let mut v: Vec<String> = items
        .iter()
        .flat_map(|i| {
            std::iter::once(i.manifest_digest.clone())
                .chain(i.manifest.blobs().map(|d| d.digest.to_string()))
                .chain(i.index.iter().flat_map(crate::save_index::blobs))
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

/// `index.json` entries: one per item, named when tagged.
fn index_entries(store: &ImageStore, items: &[Item]) -> Result<Vec<Descriptor>> {
    let mut out: Vec<Descriptor> = Vec::new();
    for i in items {
        let size = store
            .content()
            .size(&i.manifest_digest)
            .map_err(StoreError::content(format!(
                "size of {}",
                i.manifest_digest
            )))?;
        let mut d = match &i.index {
            // A multi-platform image is its index.
            Some(index) => index.descriptor.clone(),
            None => Descriptor::new(
                i.manifest.media_type(),
                to_digest(&i.manifest_digest)?,
                size,
            ),
        };
        if let Some(t) = &i.tag {
            d.annotations
                .insert(oci::ANNOTATION_CONTAINERD_NAME.into(), t.to_string());
            if let Some(tag) = &t.tag {
                d.annotations
                    .insert(oci::ANNOTATION_REF_NAME.into(), tag.clone());
            }
        }
        if !out.contains(&d) {
            out.push(d);
        }
    }
    Ok(out)
}

/// docker's `manifest.json`: one entry per image, with all its tags.
fn docker_manifest(items: &[Item]) -> Vec<DockerArchiveEntry> {
    let mut out: Vec<(String, DockerArchiveEntry)> = Vec::new();
    // A multi-platform image: one entry per platform (see `save_index`).
    let expanded = crate::save_index::per_platform(items.iter().map(|i| {
        (
            i.manifest_digest.as_str(),
            &i.manifest,
            i.tag.as_ref(),
            i.index.as_ref(),
        )
    }));
    for (manifest_digest, manifest, tag) in expanded {
        let i = ItemView {
            manifest_digest,
            manifest,
        };
        let tag = tag.map(|t| t.familiar_string());
        if let Some((_, e)) = out.iter_mut().find(|(m, _)| *m == i.manifest_digest) {
            if let Some(t) = tag {
                let tags = e.repo_tags.get_or_insert_with(Vec::new);
                if !tags.contains(&t) {
                    tags.push(t);
                }
            }
            continue;
        }
        out.push((
            i.manifest_digest.to_string(),
            DockerArchiveEntry {
                config: blob_path(&i.manifest.config.digest),
                repo_tags: tag.map(|t| vec![t]),
                layers: i
                    .manifest
                    .layers
                    .iter()
                    .map(|l| blob_path(&l.digest))
                    .collect(),
            },
        ));
    }
    out.into_iter().map(|(_, e)| e).collect()
}

/// One image of [`docker_manifest`].
struct ItemView<'a> {
    manifest_digest: &'a str,
    manifest: &'a Manifest,
}

fn blob_path(digest: &str) -> String {
    format!("blobs/sha256/{}", digest.trim_start_matches("sha256:"))
}

fn header(kind: EntryType, size: u64) -> Header {
    let mut h = Header::new_ustar();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(if kind == EntryType::Directory {
        0o755
    } else {
        0o644
    });
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h
}

fn write_tar(store: &ImageStore, items: &[Item], w: impl Write, format: SaveFormat) -> Result<()> {
    let mut b = tar::Builder::new(w);
    let err = |what: &str| StoreError::stream(format!("writing {what} to the archive"));
    for dir in ["blobs/", "blobs/sha256/"] {
        b.append_data(&mut header(EntryType::Directory, 0), dir, io::empty())
            .map_err(err(dir))?;
    }
    for d in blob_digests(items) {
        let f = store
            .content()
            .open_blob(&d)
            .map_err(StoreError::content(format!("opening {d}")))?;
        let size = f
            .metadata()
            .map_err(StoreError::stream(format!("stat of blob {d}")))?
            .len();
        let path = blob_path(&d);
        b.append_data(&mut header(EntryType::Regular, size), &path, f.take(size))
            .map_err(err(&path))?;
    }
    let mut files: Vec<(&str, Vec<u8>)> = Vec::new();
    if format == SaveFormat::DockerArchive {
        files.push((
            "manifest.json",
            to_json(&docker_manifest(items), "manifest.json")?,
        ));
    }
    let mut index = empty_index();
    index.manifests = index_entries(store, items)?;
    files.push(("index.json", to_json(&index, "index.json")?));
    files.push(("oci-layout", oci_layout_bytes()?));
    for (name, bytes) in files {
        b.append_data(
            &mut header(EntryType::Regular, bytes.len() as u64),
            name,
            bytes.as_slice(),
        )
        .map_err(err(name))?;
    }
    let mut w = b.into_inner().map_err(err("the end of the archive"))?;
    w.flush().map_err(err("the archive"))
}
