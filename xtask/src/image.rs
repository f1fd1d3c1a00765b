//! `cargo xtask image`: the whole article, from shell binaries to a runnable (pushed) image,
//! for every platform whose static shell builds here.
//!
//! 1. build the penguin shell for each platform's musl target and check it is static and
//!    built for that machine (`xtask shell`);
//! 2. assemble a bundle per platform: `bin/penguinshell dev etc proc sys` (`xtask chroot`);
//! 3. per platform: tar it, gzip it, take digest, diff id and size, write config.json and the
//!    manifest (packer); over several platforms, an image index with each one's platform;
//! 4. write the OCI layout (tag `latest` on the index), a `docker load` archive and a
//!    `docker import` tarball of the host's image (Docker 20.10 loads one platform);
//! 5. with `--push REFERENCE`: token, upload, commit, every manifest, then the index (pusher).
//!    The login (ping, token) starts first and runs while 1 to 3 happen; each platform's
//!    blobs go up as soon as they are written.
//!
//! Outputs are built aside in a staging folder under `--out` and moved into place last, so a
//! failure leaves the previous image whole. A second run with nothing changed rebuilds
//! nothing: a stamp records the inputs (each shell's digest and every image setting) and the
//! digests they gave.

mod base;

use crate::shell::{HOST, SHELL_TARGETS, ShellTarget};
use crate::util::{project_root, shown};
use anyhow::{Context, Result, bail};
use packer::OciLayout;
use packer::build::{CONTAINERD_IMAGE_NAME, Tag, WrittenImage, write_image};
use packer::compress::Compression;
use packer::config::{ImageSettings, Platform};
use packer::docker_archive::{DockerManifestEntry, blob_name, write_archive};
use packer::json::to_canonical_vec;
use packer::manifest::Format;
use packer::oci_spec::image::{Descriptor, Digest};
use pusher::auth::Credential;
use pusher::client::{Client, ClientOptions};
use pusher::progress::{BlobOutcome, Progress};
use pusher::push::push_manifest;
use pusher::reference::Reference;
use pusher::upload::{Blob, UploadOptions, upload_blob};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread::JoinHandle;

/// The image's tag in the OCI layout and in the `docker load` archive.
pub const LOCAL_TAG: &str = "penguinshell:latest";
/// The image runs the shell...
pub const ENTRYPOINT: &str = "/bin/penguinshell";
/// ...which finds programs in /bin.
pub const ENV: &str = "PATH=/bin";

/// Arguments of `cargo xtask image`.
#[derive(clap::Args)]
pub struct Args {
    /// Push the image to this reference, e.g. 127.0.0.1:5000/user/penguinshell:latest
    #[arg(long, value_name = "REFERENCE")]
    push: Option<String>,
    /// Platforms, comma-separated (linux/amd64,linux/arm64,linux/386), or all of them;
    /// several give one image index
    #[arg(long, value_name = "LIST|all", default_value = "all")]
    platform: String,
    /// Media types: OCI (default) or Docker v2 schema 2, as in the article
    #[arg(long, value_enum, default_value = "oci")]
    format: FormatArg,
    /// Where to write the bundle and the image
    #[arg(long, value_name = "DIR", default_value = "target/image")]
    out: PathBuf,
    /// Build the host's image on this base image from a registry (fetched once per digest
    /// into OUT/base, written to OUT/on-base), pushed with its layers mounted when --push
    /// names the same registry
    #[arg(long, value_name = "REFERENCE")]
    base: Option<String>,
    /// Credentials, TLS and --trace for the push, as `pusher push` takes them
    #[command(flatten)]
    connect: crate::connect_args::ConnectArgs,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum FormatArg {
    Oci,
    Docker,
}

/// `all`, or a comma-separated list of platforms (or musl triples): the shell targets, in
/// the order given; one line naming a platform that cannot be built here.
pub fn parse_platforms(list: &str) -> Result<Vec<ShellTarget>> {
    if list.trim() == "all" {
        return Ok(SHELL_TARGETS.to_vec());
    }
    let mut targets: Vec<ShellTarget> = Vec::new();
    for name in list.split(',').map(str::trim) {
        if name.is_empty() {
            bail!(
                "--platform {list:?}: an empty platform; give a comma-separated list of {} or all",
                crate::shell::supported_list()
            );
        }
        let target = ShellTarget::find(name)?;
        if targets.contains(&target) {
            bail!("--platform {list:?}: {} is given twice", target.platform);
        }
        targets.push(target);
    }
    Ok(targets)
}

/// Where each output lands under `--out`.
pub struct Outputs {
    /// the host platform's bundle (also what `docker import` gets)
    pub rootfs: PathBuf,
    pub oci: PathBuf,
    pub docker_archive: PathBuf,
    pub rootfs_tar: PathBuf,
    out: PathBuf,
    stamp: PathBuf,
}

impl Outputs {
    fn under(out: &Path) -> Outputs {
        Outputs {
            rootfs: out.join("rootfs"),
            oci: out.join("oci"),
            docker_archive: out.join("penguinshell.tar"),
            rootfs_tar: out.join("rootfs.tar"),
            out: out.to_path_buf(),
            stamp: out.join("stamp.json"),
        }
    }
}

/// One platform's image, as packed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformReport {
    /// `linux/arm64`
    pub platform: String,
    /// the gzipped layer
    pub layer: Descriptor,
    /// sha256 of the uncompressed layer
    pub diff_id: Digest,
    /// size of the uncompressed layer
    pub tar_size: u64,
    /// config.json
    pub config: Descriptor,
    /// the manifest
    pub manifest: Descriptor,
}

