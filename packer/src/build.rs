//! `packer build`: bundle in, image out. Streams the layer, writes config.json and the
//! manifest, tags them in the layout, and optionally writes the docker archive and the rootfs
//! tar. Every output is checked first (never a device, fifo or socket, no path given twice, a
//! readable index.json in an existing layout); everything is written aside (a staging folder,
//! temporary files named `.packer-<pid>-…`) and moved into place last, so a failure leaves
//! nothing half-written behind; an existing layout is updated under its lock.

use crate::apply::{ConfigEditor, Step};
use crate::base::BaseImage;
use crate::bundle::Bundle;
use crate::compress::Compression;
use crate::config::{ImageSettings, Platform, image_config, rfc3339};
use crate::digest::sha256_hex;
use crate::docker_archive::{DockerManifestEntry, blob_name, write_archive};
use crate::error::{Error, IoContext, Result};
use crate::fsutil::{
    Output, check_output, clean_stale, output_key, parent_of, temp_dir_in, temp_file_in,
};
use crate::json::to_canonical_vec;
use crate::layer::{Progress, pack_layer};
use crate::layout::{OciLayout, persist_readable};
use crate::manifest::{Format, image_manifest};
use crate::reference::Reference;
use oci_spec::image::{Descriptor, Digest};
use std::path::{Path, PathBuf};

/// `NAME:TAG` as given to `--tag` (`NAME` alone means `NAME:latest`), parsed with the one
/// reference grammar ([`Reference`]); a digest is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    /// repository name as given, possibly with a registry host
    pub name: String,
    /// the tag
    pub tag: String,
    reference: Reference,
}

impl std::str::FromStr for Tag {
    type Err = Error;

    fn from_str(s: &str) -> Result<Tag> {
        let bad = |reason: &str| Error::Invalid {
            what: "tag",
            value: s.to_owned(),
            reason: reason.to_owned(),
        };
        let mut reference = Reference::parse(s).map_err(|e| bad(e.reason))?;
        if reference.digest.is_some() {
            return Err(bad("a tag names no digest"));
        }
        let tag = reference
            .tag
            .get_or_insert_with(|| "latest".to_owned())
            .clone();
        let name = s
            .strip_suffix(&format!(":{tag}"))
            .filter(|_| s.rfind(':') > s.rfind('/'))
            .unwrap_or(s);
        Ok(Tag {
            name: name.to_owned(),
            tag,
            reference,
        })
    }
}

impl Tag {
    /// The fully qualified name Docker and containerd use (`docker.io/library/penguin:1`),
    /// written as `io.containerd.image.name` so `podman load` and `ctr image import` name the
    /// image as tagged.
    pub fn full_name(&self) -> String {
        self.reference.to_string()
    }

    /// The parsed reference (tag filled in).
    pub fn reference(&self) -> &Reference {
        &self.reference
    }
}

/// The annotation containerd, Docker 25 and podman read for an image's full name.
pub const CONTAINERD_IMAGE_NAME: &str = "io.containerd.image.name";

