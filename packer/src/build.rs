//! `packer build`: bundle in, image out. Streams the layer, writes config.json and the
//! manifest, tags them in the layout, and optionally writes the docker archive and the rootfs
//! tar. Everything is written aside (a staging folder, temporary files) and moved into place
//! last, so a failure leaves nothing half-written behind.

use crate::bundle::Bundle;
use crate::compress::Compression;
use crate::config::{ImageSettings, image_config, rfc3339};
use crate::digest::sha256_hex;
use crate::docker_archive::{DockerManifestEntry, blob_name, write_archive};
use crate::error::{Error, IoContext, Result};
use crate::fsutil::parent_of;
use crate::json::to_canonical_vec;
use crate::layer::{Progress, pack_layer};
use crate::layout::{OciLayout, persist_readable};
use crate::manifest::{Format, image_manifest};
use oci_spec::image::{Descriptor, Digest};
use std::path::{Path, PathBuf};

/// `NAME:TAG` as given to `--tag` (`NAME` alone means `NAME:latest`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    /// repository name, possibly with a registry host
    pub name: String,
    /// the tag: the layout's `org.opencontainers.image.ref.name`
    pub tag: String,
}

impl std::str::FromStr for Tag {
    type Err = Error;

    fn from_str(s: &str) -> Result<Tag> {
        let bad = |reason: &str| Error::Invalid {
            what: "tag",
            value: s.to_owned(),
            reason: reason.to_owned(),
        };
        let last_slash = s.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match s[last_slash..].rfind(':') {
            Some(i) => (&s[..last_slash + i], &s[last_slash + i + 1..]),
            None => (s, "latest"),
        };
        if name.is_empty() {
            return Err(bad("empty name"));
        }
        let (host, path) = match name.split_once('/') {
            Some((h, p)) if h.contains(['.', ':']) || h == "localhost" => (Some(h), p),
            _ => (None, name),
        };
        if let Some(h) = host
            && !h
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.:".contains(&b))
        {
            return Err(bad("invalid registry host"));
        }
        for component in path.split('/') {
            let ok = !component.is_empty()
                && component
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
                && component.as_bytes()[0].is_ascii_alphanumeric()
                && component.as_bytes()[component.len() - 1].is_ascii_alphanumeric();
            if !ok {
                return Err(bad(
                    "name components are lowercase letters, digits and . _ - inside",
                ));
            }
        }
        let tag_ok = !tag.is_empty()
            && tag.len() <= 128
            && (tag.as_bytes()[0].is_ascii_alphanumeric() || tag.as_bytes()[0] == b'_')
            && tag
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
        if !tag_ok {
            return Err(bad(
                "a tag is up to 128 of [A-Za-z0-9_.-], not starting with . or -",
            ));
        }
        Ok(Tag {
            name: name.to_owned(),
            tag: tag.to_owned(),
        })
    }
}

impl Tag {
    /// The fully qualified name Docker and containerd use (`docker.io/library/penguin:1`),
    /// written as `io.containerd.image.name` so `podman load` names the image as tagged.
    pub fn full_name(&self) -> String {
        let first = self.name.split('/').next().unwrap_or_default();
        let has_host =
            self.name.contains('/') && (first.contains(['.', ':']) || first == "localhost");
        if has_host {
            self.to_string()
        } else if self.name.contains('/') {
            format!("docker.io/{self}")
        } else {
            format!("docker.io/library/{self}")
        }
    }
}

/// The annotation containerd, Docker 25 and podman read for an image's full name.
pub const CONTAINERD_IMAGE_NAME: &str = "io.containerd.image.name";

impl std::fmt::Display for Tag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.name, self.tag)
    }
}

/// Everything `packer build` needs besides the bundle.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// config and manifest settings
    pub settings: ImageSettings,
    /// OCI or Docker media types
    pub format: Format,
    /// layer compression and level
    pub compression: Compression,
    /// compression threads (the output does not depend on it)
    pub threads: usize,
    /// `--tag` values
    pub tags: Vec<Tag>,
    /// the OCI layout folder to write (created, or added to when it is already a layout)
    pub oci_layout: PathBuf,
    /// the `docker load` archive to write
    pub docker_archive: Option<PathBuf>,
    /// the uncompressed layer tar to write
    pub rootfs_tar: Option<PathBuf>,
    /// where the bytes packed so far go (a binary's progress bar), or [`Progress::none`]
    pub progress: Progress,
}