/// What was packed: every platform's image, and the index over them when there are several.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageReport {
    /// each platform, in the order of `--platform`
    pub platforms: Vec<PlatformReport>,
    /// the image index (several platforms only)
    pub index: Option<Descriptor>,
    /// the platform of the `docker load` archive and the rootfs tar
    pub local: String,
}

impl ImageReport {
    /// What the tag points at: the index, or the one manifest.
    pub fn top(&self) -> &Descriptor {
        match &self.index {
            Some(index) => index,
            None => &self.platforms[0].manifest,
        }
    }
}

pub fn run(args: Args) -> Result<()> {
    let out = if args.out.is_absolute() {
        args.out.clone()
    } else {
        project_root().join(&args.out)
    };
    if let Some(base) = &args.base {
        return base::run(&args, base, &out);
    }
    // Check what the user typed before the long work.
    let targets = parse_platforms(&args.platform)?;
    let reference = match &args.push {
        Some(r) => Some(Reference::parse(r).with_context(|| format!("invalid --push {r:?}"))?),
        None => None,
    };
    let credential = read_credential(&args)?;
    // the credentials (flags, environment, Docker's config) are read now; the login itself
    // (ping, token) runs meanwhile
    let pushing = match &reference {
        Some(r) => Some(Pushing::start(
            r,
            args.connect.client_options(r, credential)?,
            crate::bars::Bars::new(false).progress(),
        )),
        None => None,
    };
    // The host's image goes to `docker load`; without it, the first one given.
    let local = if targets.contains(&HOST) {
        HOST
    } else {
        targets[0]
    };

    step(1, "build the penguin shell, fully static");
    let mut shells = Vec::new();
    for target in &targets {
        let shell = crate::shell::build_shell_for(target)?;
        let bytes =
            std::fs::read(&shell).with_context(|| format!("cannot read {}", shown(&shell)))?;
        println!(
            "    {}  {}  {} bytes, statically linked {} (no interpreter, no shared libraries)",
            target.platform,
            shown(&shell),
            bytes.len(),
            target.machine_name,
        );
        shells.push((*target, shell, packer::digest::sha256_digest(&bytes)));
    }
    // a login that has failed by now (a wrong password, no registry there) stops us before
    // the packing; one still going on is waited for by the first upload
    if let Some(pushing) = &pushing {
        pushing.login.failed_already()?;
    }

    let outputs = Outputs::under(&out);
    let format = match args.format {
        FormatArg::Oci => Format::Oci,
        FormatArg::Docker => Format::Docker,
    };
    let inputs = stamp_inputs(&shells, args.format, &local);
    let cached = up_to_date(&outputs, &inputs);
    // Packing pushes each platform's blobs and manifest as it goes; an unchanged image pushes
    // them below.
    let uploaded_while_packing = cached.is_none();
    let report = match cached {
        Some(report) => {
            step(2, "the bundle: bin/penguinshell dev etc proc sys");
            println!("    {}  (unchanged)", shown(&outputs.rootfs));
            step(3, "tar, gzip, digest and diff id, config.json, manifest");
            println!("    nothing changed since the last run: nothing rebuilt");
            report
        }
        None => {
            step(2, "the bundle: bin/penguinshell dev etc proc sys");
            let mut bundles = Vec::new();
            for (target, shell, _) in &shells {
                if *target == local {
                    println!("    {}  {}", target.platform, shown(&outputs.rootfs));
                } else {
                    println!("    {}  (in memory)", target.platform);
                }
                bundles.push((*target, shell.clone()));
            }
            step(3, "tar, gzip, digest and diff id, config.json, manifest");
            // The stamp goes first: outputs being replaced are never "up to date".
            remove_if_there(&outputs.stamp)?;
            let report = pack(&outputs, &bundles, &local, format, pushing.as_ref())?;
            write_stamp(&outputs, &inputs, &report)?;
            report
        }
    };
    print_report(&report, &outputs);

    match reference {
        None => {
            println!();
            println!("run it:");
            println!("    docker load -i {}", shown(&outputs.docker_archive));
            println!("    docker run --rm -it {LOCAL_TAG}");
            println!("    podman load -i {}", shown(&outputs.docker_archive));
            println!("    podman run --rm -it {LOCAL_TAG}");
            println!(
                "or push it: cargo xtask image --push HOST/NAME:TAG (cargo xtask registry starts a local one)"
            );
        }
        Some(reference) => {
            let what = if report.index.is_some() {
                "every manifest, index"
            } else {
                "manifest"
            };
            step(
                5,
                &format!("push to {reference}: token, upload, commit, {what}"),
            );
            let pushing = pushing.context("not connected")?;
            let layout = OciLayout::open(&outputs.oci)?;
            if !uploaded_while_packing {
                pushing.push_all(&layout, &report)?;
            }
            let digest = pushing.push_top(&layout, &report)?;
            println!(
                "    {} blob(s) uploaded, {} already there",
                pushing.uploaded.load(Ordering::Relaxed),
                pushing.existed.load(Ordering::Relaxed)
            );
            println!("    pushed {reference}@{digest}");
            println!();
            println!("run it:");
            println!("    docker run --rm -it {reference}");
            for p in report
                .platforms
                .iter()
                .filter(|p| p.platform != local.platform)
            {
                println!(
                    "    docker run --rm -it --platform {} {reference}",
                    p.platform
                );
            }
            println!("{digest}");
        }
    }
    Ok(())
}