impl std::fmt::Display for Tag {
    /// `NAME:TAG` as given: the layout's `org.opencontainers.image.ref.name`, and what
    /// skopeo's `oci:DIR:NAME:TAG` selects.
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

/// The outputs of one build, checked before anything is written.
struct Outputs {
    rootfs_tar: Option<Output>,
    docker_archive: Option<Output>,
}

/// Checks every output before anything is written: the layout folder (see [`check_target`]),
/// the files (see [`check_output`]: never a device, fifo, socket or folder; `-` is standard
/// output), and that no two outputs are the same path.
fn check_outputs(opts: &BuildOptions) -> Result<(Target, Outputs)> {
    if opts.oci_layout.as_os_str() == "-" {
        return Err(Error::Invalid {
            what: "oci layout",
            value: "-".to_owned(),
            reason: "an oci layout is a folder, it cannot go to standard output".to_owned(),
        });
    }
    let mut named: Vec<(&str, &Path)> = vec![("--oci-layout", opts.oci_layout.as_path())];
    named.extend(
        opts.docker_archive
            .as_deref()
            .map(|p| ("--docker-archive", p)),
    );
    named.extend(opts.rootfs_tar.as_deref().map(|p| ("--rootfs-tar", p)));
    for (i, (flag_a, a)) in named.iter().enumerate() {
        for (flag_b, b) in &named[i + 1..] {
            let same = if a.as_os_str() == "-" || b.as_os_str() == "-" {
                a == b
            } else {
                output_key(a) == output_key(b) || same_file(a, b)
            };
            if same {
                return Err(Error::Invalid {
                    what: "output",
                    value: b.display().to_string(),
                    reason: format!(
                        "given to both {flag_a} and {flag_b}; each output needs its own path"
                    ),
                });
            }
        }
    }
    let rootfs_tar = opts
        .rootfs_tar
        .as_deref()
        .map(|p| check_output("rootfs tar", p, true))
        .transpose()?;
    let docker_archive = opts
        .docker_archive
        .as_deref()
        .map(|p| check_output("docker archive", p, true))
        .transpose()?;
    let target = check_target(&opts.oci_layout)?;
    if let Target::Existing(layout) = &target {
        // a layout whose index.json cannot be read would fail only at the end
        layout.index()?;
    }
    Ok((
        target,
        Outputs {
            rootfs_tar,
            docker_archive,
        },
    ))
}

/// Whether two existing paths are the same file (through links).
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

/// A temporary file for an output: beside the file it replaces, or in the system's temporary
/// folder for standard output.
fn temp_for(output: &Output) -> Result<tempfile::NamedTempFile> {
    match output {
        Output::File(path) => temp_file_in(parent_of(path)),
        Output::Stdout => temp_file_in(&std::env::temp_dir()),
    }
}

/// Moves a finished output into place, or streams it to standard output.
fn finish_output(tmp: tempfile::NamedTempFile, output: &Output) -> Result<()> {
    match output {
        Output::File(path) => persist_readable(tmp, path),
        Output::Stdout => {
            let mut file = tmp.reopen().io("read", tmp.path().to_path_buf())?;
            let mut out = std::io::stdout().lock();
            std::io::copy(&mut file, &mut out).io("write", "standard output")?;
            std::io::Write::flush(&mut out).io("write", "standard output")
        }
    }
}

/// The blobs of an image written into the staging layout: what the outputs are made of.
struct Staged {
    manifest: Descriptor,
    config: Descriptor,
    /// every layer, the base's first
    layers: Vec<Descriptor>,
}

impl Staged {
    fn digests(&self) -> Vec<Digest> {
        self.layers
            .iter()
            .chain([&self.config, &self.manifest])
            .map(|d| d.digest().clone())
            .collect()
    }
}

/// Moves the staged blobs into an existing layout and tags them, under the layout's lock.
fn add_to_existing(
    layout: &OciLayout,
    staged: &OciLayout,
    image: &Staged,
    tags: &[Tag],
) -> Result<()> {
    let lock = layout.lock()?;
    // re-read under the lock: nothing is moved into a layout whose index cannot be updated
    layout.index()?;
    for d in image.digests() {
        sha256_hex(&d)?;
        let dest = layout.blob_path(&d);
        if !dest.is_file() {
            let src = staged.blob_path(&d);
            std::fs::rename(&src, &dest).io("rename into place", &dest)?;
        }
    }
    if tags.is_empty() {
        lock.add_to_index(image.manifest.clone(), None)?;
    }
    for tag in tags {
        lock.add_to_index(named(&image.manifest, tag), Some(&tag.to_string()))?;
    }
    Ok(())
}

/// Removes the leftovers of killed builds from the folders this build writes into.
fn clean_leftovers(opts: &BuildOptions) {
    clean_stale(parent_of(&opts.oci_layout));
    clean_stale(&opts.oci_layout.join("blobs").join("sha256"));
    for p in [&opts.docker_archive, &opts.rootfs_tar]
        .into_iter()
        .flatten()
    {
        if p.as_os_str() != "-" {
            clean_stale(parent_of(p));
        }
    }
}

/// Builds the image from `bundle` and writes every output named in `opts`. Every output is
/// checked before anything is written; `-` as the docker archive or the rootfs tar streams it
/// to standard output once everything else is in place.
pub fn build(bundle: &Bundle, opts: &BuildOptions) -> Result<BuildReport> {
    opts.format.layer_type(opts.compression)?;
    let mut written = None;
    let repo_tags = write_outputs(opts, |staged, _, rootfs_tmp| {
        let image = write_image(
            bundle,
            &opts.settings,
            opts.format,
            opts.compression,
            opts.threads,
            staged,
            rootfs_tmp,
            &opts.progress,
        )?;
        let staged = Staged {
            manifest: image.manifest.clone(),
            config: image.config.clone(),
            layers: vec![image.layer.clone()],
        };
        written = Some(image);
        Ok(staged)
    })?;
    let image = written.expect("written before the outputs");
    Ok(BuildReport {
        layer: image.layer,
        diff_id: image.diff_id,
        tar_size: image.tar_size,
        config: image.config,
        manifest: image.manifest,
        tags: repo_tags,
    })
}

/// Checks every output, stages the image with `write` (given the staging layout, the
/// existing target layout if any, and the rootfs tar's temporary path), writes the docker
/// archive, and moves everything into place. Returns the `NAME:TAG`s tagged.
fn write_outputs(
    opts: &BuildOptions,
    write: impl FnOnce(&OciLayout, Option<&OciLayout>, Option<&Path>) -> Result<Staged>,
) -> Result<Vec<String>> {
    let (target, outputs) = check_outputs(opts)?;
    clean_leftovers(opts);
    // write aside: a staging layout beside the target, temporary files beside the others
    let stage_parent = parent_of(&opts.oci_layout);
    let staging = temp_dir_in(stage_parent)?;
    let rootfs_tmp = outputs.rootfs_tar.as_ref().map(temp_for).transpose()?;
    let archive_tmp = outputs.docker_archive.as_ref().map(temp_for).transpose()?;

    let staged = OciLayout::create(staging.path())?;
    let existing = match &target {
        Target::Existing(layout) => Some(layout),
        Target::Fresh => None,
    };
    let image = write(&staged, existing, rootfs_tmp.as_ref().map(|t| t.path()))?;
    if opts.tags.is_empty() {
        staged.add_to_index(image.manifest.clone(), None)?;
    }
    for tag in &opts.tags {
        staged.add_to_index(named(&image.manifest, tag), Some(&tag.to_string()))?;
    }
    let repo_tags: Vec<String> = opts.tags.iter().map(Tag::to_string).collect();

    if let Some(tmp) = &archive_tmp {
        let entry = DockerManifestEntry {
            config: blob_name(image.config.digest()),
            repo_tags: repo_tags.clone(),
            layers: image.layers.iter().map(|l| blob_name(l.digest())).collect(),
        };
        let manifest_json = to_canonical_vec(&[entry], "manifest.json")?;
        let index_json = to_canonical_vec(&staged.index()?, "index.json")?;
        write_archive(
            &staged,
            &image.digests(),
            &index_json,
            Some(&manifest_json),
            tmp.path(),
            opts.settings.source_date_epoch,
        )?;
    }

    // everything is complete: move it into place, the layout first
    match target {
        Target::Fresh => {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(staging.path(), std::fs::Permissions::from_mode(0o755))
                .io("set permissions of", staging.path())?;
            if let Err(e) = std::fs::rename(staging.path(), &opts.oci_layout) {
                // another build made the layout meanwhile: add to it instead
                let raced = matches!(e.raw_os_error(), Some(libc::ENOTEMPTY | libc::EEXIST));
                match check_target(&opts.oci_layout) {
                    Ok(Target::Existing(layout)) if raced => {
                        add_to_existing(&layout, &staged, &image, &opts.tags)?;
                    }
                    _ => return Err(e).io("rename into place", &opts.oci_layout),
                }
            } else {
                // renamed: nothing left to remove
                let _ = staging.keep();
            }
        }
        Target::Existing(layout) => add_to_existing(&layout, &staged, &image, &opts.tags)?,
    }
    if let (Some(tmp), Some(out)) = (rootfs_tmp, &outputs.rootfs_tar) {
        finish_output(tmp, out)?;
    }
    if let (Some(tmp), Some(out)) = (archive_tmp, &outputs.docker_archive) {
        finish_output(tmp, out)?;
    }
    Ok(repo_tags)
}

/// Where a new layer's `created_by` (in [`PlanStep::Layer`]) takes the layer's diff id, in
/// hex: Docker writes a hash of the copied content there (`COPY file:<hash> in /bin/ `).
pub const DIFF_ID_HEX: &str = "{diff_id_hex}";

/// One step of a build in steps: a new layer from a bundle, or a change to the config.
#[derive(Debug, Clone)]
pub enum PlanStep {
    /// A new layer.
    Layer {
        /// what goes in it
        bundle: Bundle,
        /// its history's `created_by` ([`DIFF_ID_HEX`] is replaced by its diff id)
        created_by: String,
        /// its history's `comment`
        comment: Option<String>,
    },
    /// A change to the config, with its `empty_layer` history entry.
    Config(Step),
    /// A change to the config whose history entry is the next layer's (`WORKDIR`, which
    /// Docker's builder commits as a layer holding the folder).
    ConfigOfLayer(Step),
}

/// A build in steps, on a base or from scratch: what `packer build --base` and
/// `packer build --file` make.
#[derive(Debug)]
pub struct Plan {
    /// the base image; `None` is `FROM scratch`
    pub base: Option<BaseImage>,
    /// the platform of a scratch image (a base brings its own)
    pub platform: Platform,
    /// give the image Docker's default `PATH` when it sets none (as a Dockerfile stage does)
    pub default_path: bool,
    /// the steps, in order
    pub steps: Vec<PlanStep>,
    /// temporary folders the bundles read from (an `ADD`ed archive's files), removed with
    /// the plan
    pub keep: Vec<tempfile::TempDir>,
}

/// A layer a build in steps added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLayer {
    /// the layer blob
    pub layer: Descriptor,
    /// sha256 of the uncompressed layer
    pub diff_id: Digest,
    /// size of the uncompressed layer
    pub tar_size: u64,
}