/// The image written: what the article computed by hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildReport {
    /// the layer blob
    pub layer: Descriptor,
    /// sha256 of the uncompressed layer
    pub diff_id: Digest,
    /// size of the uncompressed layer
    pub tar_size: u64,
    /// config.json
    pub config: Descriptor,
    /// the manifest
    pub manifest: Descriptor,
    /// `NAME:TAG` references given
    pub tags: Vec<String>,
}

/// The blobs of one single-platform image written into a layout.
#[derive(Debug, Clone)]
pub struct WrittenImage {
    /// the manifest descriptor (not yet in index.json)
    pub manifest: Descriptor,
    /// the config descriptor
    pub config: Descriptor,
    /// the layer descriptor
    pub layer: Descriptor,
    /// the layer's diff id and uncompressed size
    pub diff_id: Digest,
    /// size of the uncompressed layer
    pub tar_size: u64,
}

/// Writes the layer, config and manifest blobs of one image into `layout` (not touching
/// index.json): the building block for single images and multi-platform indexes.
#[allow(clippy::too_many_arguments)] // the settings of one image, each its own kind
pub fn write_image(
    bundle: &Bundle,
    settings: &ImageSettings,
    format: Format,
    compression: Compression,
    threads: usize,
    layout: &OciLayout,
    rootfs_tar: Option<&Path>,
    progress: &Progress,
) -> Result<WrittenImage> {
    let layer_type = format.layer_type(compression)?;
    let blobs = layout.root().join("blobs").join("sha256");
    std::fs::create_dir_all(&blobs).io("create", &blobs)?;
    // tar the bundle, gzip it, digest and diff id: one pass
    let packed = pack_layer(
        bundle,
        compression,
        threads,
        settings.source_date_epoch,
        &blobs,
        rootfs_tar,
        progress,
    )?;
    let l = packed.layer;
    persist_readable(packed.blob, &layout.blob_path(&l.digest))?;
    let layer = Descriptor::new(layer_type, l.size, l.digest.clone());
    // config.json
    let config = image_config(settings, &[l.diff_id.to_string()])?;
    let config_bytes = to_canonical_vec(&config, "image config")?;
    let config = layout.put_blob(format.config_type(), &config_bytes)?;
    // the manifest
    let created = rfc3339(settings.source_date_epoch);
    let manifest = image_manifest(
        format,
        config.clone(),
        vec![layer.clone()],
        &settings.annotations,
        &created,
    )?;
    let manifest_bytes = to_canonical_vec(&manifest, "image manifest")?;
    let manifest = layout.put_blob(format.manifest_type(), &manifest_bytes)?;
    Ok(WrittenImage {
        manifest,
        config,
        layer,
        diff_id: l.diff_id,
        tar_size: l.tar_size,
    })
}

/// What is at the `--oci-layout` path before we write.
enum Target {
    /// nothing, or an empty folder: the staged layout is renamed there
    Fresh,
    /// a layout already: blobs are added, index.json updated
    Existing(OciLayout),
}

fn check_target(dir: &Path) -> Result<Target> {
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Target::Fresh),
        Err(e) => Err(e).io("read", dir),
        Ok(m) if !m.is_dir() => Err(Error::NotALayout {
            path: dir.to_path_buf(),
            reason: "exists and is not a folder".to_owned(),
        }),
        Ok(_) => {
            if dir.join(crate::layout::OCI_LAYOUT_FILE).exists() {
                return Ok(Target::Existing(OciLayout::open(dir)?));
            }
            let mut items = std::fs::read_dir(dir).io("read", dir)?;
            if items.next().is_none() {
                Ok(Target::Fresh)
            } else {
                Err(Error::NotALayout {
                    path: dir.to_path_buf(),
                    reason:
                        "a non-empty folder without an oci-layout file; refusing to write there"
                            .to_owned(),
                })
            }
        }
    }
}

/// The manifest descriptor annotated with the tag's full name.
fn named(manifest: &Descriptor, tag: &Tag) -> Descriptor {
    let mut d = manifest.clone();
    let mut a = d.annotations().clone().unwrap_or_default();
    a.insert(CONTAINERD_IMAGE_NAME.to_owned(), tag.full_name());
    d.set_annotations(Some(a));
    d
}