fn step(n: u32, what: &str) {
    println!("==> step {n}: {what}");
}

fn remove_if_there(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("cannot remove {}", shown(path)))
        }
        _ => Ok(()),
    }
}

/// The article's settings for one platform.
fn settings(target: &ShellTarget) -> Result<ImageSettings> {
    Ok(ImageSettings {
        platform: target.platform.parse::<Platform>()?,
        env: vec![ENV.to_owned()],
        entrypoint: vec![ENTRYPOINT.to_owned()],
        cmd: vec![],
        workdir: None,
        user: None,
        labels: Default::default(),
        annotations: Default::default(),
        source_date_epoch: packer::config::source_date_epoch()?,
    })
}

/// Packs each platform's bundle (in memory, from its shell; in parallel) into a staged
/// layout, with an index over them when there are several, tags it `latest`, writes the
/// `docker load` archive and the rootfs tar of `local`'s image beside it, then moves the
/// three outputs into place; `local`'s bundle is also laid out on disk as `rootfs`, for
/// `docker import` and the chroot. With `pushing`, each platform's blobs (and, in an index,
/// its manifest) are pushed as soon as they are written.
fn pack(
    outputs: &Outputs,
    bundles: &[(ShellTarget, PathBuf)],
    local: &ShellTarget,
    format: Format,
    pushing: Option<&Pushing>,
) -> Result<ImageReport> {
    let tag = LOCAL_TAG.parse::<Tag>()?;
    std::fs::create_dir_all(&outputs.out)
        .with_context(|| format!("cannot create {}", shown(&outputs.out)))?;
    let stage = tempfile::Builder::new()
        .prefix(".image-stage-")
        .tempdir_in(&outputs.out)
        .with_context(|| format!("cannot create a staging folder in {}", shown(&outputs.out)))?;
    let staged = OciLayout::create(stage.path().join("oci"))?;
    let rootfs_tar = stage.path().join("rootfs.tar");
    let archive = stage.path().join("penguinshell.tar");
    // the platforms pack at once: each gets its share of the cores (the bytes do not depend
    // on it), rather than every one starting a worker per core
    let threads = packer::compress::default_threads().div_ceil(bundles.len().max(1));
    // several platforms: each platform's manifest is pushed by digest as soon as its blobs are
    let several = bundles.len() > 1;
    let compression = Compression::Gzip(packer::compress::DEFAULT_GZIP_LEVEL);

    // tar, gzip, digests, config.json, manifest: one platform per thread
    let written: Vec<Result<(ShellTarget, WrittenImage)>> = std::thread::scope(|s| {
        let jobs: Vec<_> = bundles
            .iter()
            .map(|(target, shell)| {
                let (staged, rootfs_tar) = (&staged, &rootfs_tar);
                s.spawn(move || -> Result<(ShellTarget, WrittenImage)> {
                    if target == local {
                        crate::chroot::assemble_bundle(shell, &outputs.rootfs)?;
                    }
                    let bundle = crate::chroot::penguin_bundle(shell)?;
                    let tar = (target == local).then_some(rootfs_tar.as_path());
                    let image = write_image(
                        &bundle,
                        &settings(target)?,
                        format,
                        compression,
                        threads,
                        staged,
                        tar,
                        &packer::layer::Progress::none(),
                    )
                    .with_context(|| format!("cannot pack the {} image", target.platform))?;
                    if let Some(pushing) = pushing {
                        pushing.push_platform(staged, &platform_report(target, &image), several)?;
                    }
                    Ok((*target, image))
                })
            })
            .collect();
        jobs.into_iter()
            .map(|j| j.join().expect("a packing thread panicked"))
            .collect()
    });
    let written = written.into_iter().collect::<Result<Vec<_>>>()?;

    let index = if written.len() > 1 {
        let images = written
            .iter()
            .map(|(t, w)| Ok((w.manifest.clone(), t.platform.parse::<Platform>()?)))
            .collect::<Result<Vec<_>>>()?;
        let index = packer::index::image_index(format, &images, &Default::default())?;
        let bytes = to_canonical_vec(&index, "image index")?;
        Some(staged.put_blob(format.index_type(), &bytes)?)
    } else {
        None
    };
    let platforms: Vec<PlatformReport> =
        written.iter().map(|(t, w)| platform_report(t, w)).collect();
    let report = ImageReport {
        platforms,
        index,
        local: local.platform.to_owned(),
    };
    staged.add_to_index(named(report.top(), &tag), Some(&tag.tag))?;

    // the `docker load` archive: the local platform's image alone
    let (_, image) = written
        .iter()
        .find(|(t, _)| t == local)
        .context("the local platform was not packed")?;
    let entry = DockerManifestEntry {
        config: blob_name(image.config.digest()),
        repo_tags: vec![tag.to_string()],
        layers: vec![blob_name(image.layer.digest())],
    };
    let manifest_json = to_canonical_vec(&[entry], "manifest.json")?;
    let mut archive_index = packer::layout::empty_index();
    let mut top = named(&image.manifest, &tag);
    let mut annotations = top.annotations().clone().unwrap_or_default();
    annotations.insert(
        packer::oci_spec::image::ANNOTATION_REF_NAME.to_owned(),
        tag.tag.clone(),
    );
    top.set_annotations(Some(annotations));
    archive_index.set_manifests(vec![top]);
    let index_json = to_canonical_vec(&archive_index, "index.json")?;
    write_archive(
        &staged,
        &[
            image.layer.digest().clone(),
            image.config.digest().clone(),
            image.manifest.digest().clone(),
        ],
        &index_json,
        Some(&manifest_json),
        &archive,
        settings(local)?.source_date_epoch,
    )?;

    // everything is complete: move it into place
    for (from, to) in [
        (&rootfs_tar, &outputs.rootfs_tar),
        (&archive, &outputs.docker_archive),
    ] {
        std::fs::set_permissions(from, std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .with_context(|| format!("cannot set the permissions of {}", shown(from)))?;
        std::fs::rename(from, to)
            .with_context(|| format!("cannot move {} into place", shown(to)))?;
    }
    replace_dir(staged.root(), &outputs.oci)?;
    Ok(report)
}

fn platform_report(target: &ShellTarget, w: &WrittenImage) -> PlatformReport {
    PlatformReport {
        platform: target.platform.to_owned(),
        layer: w.layer.clone(),
        diff_id: w.diff_id.clone(),
        tar_size: w.tar_size,
        config: w.config.clone(),
        manifest: w.manifest.clone(),
    }
}

/// Puts the folder `new` at `dest` in one step: swapped with the old one when there is one
/// (`renameat2(RENAME_EXCHANGE)`), so `dest` is always a whole layout, the old or the new;
/// the old one lands at `new`'s path, inside the staging folder that is removed next.
fn replace_dir(new: &Path, dest: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(new, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("cannot set the permissions of {}", shown(new)))?;
    if std::fs::symlink_metadata(dest).is_err() {
        return std::fs::rename(new, dest)
            .with_context(|| format!("cannot move {} into place", shown(dest)));
    }
    nix::fcntl::renameat2(
        nix::fcntl::AT_FDCWD,
        new,
        nix::fcntl::AT_FDCWD,
        dest,
        nix::fcntl::RenameFlags::RENAME_EXCHANGE,
    )
    .with_context(|| format!("cannot swap the new {} into place", shown(dest)))
}

/// The descriptor annotated with the tag's full name (containerd, podman and Docker 25 read
/// it).
fn named(desc: &Descriptor, tag: &Tag) -> Descriptor {
    let mut d = desc.clone();
    let mut a = d.annotations().clone().unwrap_or_default();
    a.insert(CONTAINERD_IMAGE_NAME.to_owned(), tag.full_name());
    d.set_annotations(Some(a));
    d
}

fn print_report(r: &ImageReport, outputs: &Outputs) {
    for p in &r.platforms {
        if r.platforms.len() > 1 {
            println!("    {}", p.platform);
        }
        println!(
            "    layer     {}  {} bytes gzipped",
            p.layer.digest(),
            p.layer.size()
        );
        println!(
            "    diff id   {}  {} bytes uncompressed",
            p.diff_id, p.tar_size
        );
        println!(
            "    config    {}  {} bytes",
            p.config.digest(),
            p.config.size()
        );
        println!(
            "    manifest  {}  {} bytes  {}",
            p.manifest.digest(),
            p.manifest.size(),
            p.manifest.media_type()
        );
    }
    if let Some(index) = &r.index {
        println!(
            "    index     {}  {} bytes  {}",
            index.digest(),
            index.size(),
            index.media_type()
        );
    }
    step(4, "write the image");
    let platforms: Vec<&str> = r.platforms.iter().map(|p| p.platform.as_str()).collect();
    println!(
        "    {}  OCI image layout, tag {} ({})",
        shown(&outputs.oci),
        LOCAL_TAG.split(':').nth(1).unwrap_or("latest"),
        if r.index.is_some() {
            format!("an index over {}", platforms.join(", "))
        } else {
            platforms.join(", ")
        }
    );
    println!(
        "    {}  docker load / podman load ({} only)",
        shown(&outputs.docker_archive),
        r.local
    );
    println!(
        "    {}  docker import ({})",
        shown(&outputs.rootfs_tar),
        r.local
    );
    if r.platforms.len() > 1 {
        println!("    platform      layer (gzip)   manifest");
        for p in &r.platforms {
            println!(
                "    {:<12}  {:>7} bytes  {}",
                p.platform,
                p.layer.size(),
                p.manifest.digest()
            );
        }
        println!("    index         {}", r.top().digest());
    }
}

/// What the image is made of: if this is unchanged, so are the digests.
fn stamp_inputs(
    shells: &[(ShellTarget, PathBuf, Digest)],
    format: FormatArg,
    local: &ShellTarget,
) -> serde_json::Value {
    let shells: Vec<serde_json::Value> = shells
        .iter()
        .map(|(t, _, digest)| serde_json::json!([t.platform, digest.to_string()]))
        .collect();
    serde_json::json!({
        "shells": shells,
        "local": local.platform,
        "format": if format == FormatArg::Oci { "oci" } else { "docker" },
        "entrypoint": ENTRYPOINT,
        "env": ENV,
        "tag": LOCAL_TAG,
        "source_date_epoch": std::env::var("SOURCE_DATE_EPOCH").unwrap_or_default(),
        "packer": env!("CARGO_PKG_VERSION"),
    })
}

/// The last report, if the stamp's inputs equal `inputs` and every output is still there
/// and verifies.
fn up_to_date(outputs: &Outputs, inputs: &serde_json::Value) -> Option<ImageReport> {
    let (stamped, report) = read_stamp(outputs).ok()?;
    if &stamped != inputs {
        return None;
    }
    for path in [
        &outputs.rootfs,
        &outputs.docker_archive,
        &outputs.rootfs_tar,
    ] {
        if !path.exists() {
            return None;
        }
    }
    let layout = OciLayout::open(&outputs.oci).ok()?;
    let top = layout.resolve(Some("latest")).ok()?;
    if top.digest() != report.top().digest() {
        return None;
    }
    packer::inspect::inspect(&shown(&outputs.oci).to_string()).ok()?;
    Some(report)
}

/// The stamp's inputs and the report of the run that wrote it.
fn read_stamp(outputs: &Outputs) -> Result<(serde_json::Value, ImageReport)> {
    let stamp = std::fs::read(&outputs.stamp)
        .with_context(|| format!("cannot read {}", shown(&outputs.stamp)))?;
    let mut stamp: serde_json::Value = serde_json::from_slice(&stamp)
        .with_context(|| format!("{} is not JSON", shown(&outputs.stamp)))?;
    let report = serde_json::from_value(stamp["report"].take())
        .with_context(|| format!("{} has no report", shown(&outputs.stamp)))?;
    Ok((stamp["inputs"].take(), report))
}

fn write_stamp(outputs: &Outputs, inputs: &serde_json::Value, report: &ImageReport) -> Result<()> {
    let stamp = serde_json::json!({ "inputs": inputs, "report": report });
    let tmp = outputs.stamp.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(&stamp)?)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, &outputs.stamp)
        .with_context(|| format!("cannot write {}", outputs.stamp.display()))
}