/// The image a build in steps wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanReport {
    /// the base's manifest (its platform's), if any
    pub base: Option<Descriptor>,
    /// the base's layers, untouched
    pub base_layers: Vec<Descriptor>,
    /// the layers added, in order
    pub layers: Vec<NewLayer>,
    /// config.json
    pub config: Descriptor,
    /// the manifest
    pub manifest: Descriptor,
    /// `NAME:TAG` references given
    pub tags: Vec<String>,
}

/// The manifest family of a build in steps: `format`, else OCI (the layout is an OCI
/// layout, and umoci and skopeo read only OCI manifests there). A base's layers keep their
/// blobs; their descriptors name the same encoding in that family
/// ([`BaseImage::layers_for`]), which fails for a zstd base layer in a Docker manifest.
pub fn plan_format(plan: &Plan, format: Option<Format>) -> Result<Format> {
    let format = format.unwrap_or_default();
    if let Some(base) = &plan.base {
        base.layers_for(format)?;
    }
    Ok(format)
}

/// Builds an image in steps (on `plan.base`, or from scratch) and writes every output named in
/// `opts` (`opts.settings` gives the date and the manifest annotations; the config comes from
/// the base and the steps). The base's layers are linked into the layout (a layout that has
/// them already keeps its copies), every new layer is packed as [`build`] packs one.
/// `opts.format` is the manifest's family, the base's layers named in it ([`plan_format`]);
/// `--rootfs-tar` is refused: it holds one layer, and this image has several.
pub fn build_plan(plan: &Plan, opts: &BuildOptions) -> Result<PlanReport> {
    if let Some(p) = &opts.rootfs_tar {
        return Err(Error::Invalid {
            what: "output",
            value: p.display().to_string(),
            reason: "--rootfs-tar writes one layer; an image on a base or from a Containerfile \
                     has its layers in the layout"
                .to_owned(),
        });
    }
    let format = plan_format(plan, Some(opts.format))?;
    let layer_type = format.layer_type(opts.compression)?;
    let mut layers = Vec::new();
    let mut report = None;
    let repo_tags = write_outputs(opts, |staged, existing, _| {
        let created = rfc3339(opts.settings.source_date_epoch);
        let mut editor = match &plan.base {
            Some(base) => base.editor(&created)?,
            None => ConfigEditor::scratch(&plan.platform, &created),
        };
        if plan.default_path {
            editor.set_default_path();
        }
        let mut all = Vec::new();
        if let Some(base) = &plan.base {
            base.link_layers(staged, existing)?;
            all.extend(base.layers_for(format)?);
        }
        let blobs = staged.root().join("blobs").join("sha256");
        let mut done = 0;
        for step in &plan.steps {
            let (bundle, created_by, comment) = match step {
                PlanStep::Config(step) => {
                    editor.apply(step)?;
                    continue;
                }
                PlanStep::ConfigOfLayer(step) => {
                    editor.apply_without_history(step)?;
                    continue;
                }
                PlanStep::Layer {
                    bundle,
                    created_by,
                    comment,
                } => (bundle, created_by, comment),
            };
            let packed = pack_layer(
                bundle,
                opts.compression,
                opts.threads,
                opts.settings.source_date_epoch,
                &blobs,
                None,
                &opts.progress.offset(done),
            )?;
            done += crate::layer::content_size(bundle);
            let l = packed.layer;
            persist_readable(packed.blob, &staged.blob_path(&l.digest))?;
            let layer = Descriptor::new(layer_type.clone(), l.size, l.digest.clone());
            editor.apply(&Step::Layer {
                diff_id: l.diff_id.clone(),
                created_by: created_by.replace(DIFF_ID_HEX, l.diff_id.digest()),
                comment: comment.clone(),
            })?;
            all.push(layer.clone());
            layers.push(NewLayer {
                layer,
                diff_id: l.diff_id,
                tar_size: l.tar_size,
            });
        }
        let config_bytes = editor.finish()?;
        let config = staged.put_blob(format.config_type(), &config_bytes)?;
        let manifest = image_manifest(
            format,
            config.clone(),
            all.clone(),
            &opts.settings.annotations,
            &created,
        )?;
        let manifest_bytes = to_canonical_vec(&manifest, "image manifest")?;
        let manifest = staged.put_blob(format.manifest_type(), &manifest_bytes)?;
        report = Some((config.clone(), manifest.clone()));
        Ok(Staged {
            manifest,
            config,
            layers: all,
        })
    })?;
    let (config, manifest) = report.expect("written before the outputs");
    Ok(PlanReport {
        base: plan.base.as_ref().map(BaseImage::descriptor),
        base_layers: plan
            .base
            .as_ref()
            .map(|b| b.layers().to_vec())
            .unwrap_or_default(),
        layers,
        config,
        manifest,
        tags: repo_tags,
    })
}

