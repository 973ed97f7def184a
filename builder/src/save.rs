//! `kiln save`: images out of the store as docker-archive or OCI layout.
//!
//! Both tar formats are an OCI image layout (`oci-layout`, `index.json` with
//! `io.containerd.image.name` + `org.opencontainers.image.ref.name` annotations,
//! `blobs/sha256/…`); the docker-archive adds docker's `manifest.json` (`Config`, `RepoTags`,
//! `Layers` pointing into `blobs/sha256/`), as docker 25+ writes it. Layers are written as
//! they leave the machine: a built layer, kept uncompressed in the store, is compressed (gzip by
//! default, once per diff ID, see [`crate::export::convert`]) and the manifest rewritten over it;
//! an image whose layers are compressed already is written with its stored manifest. Tar headers are fixed (mtime 0,
//! uid/gid 0, mode 0644/0755) and entries sorted, so the same images give the same bytes.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::Path;

use tar::{EntryType, Header};

use crate::export::index::IndexDistribution;
use crate::export::{distribution, Distribution, ExportError, LayerOptions};
use crate::store::docker_archive::DockerArchiveEntry;
use crate::store::{ImageStore, Reference, StoreError};
use oci::{Descriptor, Index, OciLayout};

type Result<T> = std::result::Result<T, ExportError>;

/// Which archive layout [`save`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveFormat {
    /// `docker save` format (with the OCI layout files, like docker 25+).
    DockerArchive,
    /// An OCI image layout as a tar.
    OciLayout,
}

/// One image (or index) to save, and the tag it goes under.
struct Item {
    saved: Saved,
    tag: Option<Reference>,
}

/// What an [`Item`] is, as it leaves.
enum Saved {
    Image(Box<Distribution>),
    /// A multi-platform image: the index and every image it lists.
    Index(IndexDistribution),
}

impl Item {
    /// The descriptor `index.json` lists it by.
    fn descriptor(&self) -> Descriptor {
        match &self.saved {
            Saved::Image(d) => {
                Descriptor::new(d.media_type(), d.digest.clone(), d.bytes.len() as u64)
            }
            Saved::Index(i) => i.descriptor(),
        }
    }

    /// Its blobs: manifests with their bytes (which need not be in the store), then what
    /// they reference (in the store).
    fn blobs(&self) -> Vec<(String, Option<&[u8]>)> {
        match &self.saved {
            Saved::Image(d) => std::iter::once((d.digest.to_string(), Some(d.bytes.as_slice())))
                .chain(d.manifest.blobs().map(|b| (b.digest.to_string(), None)))
                .collect(),
            Saved::Index(i) => crate::save_index::blobs(i),
        }
    }

    /// The images docker's `manifest.json` lists for it.
    fn images(&self) -> Vec<&Distribution> {
        match &self.saved {
            Saved::Image(d) => vec![d],
            Saved::Index(i) => crate::save_index::per_platform(i),
        }
    }
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
    save_with(store, names, w, format, &LayerOptions::default())
}

/// [`save`] with the layers compressed as `layers` says (`--output type=oci|docker`).
pub fn save_with<N: Display>(
    store: &ImageStore,
    names: &[N],
    w: impl Write,
    format: SaveFormat,
    layers: &LayerOptions,
) -> Result<()> {
    let items = items_for_names(store, names, layers)?;
    write_tar(store, &items, w, format)
}

/// Write (or add to) an OCI image layout directory `dir`: blobs are added, `index.json`
/// entries with the same names are replaced.
pub fn save_oci_dir<N: Display>(store: &ImageStore, names: &[N], dir: &Path) -> Result<()> {
    save_oci_dir_with(store, names, dir, &LayerOptions::default())
}