/// `--username` with `--password-stdin`, read before any long work.
fn read_credential(args: &Args) -> Result<Option<Credential>> {
    let credential = args.connect.credential_from_flags()?;
    if credential.is_some() && args.push.is_none() {
        bail!("--username and --password-stdin only make sense with --push");
    }
    Ok(credential)
}

/// Blobs smaller than this are pushed without first asking whether the registry has them
/// (HEAD): sending a small blob costs about the round trip the question costs, and a registry
/// stores a blob it has once whatever it is sent. The penguin image's blobs are all smaller (a
/// layer of about 170 kB, a config under 1 kB), so an index over three platforms makes 6
/// requests fewer; a layer of 1 MiB or more is still asked about first.
pub(crate) const CHECK_EXISTS_FROM: u64 = 1 << 20;

/// The push of `--push`: the login, and the blobs sent so far.
struct Pushing {
    login: Login,
    progress: Progress,
    uploaded: AtomicUsize,
    existed: AtomicUsize,
}

/// The login to the registry (ping, token) on a thread of its own: it is mostly waiting for
/// the registry, so the shells are checked and the image packed meanwhile. The first upload
/// waits for it.
struct Login {
    /// the login thread, until its client is taken
    pending: Mutex<Option<JoinHandle<pusher::Result<Client>>>>,
    /// the client, or why there is none, once received
    done: OnceLock<pusher::Result<Client>>,
    /// the reference pushed to, for the error of a login thread that died
    reference: String,
}

