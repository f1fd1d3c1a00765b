//! Writing an image to disk, whatever will hold it: [`DiskSink`] for an OCI layout folder
//! (`oci:DIR[:NAME]`) or an archive (`oci-archive:FILE[:NAME]`, `docker-archive:FILE[:NAME:TAG]`).
//!
//! Blobs go into a layout as they come ([`DiskSink::layout`], each verified and renamed into
//! place); [`DiskSink::commit`] writes the manifests and names the image in `index.json`. An
//! archive is assembled in a staging layout beside the file and written as one tar (the hybrid
//! packer writes: an OCI layout plus the `manifest.json` `docker load` reads), then renamed
//! into place: an interrupted copy leaves no half-written archive.

use crate::build::CONTAINERD_IMAGE_NAME;
use crate::docker_archive::{DockerManifestEntry, blob_name, write_archive};
use crate::error::{Error, Result};
use crate::json::to_canonical_vec;
use crate::layout::OciLayout;
use crate::model::{Manifest, Parsed};
use crate::reference::Reference;
use crate::transport::ImageName;
use std::path::{Path, PathBuf};

/// Where a copy writes on disk.
pub struct DiskSink {
    layout: OciLayout,
    /// `org.opencontainers.image.ref.name` to give the image
    name: Option<String>,
    /// the full name (`io.containerd.image.name`)
    full_name: Option<String>,
    archive: Option<Archive>,
}

struct Archive {
    file: PathBuf,
    /// `docker-archive:` (one image, `manifest.json` required) rather than `oci-archive:`
    docker: bool,
    _staging: tempfile::TempDir,
}

/// `alpha:v1` for `docker.io/library/alpha:v1`, as `docker save` writes `RepoTags`.
fn familiar(r: &Reference) -> String {
    let full = r.to_string();
    for prefix in ["docker.io/library/", "docker.io/"] {
        if let Some(rest) = full.strip_prefix(prefix) {
            return rest.to_owned();
        }
    }
    full
}

impl DiskSink {
    /// Opens the destination `name` names; `docker://` is not a disk.
    pub fn open(name: &ImageName) -> Result<DiskSink> {
        let (file, ref_name, full_name, docker) = match name {
            ImageName::Oci { dir, name } => {
                return Ok(DiskSink {
                    layout: OciLayout::open_for_writing(dir)?,
                    name: name.clone(),
                    full_name: name
                        .as_deref()
                        .and_then(|n| Reference::parse(n).ok())
                        .map(|r| r.to_string()),
                    archive: None,
                });
            }
            ImageName::OciArchive { file, name } => (
                file,
                name.clone(),
                name.as_deref()
                    .and_then(|n| Reference::parse(n).ok())
                    .map(|r| r.to_string()),
                false,
            ),
            ImageName::DockerArchive { file, name } => (
                file,
                name.as_ref().map(familiar),
                name.as_ref().map(ToString::to_string),
                true,
            ),
            ImageName::Docker(r) => {
                return Err(Error::Invalid {
                    what: "destination",
                    value: format!("docker://{r}"),
                    reason: "a registry is not a disk; pusher writes to registries".to_owned(),
                });
            }
        };
        if file.is_dir() {
            return Err(Error::Malformed {
                what: file.display().to_string(),
                reason: "is a folder; an archive is a file (write a folder with oci:DIR)"
                    .to_owned(),
            });
        }
        let staging = crate::fsutil::temp_dir_in(crate::fsutil::parent_of(file))?;
        Ok(DiskSink {
            layout: OciLayout::create(staging.path())?,
            name: ref_name,
            full_name,
            archive: Some(Archive {
                file: file.clone(),
                docker,
                _staging: staging,
            }),
        })
    }

    /// The layout blobs are written into (the destination folder, or the archive's staging).
    pub fn layout(&self) -> &OciLayout {
        &self.layout
    }

    /// The file or folder written, for messages.
    pub fn target(&self) -> &Path {
        match &self.archive {
            Some(a) => &a.file,
            None => self.layout.root(),
        }
    }

    /// Writes `children` and `top` (blobs must be in [`DiskSink::layout`] already), names
    /// `top` in `index.json`, and for an archive writes the tar and renames it into place.
    pub fn commit(self, top: &Manifest, children: &[Manifest]) -> Result<()> {
        for m in children.iter().chain(std::iter::once(top)) {
            self.layout.write_blob(&m.descriptor(), m.bytes())?;
        }
        let mut desc = top.descriptor();
        if let Some(full) = &self.full_name {
            let mut annotations = std::collections::HashMap::new();
            annotations.insert(CONTAINERD_IMAGE_NAME.to_owned(), full.clone());
            desc.set_annotations(Some(annotations));
        }
        self.layout.add_to_index(desc, self.name.as_deref())?;
        let Some(archive) = &self.archive else {
            return Ok(());
        };
        let mut blobs = Vec::new();
        for m in children.iter().chain(std::iter::once(top)) {
            blobs.push(m.digest().clone());
            blobs.extend(m.blobs().iter().map(|d| d.digest().clone()));
        }
        let docker_entries = match (top.parsed(), archive.docker) {
            (Parsed::Image(image), _) => vec![DockerManifestEntry {
                config: blob_name(image.config().digest()),
                repo_tags: self.name.iter().cloned().collect(),
                layers: image
                    .layers()
                    .iter()
                    .map(|l| blob_name(l.digest()))
                    .collect(),
            }],
            (Parsed::Index(_), false) => Vec::new(),
            (Parsed::Index(_), true) => {
                return Err(Error::Malformed {
                    what: archive.file.display().to_string(),
                    reason: format!(
                        "{} is an index; a docker-archive holds one image: choose it with \
                         --platform, or write oci-archive:",
                        top.digest()
                    ),
                });
            }
        };
        let what = archive.file.display().to_string();
        let index_json = to_canonical_vec(&self.layout.index()?, &what)?;
        let manifest_json = if docker_entries.is_empty() {
            None
        } else {
            Some(to_canonical_vec(&docker_entries, &what)?)
        };
        let dir = crate::fsutil::parent_of(&archive.file);
        let tmp = crate::fsutil::temp_file_in(dir)?;
        write_archive(
            &self.layout,
            &blobs,
            &index_json,
            manifest_json.as_deref(),
            tmp.path(),
            0,
        )?;
        crate::layout::persist_readable(tmp, &archive.file)
    }
}