fn temp_beside(path: &Path) -> Result<tempfile::NamedTempFile> {
    let dir = parent_of(path);
    tempfile::Builder::new()
        .prefix(".packer-")
        .tempfile_in(dir)
        .io("create a temporary file in", dir)
}

/// Builds the image from `bundle` and writes every output named in `opts`.
pub fn build(bundle: &Bundle, opts: &BuildOptions) -> Result<BuildReport> {
    opts.format.layer_type(opts.compression)?;
    let target = check_target(&opts.oci_layout)?;
    // write aside: a staging layout beside the target, temporary files beside the others
    let stage_parent = parent_of(&opts.oci_layout);
    let staging = tempfile::Builder::new()
        .prefix(".packer-stage-")
        .tempdir_in(stage_parent)
        .io("create a folder in", stage_parent)?;
    let rootfs_tmp = opts.rootfs_tar.as_deref().map(temp_beside).transpose()?;
    let archive_tmp = opts
        .docker_archive
        .as_deref()
        .map(temp_beside)
        .transpose()?;

    let staged = OciLayout::create(staging.path())?;
    let image = write_image(
        bundle,
        &opts.settings,
        opts.format,
        opts.compression,
        opts.threads,
        &staged,
        rootfs_tmp.as_ref().map(|t| t.path()),
        &opts.progress,
    )?;
    if opts.tags.is_empty() {
        staged.add_to_index(image.manifest.clone(), None)?;
    }
    for tag in &opts.tags {
        staged.add_to_index(named(&image.manifest, tag), Some(&tag.tag))?;
    }
    let repo_tags: Vec<String> = opts.tags.iter().map(Tag::to_string).collect();

    if let (Some(tmp), Some(_)) = (&archive_tmp, &opts.docker_archive) {
        let entry = DockerManifestEntry {
            config: blob_name(image.config.digest()),
            repo_tags: repo_tags.clone(),
            layers: vec![blob_name(image.layer.digest())],
        };
        let manifest_json = to_canonical_vec(&[entry], "manifest.json")?;
        let index_json = to_canonical_vec(&staged.index()?, "index.json")?;
        write_archive(
            &staged,
            &[
                image.layer.digest().clone(),
                image.config.digest().clone(),
                image.manifest.digest().clone(),
            ],
            &index_json,
            &manifest_json,
            tmp.path(),
            opts.settings.source_date_epoch,
        )?;
    }

    // everything is complete: move it into place
    if let (Some(tmp), Some(path)) = (rootfs_tmp, &opts.rootfs_tar) {
        persist_readable(tmp, path)?;
    }
    if let (Some(tmp), Some(path)) = (archive_tmp, &opts.docker_archive) {
        persist_readable(tmp, path)?;
    }
    match target {
        Target::Fresh => {
            let staged_path = staging.keep();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&staged_path, std::fs::Permissions::from_mode(0o755))
                .io("set permissions of", &staged_path)?;
            if let Err(e) = std::fs::rename(&staged_path, &opts.oci_layout) {
                let _ = std::fs::remove_dir_all(&staged_path);
                return Err(e).io("rename into place", &opts.oci_layout);
            }
        }
        Target::Existing(layout) => {
            for d in [
                image.layer.digest(),
                image.config.digest(),
                image.manifest.digest(),
            ] {
                sha256_hex(d)?;
                let dest = layout.blob_path(d);
                if !dest.exists() {
                    let src = staged.blob_path(d);
                    std::fs::rename(&src, &dest).io("rename into place", &dest)?;
                }
            }
            if opts.tags.is_empty() {
                layout.add_to_index(image.manifest.clone(), None)?;
            }
            for tag in &opts.tags {
                layout.add_to_index(named(&image.manifest, tag), Some(&tag.tag))?;
            }
        }
    }
    Ok(BuildReport {
        layer: image.layer,
        diff_id: image.diff_id,
        tar_size: image.tar_size,
        config: image.config,
        manifest: image.manifest,
        tags: repo_tags,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Platform;
    use crate::layout::open_source;

    fn small_bundle(dir: &Path) -> Bundle {
        let f = dir.join("sh");
        std::fs::write(&f, b"#!penguin\n").unwrap();
        let mut b = Bundle::new();
        b.add_file("bin/sh", &f, Some(0o755)).unwrap();
        b.add_dir("etc", 0o755).unwrap();
        b
    }

    fn options(dir: &Path) -> BuildOptions {
        BuildOptions {
            settings: ImageSettings::default(),
            format: Format::Oci,
            compression: Compression::Gzip(crate::compress::DEFAULT_GZIP_LEVEL),
            threads: 2,
            tags: vec!["penguin:v1".parse().unwrap()],
            oci_layout: dir.join("layout"),
            docker_archive: Some(dir.join("image.tar")),
            rootfs_tar: None,
            progress: Progress::none(),
        }
    }

    #[test]
    fn open_source_reads_the_layout_and_the_archive_alike() {
        let tmp = tempfile::tempdir().unwrap();
        let report = build(&small_bundle(tmp.path()), &options(tmp.path())).unwrap();
        for spec in [
            format!("{}:v1", tmp.path().join("layout").display()),
            format!("{}:v1", tmp.path().join("image.tar").display()),
            tmp.path().join("image.tar").display().to_string(),
        ] {
            let src = open_source(&spec).unwrap();
            let desc = src.descriptor().unwrap();
            assert_eq!(desc.digest(), report.manifest.digest(), "{spec}");
            let manifest: oci_spec::image::ImageManifest = src.read_json(&desc).unwrap();
            assert_eq!(manifest.layers()[0].digest(), report.layer.digest());
            assert!(src.blob_path(report.layer.digest()).is_file());
        }
        let err = open_source(&format!("{}:v2", tmp.path().join("layout").display()))
            .unwrap()
            .descriptor()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no image tagged \"v2\"") && err.ends_with("tags there: v1"),
            "{err}"
        );
    }

    #[test]
    fn an_index_over_two_platforms_verifies() {
        let tmp = tempfile::tempdir().unwrap();
        let bundle = small_bundle(tmp.path());
        let layout = OciLayout::create(tmp.path().join("multi")).unwrap();
        let mut images = Vec::new();
        for platform in ["linux/amd64", "linux/arm64/v8"] {
            let platform: Platform = platform.parse().unwrap();
            let settings = ImageSettings {
                platform: platform.clone(),
                ..Default::default()
            };
            let img = write_image(
                &bundle,
                &settings,
                Format::Oci,
                Compression::Gzip(3),
                1,
                &layout,
                None,
                &Progress::none(),
            )
            .unwrap();
            images.push((img.manifest, platform));
        }
        let index = crate::index::image_index(Format::Oci, &images, &Default::default()).unwrap();
        let bytes = to_canonical_vec(&index, "index").unwrap();
        let desc = layout
            .put_blob(oci_spec::image::MediaType::ImageIndex, &bytes)
            .unwrap();
        layout.add_to_index(desc, Some("multi")).unwrap();
        let report =
            crate::inspect::inspect(&format!("{}:multi", layout.root().display())).unwrap();
        assert_eq!(report.indexes.len(), 1);
        let arches: Vec<String> = report
            .images
            .iter()
            .map(|i| i.config.architecture().to_string())
            .collect();
        assert_eq!(arches, ["amd64", "arm64"]);
    }

    #[test]
    fn tags_parse_like_docker_references() {
        let t: Tag = "penguin".parse().unwrap();
        assert_eq!(t.to_string(), "penguin:latest");
        let t: Tag = "localhost:5000/a/b:v1.0".parse().unwrap();
        assert_eq!(
            (t.name.as_str(), t.tag.as_str()),
            ("localhost:5000/a/b", "v1.0")
        );
        let t: Tag = "localhost:5000/penguin".parse().unwrap();
        assert_eq!(t.tag, "latest");
        assert_eq!(t.full_name(), "localhost:5000/penguin:latest");
        let t: Tag = "me/penguin:2".parse().unwrap();
        assert_eq!(t.full_name(), "docker.io/me/penguin:2");
        let t: Tag = "penguin:2".parse().unwrap();
        assert_eq!(t.full_name(), "docker.io/library/penguin:2");
        for bad in ["", "Penguin:1", "a:", "a:-x", "a//b:1", ":1", "a:b:c"] {
            let err = bad.parse::<Tag>().unwrap_err().to_string();
            assert!(err.starts_with("invalid tag"), "{bad}: {err}");
        }
    }
}