impl Login {
    fn start(reference: &Reference, options: ClientOptions) -> Login {
        let to = reference.clone();
        let login = std::thread::Builder::new()
            .name("login".to_owned())
            .spawn(move || Client::connect("push", &to, &options, "pull,push", &[]));
        Login {
            pending: Mutex::new(login.ok()),
            done: OnceLock::new(),
            reference: reference.to_string(),
        }
    }

    /// The logged-in client, waiting for the login if it is still going on.
    fn client(&self) -> Result<&Client> {
        let done = self.done.get_or_init(|| {
            let login = self.pending.lock().ok().and_then(|mut p| p.take());
            match login.map(JoinHandle::join) {
                Some(Ok(result)) => result,
                _ => Err(pusher::Error::Protocol {
                    op: "push",
                    reference: self.reference.clone(),
                    message: "the login thread stopped".to_owned(),
                }),
            }
        });
        // every caller gets the error's words (it stays in `done`); xtask's exit status does
        // not depend on its type
        done.as_ref().map_err(|e| anyhow::anyhow!("{e}"))
    }

    /// The login's error if it has already ended in one; never waits.
    fn failed_already(&self) -> Result<()> {
        let ended = self
            .pending
            .lock()
            .map(|p| p.as_ref().is_none_or(JoinHandle::is_finished))
            .unwrap_or(true);
        if ended {
            self.client()?;
        }
        Ok(())
    }
}