/// Test fixture: writes `bundle` as one image per platform (linux/amd64 and linux/arm64/v8)
/// into `layout`, an index over them, and tags the index `tag`.
#[cfg(test)]
pub(crate) fn write_two_platform_index(bundle: &Bundle, layout: &OciLayout, level: u32, tag: &str) {
    let mut images = Vec::new();
    for platform in ["linux/amd64", "linux/arm64/v8"] {
        let platform: Platform = platform.parse().unwrap();
        let settings = ImageSettings {
            platform: platform.clone(),
            ..Default::default()
        };
        let img = write_image(
            bundle,
            &settings,
            Format::Oci,
            Compression::Gzip(level),
            1,
            layout,
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
    layout.add_to_index(desc, Some(tag)).unwrap();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::ImageName;
    use std::io::Read;

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
    fn sources_read_the_layout_and_the_archive_alike() {
        let tmp = tempfile::tempdir().unwrap();
        let report = build(&small_bundle(tmp.path()), &options(tmp.path())).unwrap();
        let open = |spec: &str| crate::source::open(&ImageName::parse(spec).unwrap());
        for spec in [
            format!("{}:v1", tmp.path().join("layout").display()),
            format!("{}:v1", tmp.path().join("image.tar").display()),
            format!("oci-archive:{}", tmp.path().join("image.tar").display()),
            format!(
                "docker-archive:{}:penguin:v1",
                tmp.path().join("image.tar").display()
            ),
            tmp.path().join("image.tar").display().to_string(),
        ] {
            let src = open(&spec).unwrap();
            let top = src.top().unwrap();
            assert_eq!(top.digest(), report.manifest.digest(), "{spec}");
            let layer = &top.blobs()[1];
            assert_eq!(layer.digest(), report.layer.digest());
            let mut bytes = Vec::new();
            src.open_blob(layer)
                .unwrap()
                .read_to_end(&mut bytes)
                .unwrap();
            assert_eq!(crate::digest::sha256_digest(&bytes), *layer.digest());
        }
        let err = open(&format!("{}:v2", tmp.path().join("layout").display()))
            .unwrap()
            .top()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no image tagged \"v2\"") && err.ends_with("tags there: penguin:v1"),
            "{err}"
        );
    }

    #[test]
    fn an_index_over_two_platforms_verifies() {
        let tmp = tempfile::tempdir().unwrap();
        let bundle = small_bundle(tmp.path());
        let layout = OciLayout::create(tmp.path().join("multi")).unwrap();
        write_two_platform_index(&bundle, &layout, 3, "multi");
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
    fn an_image_on_a_base_keeps_its_layers_and_links_its_blobs() {
        use std::os::unix::fs::MetadataExt;
        let tmp = tempfile::tempdir().unwrap();
        let mut base_opts = options(tmp.path());
        base_opts.settings.env = vec!["PATH=/base/bin".into(), "HOME=/root".into()];
        base_opts.settings.cmd = vec!["sh".into()];
        let base_report = build(&small_bundle(tmp.path()), &base_opts).unwrap();
        let name = ImageName::parse(&format!(
            "oci:{}:penguin:v1",
            tmp.path().join("layout").display()
        ))
        .unwrap();
        let plan = || Plan {
            base: Some(BaseImage::open(&name, None).unwrap()),
            platform: Platform::default(),
            default_path: false,
            keep: Vec::new(),
            steps: vec![
                PlanStep::Layer {
                    bundle: {
                        let mut b = Bundle::new();
                        b.add_dir("home", 0o700).unwrap();
                        b
                    },
                    created_by: format!("COPY file:{DIFF_ID_HEX} in / "),
                    comment: None,
                },
                PlanStep::Config(Step::Env(vec![("HOME".into(), "/home".into())])),
                PlanStep::Config(Step::Entrypoint(vec!["/bin/sh".into()])),
            ],
        };
        let mut opts = options(tmp.path());
        opts.oci_layout = tmp.path().join("out");
        opts.docker_archive = Some(tmp.path().join("out.tar"));
        opts.tags = vec!["on-base:1".parse().unwrap()];
        let first = build_plan(&plan(), &opts).unwrap();
        assert_eq!(first.base_layers, std::slice::from_ref(&base_report.layer));
        assert_eq!(first.layers.len(), 1);
        // the base blob is the same file, linked
        let a = std::fs::metadata(
            tmp.path()
                .join("layout/blobs/sha256")
                .join(base_report.layer.digest().digest()),
        )
        .unwrap();
        let b = std::fs::metadata(
            tmp.path()
                .join("out/blobs/sha256")
                .join(base_report.layer.digest().digest()),
        )
        .unwrap();
        assert_eq!((a.dev(), a.ino()), (b.dev(), b.ino()));
        let out =
            crate::inspect::inspect(&format!("{}:1", tmp.path().join("out").display())).unwrap();
        let img = &out.images[0];
        assert_eq!(img.layers.len(), 2);
        assert_eq!(img.layers[0].0, base_report.layer);
        let cfg = img.config.config().clone().unwrap();
        assert_eq!(cfg.env().clone().unwrap(), ["PATH=/base/bin", "HOME=/home"]);
        assert_eq!(cfg.entrypoint().clone().unwrap(), ["/bin/sh"]);
        assert!(
            cfg.cmd().is_none(),
            "the base's Cmd is cleared by --entrypoint"
        );
        let history = img.config.history().clone().unwrap();
        assert_eq!(history.len(), 4);
        assert_eq!(
            history[1].created_by().as_deref().unwrap(),
            format!("COPY file:{} in / ", first.layers[0].diff_id.digest())
        );
        assert_eq!(history[3].empty_layer(), Some(true));
        // the archive carries every layer
        let archive =
            crate::inspect::inspect(&tmp.path().join("out.tar").display().to_string()).unwrap();
        assert_eq!(archive.images[0].layers.len(), 2);
        // twice: the same digests, the base blob reused
        std::fs::remove_file(tmp.path().join("out.tar")).unwrap();
        let second = build_plan(&plan(), &opts).unwrap();
        assert_eq!(second, first);
        // a platform the base is not
        let err = BaseImage::open(&name, Some(&"linux/arm64".parse().unwrap()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("is linux/amd64"), "{err}");
        let reg = ImageName::parse("docker://localhost:5000/busybox:1").unwrap();
        let err = BaseImage::open(&reg, None).unwrap_err().to_string();
        assert_eq!(
            err,
            "packer reads no registry; fetch the base first: pusher copy docker://localhost:5000/busybox:1 oci:DIR"
        );
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
        let t: Tag = "localhost/a/b".parse().unwrap();
        assert_eq!(t.full_name(), "localhost/a/b:latest");
        let t: Tag = "index.docker.io/me/penguin:2".parse().unwrap();
        assert_eq!(t.full_name(), "docker.io/me/penguin:2");
        for bad in [
            "",
            "Penguin:1",
            "a:",
            "a:-x",
            "a//b:1",
            ":1",
            "a:b:c",
            "a..b:1",
            "a@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ] {
            let err = bad.parse::<Tag>().unwrap_err().to_string();
            assert!(err.starts_with("invalid tag"), "{bad}: {err}");
        }
    }
}