/// [`save_oci_dir`] with the layers compressed as `layers` says.
pub fn save_oci_dir_with<N: Display>(
    store: &ImageStore,
    names: &[N],
    dir: &Path,
    layers: &LayerOptions,
) -> Result<()> {
    let items = items_for_names(store, names, layers)?;
    let blob_dir = dir.join("blobs/sha256");
    fs::create_dir_all(&blob_dir).map_err(StoreError::io("creating", &blob_dir))?;
    for (d, bytes) in blob_digests(&items) {
        let hex = d.trim_start_matches("sha256:");
        let dest = blob_dir.join(hex);
        if dest.is_file() {
            continue;
        }
        let tmp = blob_dir.join(format!(".{hex}.tmp-{}", std::process::id()));
        let res = (|| -> Result<()> {
            let mut out = File::create(&tmp).map_err(StoreError::io("creating", &tmp))?;
            match bytes {
                Some(b) => out.write_all(b).map_err(StoreError::io("writing", &tmp))?,
                None => {
                    let mut src = store
                        .content()
                        .open_blob(&d)
                        .map_err(StoreError::content(format!("opening {d}")))?;
                    io::copy(&mut src, &mut out).map_err(StoreError::io("writing", &tmp))?;
                }
            }
            out.sync_all().map_err(StoreError::io("syncing", &tmp))?;
            fs::rename(&tmp, &dest).map_err(StoreError::io("renaming", &dest))?;
            Ok(())
        })();
        if res.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        res?;
    }
    let index_path = dir.join("index.json");
    let mut index = match fs::read(&index_path) {
        Ok(b) => serde_json::from_slice::<Index>(&b)
            .map_err(StoreError::json(index_path.display().to_string()))?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => empty_index(),
        Err(e) => return Err(StoreError::io("reading", &index_path)(e).into()),
    };
    for desc in index_entries(&items)? {
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
    if let Err(e) = fs::write(&tmp, bytes) {
        let _ = fs::remove_file(&tmp);
        return Err(StoreError::io("writing", &tmp)(e).into());
    }
    Ok(fs::rename(&tmp, path).map_err(StoreError::io("renaming", path))?)
}

fn items_for_names<N: Display>(
    store: &ImageStore,
    names: &[N],
    layers: &LayerOptions,
) -> Result<Vec<Item>> {
    let mut dists: std::collections::HashMap<String, Distribution> = Default::default();
    let mut items = Vec::new();
    for name in names {
        let name = name.to_string();
        let parsed = Reference::parse(&name).ok();
        if let Some((index, tag)) =
            crate::save_index::index_item(store, &name, parsed.as_ref(), layers)?
        {
            items.push(Item {
                saved: Saved::Index(index),
                tag,
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
        let dist = match dists.get(&rec.manifest_digest) {
            Some(d) => d.clone(),
            None => {
                let d = distribution(store, &rec.manifest_digest, layers)?;
                dists.insert(rec.manifest_digest.clone(), d.clone());
                d
            }
        };
        items.push(Item {
            saved: Saved::Image(Box::new(dist)),
            tag,
        });
    }
    if items.is_empty() {
        return Err(StoreError::NotFound("(no image given to save)".into()).into());
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
    Ok(serde_json::to_vec(v).map_err(StoreError::json(what.to_string()))?)
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
fn blob_digests(items: &[Item]) -> Vec<(String, Option<&[u8]>)> {
    let mut v: Vec<(String, Option<&[u8]>)> = items.iter().flat_map(Item::blobs).collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v.dedup_by(|a, b| a.0 == b.0);
    v
}

/// `index.json` entries: one per item (a multi-platform image is its index), named when
/// tagged.
fn index_entries(items: &[Item]) -> Result<Vec<Descriptor>> {
    let mut out: Vec<Descriptor> = Vec::new();
    for i in items {
        let mut d = i.descriptor();
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
    for item in items {
        let tag = item.tag.as_ref().map(|t| t.familiar_string());
        for dist in item.images() {
            let key = dist.digest.to_string();
            if let Some((_, e)) = out.iter_mut().find(|(m, _)| *m == key) {
                if let Some(t) = &tag {
                    let tags = e.repo_tags.get_or_insert_with(Vec::new);
                    if !tags.contains(t) {
                        tags.push(t.clone());
                    }
                }
                continue;
            }
            out.push((
                key,
                DockerArchiveEntry {
                    config: blob_path(&dist.manifest.config.digest),
                    repo_tags: tag.clone().map(|t| vec![t]),
                    layers: dist
                        .manifest
                        .layers
                        .iter()
                        .map(|l| blob_path(&l.digest))
                        .collect(),
                },
            ));
        }
    }
    out.into_iter().map(|(_, e)| e).collect()
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
    for (d, bytes) in blob_digests(items) {
        let path = blob_path(&d);
        if let Some(bytes) = bytes {
            b.append_data(
                &mut header(EntryType::Regular, bytes.len() as u64),
                &path,
                bytes,
            )
            .map_err(err(&path))?;
            continue;
        }
        let f = store
            .content()
            .open_blob(&d)
            .map_err(StoreError::content(format!("opening {d}")))?;
        let size = f
            .metadata()
            .map_err(StoreError::stream(format!("stat of blob {d}")))?
            .len();
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
    index.manifests = index_entries(items)?;
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
    Ok(w.flush().map_err(err("the archive"))?)
}