impl Pushing {
    /// Starts the login to `reference`'s registry with `options`; `progress` draws the
    /// uploads.
    fn start(reference: &Reference, options: ClientOptions, progress: Progress) -> Pushing {
        Pushing {
            login: Login::start(reference, options),
            progress,
            uploaded: AtomicUsize::new(0),
            existed: AtomicUsize::new(0),
        }
    }

    /// Pushes one platform's image: its layer and config at once (check the blob exists,
    /// initiate upload, send the blob, commit with the digest), then, when it is one of an
    /// index's images (`by_digest`), its manifest by digest. Called by each packing thread as
    /// soon as its image is written, so the platforms' pushes overlap each other and the
    /// packing; only the tag (the index, or the one manifest) waits for every output.
    fn push_platform(
        &self,
        layout: &OciLayout,
        image: &PlatformReport,
        by_digest: bool,
    ) -> Result<()> {
        std::thread::scope(|s| {
            let config = s.spawn(|| self.upload(layout, &image.config));
            let layer = self.upload(layout, &image.layer);
            let config = config.join().expect("an upload thread panicked");
            layer.and(config)
        })?;
        if by_digest {
            let manifest = layout.read_manifest(&image.manifest)?;
            push_manifest(self.login.client()?, manifest.digest().as_ref(), &manifest)?;
        }
        Ok(())
    }

    /// Uploads one blob of the layout, unless the registry has it.
    fn upload(&self, layout: &OciLayout, desc: &Descriptor) -> Result<()> {
        let digest = desc.digest().to_string();
        let path = layout.blob_path(desc.digest());
        let blob = Blob {
            digest: &digest,
            size: desc.size(),
            path: &path,
        };
        let progress = self.progress.blob(&digest, desc.size());
        let options = UploadOptions {
            check_exists_from: CHECK_EXISTS_FROM,
            ..Default::default()
        };
        match upload_blob(self.login.client()?, &blob, &options, progress)? {
            BlobOutcome::Exists => self.existed.fetch_add(1, Ordering::Relaxed),
            _ => self.uploaded.fetch_add(1, Ordering::Relaxed),
        };
        Ok(())
    }

    /// Pushes the top manifest under the tag (every blob and platform manifest is there
    /// already); returns its digest.
    fn push_top(&self, layout: &OciLayout, report: &ImageReport) -> Result<String> {
        let top = layout.read_manifest(report.top())?;
        let digest = top.digest().to_string();
        let client = self.login.client()?;
        let reference = &client.reference;
        let tag_or_digest = match reference.digest {
            Some(_) => digest.clone(),
            None => reference.manifest_ref().to_string(),
        };
        push_manifest(client, &tag_or_digest, &top)?;
        Ok(digest)
    }

    /// Pushes every platform's image (at once) of an image already on disk.
    fn push_all(&self, layout: &OciLayout, report: &ImageReport) -> Result<()> {
        let by_digest = report.index.is_some();
        std::thread::scope(|s| {
            let jobs: Vec<_> = report
                .platforms
                .iter()
                .map(|p| s.spawn(move || self.push_platform(layout, p, by_digest)))
                .collect();
            jobs.into_iter()
                .try_for_each(|j| j.join().expect("an upload thread panicked"))
        })
    }
}

/// Pushes the image a run of `cargo xtask image --out OUT` wrote (as its stamp reports it) to
/// `reference` the way an unchanged image is pushed: every platform's blobs and manifest at
/// once, then the tag; returns the top digest. `cargo xtask bench image` times it as the push
/// alone.
pub(crate) fn push_again(out: &Path, reference: &str) -> Result<String> {
    let outputs = Outputs::under(out);
    let (_, report) = read_stamp(&outputs)?;
    let reference = Reference::parse(reference)?;
    let pushing = Pushing::start(&reference, ClientOptions::default(), Progress::silent());
    let layout = OciLayout::open(&outputs.oci)?;
    pushing.push_all(&layout, &report)?;
    pushing.push_top(&layout, &report)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Outputs in a new folder, and a stand-in shell file in it.
    fn outputs_and_shell() -> (tempfile::TempDir, Outputs, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let outputs = Outputs::under(dir.path());
        let shell = dir.path().join("penguinshell");
        std::fs::write(&shell, b"\x7fELF penguin").unwrap();
        (dir, outputs, shell)
    }

    fn leftovers(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.'))
            .collect()
    }

    /// Issue 8: the old layout is never deleted first. A pack that fails midway leaves the
    /// previous image whole and no staging behind; one that succeeds swaps the new one in.
    #[test]
    fn a_failed_pack_leaves_the_old_image_whole() {
        let (dir, outputs, shell) = outputs_and_shell();
        let arm = SHELL_TARGETS[1];
        let bundle = |t: ShellTarget, shell: &Path| (t, shell.to_path_buf());

        let first = pack(&outputs, &[bundle(HOST, &shell)], &HOST, Format::Oci, None).unwrap();
        assert!(first.index.is_none());
        let index_json = std::fs::read(outputs.oci.join("index.json")).unwrap();
        let archive = std::fs::read(&outputs.docker_archive).unwrap();

        let missing = dir.path().join("no-such-shell");
        let err = pack(
            &outputs,
            &[bundle(HOST, &shell), bundle(arm, &missing)],
            &HOST,
            Format::Oci,
            None,
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("no-such-shell"), "{err:#}");
        assert_eq!(
            std::fs::read(outputs.oci.join("index.json")).unwrap(),
            index_json
        );
        assert_eq!(std::fs::read(&outputs.docker_archive).unwrap(), archive);
        packer::inspect::inspect(&outputs.oci.display().to_string()).unwrap();
        assert_eq!(leftovers(dir.path()), Vec::<String>::new());

        let both = pack(
            &outputs,
            &[bundle(HOST, &shell), bundle(arm, &shell)],
            &HOST,
            Format::Oci,
            None,
        )
        .unwrap();
        let layout = OciLayout::open(&outputs.oci).unwrap();
        assert_eq!(
            layout.resolve(Some("latest")).unwrap().digest(),
            both.index.as_ref().unwrap().digest()
        );
        let inspected = packer::inspect::inspect(&outputs.oci.display().to_string()).unwrap();
        let arches: Vec<String> = inspected
            .images
            .iter()
            .map(|i| i.config.architecture().to_string())
            .collect();
        assert_eq!(arches, ["amd64", "arm64"]);
        // the archive holds the host's image only
        assert_eq!(both.local, "linux/amd64");
        assert_eq!(leftovers(dir.path()), Vec::<String>::new());
    }

    /// A registry that accepts connections and closes each after `wait` without a word.
    fn mute_registry(wait: std::time::Duration) -> Reference {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                std::thread::sleep(wait);
                drop(conn);
            }
        });
        Reference::parse(&format!("127.0.0.1:{port}/user/penguin:latest")).unwrap()
    }

    #[test]
    fn a_failed_login_is_the_error_and_leaves_the_old_image_whole() {
        let (dir, outputs, shell) = outputs_and_shell();
        let bundles = [(HOST, shell.clone()), (SHELL_TARGETS[1], shell.clone())];
        pack(&outputs, &bundles[..1], &HOST, Format::Oci, None).unwrap();
        let index_json = std::fs::read(outputs.oci.join("index.json")).unwrap();

        // the login fails only after the packing: the uploads wait for it
        let reference = mute_registry(std::time::Duration::from_millis(300));
        let mut options = ClientOptions::default();
        options.transport.retry.max_attempts = 1;
        let pushing = Pushing::start(&reference, options, Progress::silent());
        let started = std::time::Instant::now();
        pushing.login.failed_already().unwrap();
        assert!(started.elapsed() < std::time::Duration::from_millis(200));

        let err = pack(&outputs, &bundles, &HOST, Format::Oci, Some(&pushing)).unwrap_err();
        assert!(started.elapsed() >= std::time::Duration::from_millis(300));
        let message = format!("{err:#}");
        assert!(message.contains(&reference.to_string()), "{message}");
        assert!(message.contains("ping /v2/"), "{message}");
        // once ended, the failure is there at once
        let again = format!("{:#}", pushing.login.failed_already().unwrap_err());
        assert_eq!(again, message);
        assert_eq!(
            std::fs::read(outputs.oci.join("index.json")).unwrap(),
            index_json
        );
        assert_eq!(leftovers(dir.path()), Vec::<String>::new());
    }

    #[test]
    fn platform_lists_parse() {
        assert_eq!(parse_platforms("all").unwrap(), SHELL_TARGETS);
        let two = parse_platforms("linux/arm64, linux/amd64").unwrap();
        assert_eq!(two, [SHELL_TARGETS[1], HOST]);
        for (bad, message) in [
            ("linux/amd64,,linux/386", "an empty platform"),
            ("linux/386,linux/386", "linux/386 is given twice"),
            ("linux/ppc64le", "cannot be built here"),
        ] {
            let err = parse_platforms(bad).unwrap_err().to_string();
            assert!(err.contains(message), "{bad}: {err}");
        }
    }
}
