//! `cargo xtask image`: the whole article, from shell binary to a runnable (pushed) image.
//!
//! 1. build the penguin shell for musl and check it is static (`xtask shell`);
//! 2. assemble the bundle: `bin/penguinshell dev etc proc sys` (`xtask chroot`);
//! 3. tar it, gzip it, take digest, diff id and size, write config.json and the manifest
//!    (packer), as an OCI layout, a `docker load` archive and a `docker import` tarball;
//! 4. with `--push REFERENCE`: token, upload, commit, manifest (pusher).
//!
//! A second run with nothing changed rebuilds nothing: a stamp records the inputs (the shell's
//! digest and every image setting) and the digests they gave.

use crate::util::{project_root, shown};
use anyhow::{Context, Result, bail};
use packer::build::{BuildOptions, BuildReport, Tag, build};
use packer::bundle::Bundle;
use packer::compress::Compression;
use packer::config::{ImageSettings, Platform};
use packer::manifest::Format;
use pusher::auth::Credential;
use pusher::client::Client;
use pusher::progress::Progress;
use pusher::push::{Desc, PushOptions, push_image};
use pusher::reference::Reference;
use std::path::{Path, PathBuf};

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
    /// Media types: OCI (default) or Docker v2 schema 2, as in the article
    #[arg(long, value_enum, default_value = "oci")]
    format: FormatArg,
    /// Where to write the bundle and the image
    #[arg(long, value_name = "DIR", default_value = "target/image")]
    out: PathBuf,
    /// Credentials, TLS and --trace for the push, as `pusher push` takes them
    #[command(flatten)]
    connect: pusher::connect_args::ConnectArgs,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum FormatArg {
    Oci,
    Docker,
}

/// Where each output lands under `--out`.
pub struct Outputs {
    pub rootfs: PathBuf,
    pub oci: PathBuf,
    pub docker_archive: PathBuf,
    pub rootfs_tar: PathBuf,
    stamp: PathBuf,
}

impl Outputs {
    fn under(out: &Path) -> Outputs {
        Outputs {
            rootfs: out.join("rootfs"),
            oci: out.join("oci"),
            docker_archive: out.join("penguinshell.tar"),
            rootfs_tar: out.join("rootfs.tar"),
            stamp: out.join("stamp.json"),
        }
    }
}

pub fn run(args: Args) -> Result<()> {
    let out = if args.out.is_absolute() {
        args.out.clone()
    } else {
        project_root().join(&args.out)
    };
    // Check what the user typed before the long work.
    let reference = match &args.push {
        Some(r) => Some(Reference::parse(r).with_context(|| format!("invalid --push {r:?}"))?),
        None => None,
    };
    let credential = read_credential(&args)?;

    step(1, "build the penguin shell, fully static");
    let shell = crate::shell::build_static_shell()?;
    let shell_bytes =
        std::fs::read(&shell).with_context(|| format!("cannot read {}", shown(&shell)))?;
    println!(
        "    {}  {} bytes, statically linked (no interpreter, no shared libraries)",
        shown(&shell),
        shell_bytes.len()
    );

    let outputs = Outputs::under(&out);
    let format = match args.format {
        FormatArg::Oci => Format::Oci,
        FormatArg::Docker => Format::Docker,
    };
    let inputs = stamp_inputs(&shell_bytes, args.format);
    let report = match up_to_date(&outputs, &inputs) {
        Some(report) => {
            step(2, "the bundle: bin/penguinshell dev etc proc sys");
            println!("    {}  (unchanged)", shown(&outputs.rootfs));
            step(3, "tar, gzip, digest and diff id, config.json, manifest");
            println!("    nothing changed since the last run: nothing rebuilt");
            report
        }
        None => {
            step(2, "the bundle: bin/penguinshell dev etc proc sys");
            crate::chroot::assemble_bundle(&shell, &outputs.rootfs)?;
            println!("    {}", shown(&outputs.rootfs));
            step(3, "tar, gzip, digest and diff id, config.json, manifest");
            let report = pack(&outputs, format)?;
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
            step(
                5,
                &format!("push to {reference}: token, upload, commit, manifest"),
            );
            let digest = push(&args, credential, &reference, &outputs, &report)?;
            println!("    pushed {reference}@{digest}");
            println!();
            println!("run it:");
            println!("    docker run --rm -it {reference}");
            println!("{digest}");
        }
    }
    Ok(())
}

fn step(n: u32, what: &str) {
    println!("==> step {n}: {what}");
}

/// Packs the bundle into the three outputs with the article's settings.
fn pack(outputs: &Outputs, format: Format) -> Result<BuildReport> {
    let bundle = Bundle::from_dir(&outputs.rootfs)
        .with_context(|| format!("cannot read the bundle {}", shown(&outputs.rootfs)))?;
    let settings = ImageSettings {
        platform: "linux/amd64".parse::<Platform>()?,
        env: vec![ENV.to_owned()],
        entrypoint: vec![ENTRYPOINT.to_owned()],
        cmd: vec![],
        workdir: None,
        user: None,
        labels: Default::default(),
        annotations: Default::default(),
        source_date_epoch: packer::config::source_date_epoch()?,
    };
    // A fresh layout each time: the tag points at exactly this image.
    if outputs.oci.exists() {
        std::fs::remove_dir_all(&outputs.oci)
            .with_context(|| format!("cannot remove {}", shown(&outputs.oci)))?;
    }
    let options = BuildOptions {
        settings,
        format,
        compression: Compression::Gzip(packer::compress::DEFAULT_GZIP_LEVEL),
        threads: packer::compress::default_threads(),
        tags: vec![LOCAL_TAG.parse::<Tag>()?],
        oci_layout: outputs.oci.clone(),
        docker_archive: Some(outputs.docker_archive.clone()),
        rootfs_tar: Some(outputs.rootfs_tar.clone()),
        progress: packer::layer::Progress::none(),
    };
    Ok(build(&bundle, &options)?)
}

fn print_report(r: &BuildReport, outputs: &Outputs) {
    println!(
        "    layer     {}  {} bytes gzipped",
        r.layer.digest(),
        r.layer.size()
    );
    println!("    diff id   {}  {} bytes of tar", r.diff_id, r.tar_size);
    println!(
        "    config    {}  {} bytes",
        r.config.digest(),
        r.config.size()
    );
    println!(
        "    manifest  {}  {} bytes  {}",
        r.manifest.digest(),
        r.manifest.size(),
        r.manifest.media_type()
    );
    step(4, "write the image");
    println!(
        "    {}  OCI image layout, tag {}",
        shown(&outputs.oci),
        LOCAL_TAG.split(':').nth(1).unwrap_or("latest")
    );
    println!(
        "    {}  docker load / podman load",
        shown(&outputs.docker_archive)
    );
    println!("    {}  docker import", shown(&outputs.rootfs_tar));
}

/// What the image is made of: if this is unchanged, so are the digests.
fn stamp_inputs(shell: &[u8], format: FormatArg) -> serde_json::Value {
    serde_json::json!({
        "shell": packer::digest::sha256_digest(shell).to_string(),
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
fn up_to_date(outputs: &Outputs, inputs: &serde_json::Value) -> Option<BuildReport> {
    let stamp: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&outputs.stamp).ok()?).ok()?;
    if stamp.get("inputs")? != inputs {
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
    let layout = packer::layout::OciLayout::open(&outputs.oci).ok()?;
    let top = layout.resolve(Some("latest")).ok()?;
    let report: BuildReport = report_from_json(stamp.get("report")?)?;
    if top.digest() != report.manifest.digest() {
        return None;
    }
    packer::inspect::inspect(&shown(&outputs.oci).to_string()).ok()?;
    Some(report)
}

fn write_stamp(outputs: &Outputs, inputs: &serde_json::Value, report: &BuildReport) -> Result<()> {
    let stamp = serde_json::json!({ "inputs": inputs, "report": report_to_json(report) });
    let tmp = outputs.stamp.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(&stamp)?)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, &outputs.stamp)
        .with_context(|| format!("cannot write {}", outputs.stamp.display()))
}

fn report_to_json(r: &BuildReport) -> serde_json::Value {
    serde_json::json!({
        "layer": r.layer,
        "diff_id": r.diff_id.to_string(),
        "tar_size": r.tar_size,
        "config": r.config,
        "manifest": r.manifest,
        "tags": r.tags,
    })
}

fn report_from_json(v: &serde_json::Value) -> Option<BuildReport> {
    Some(BuildReport {
        layer: serde_json::from_value(v.get("layer")?.clone()).ok()?,
        diff_id: v.get("diff_id")?.as_str()?.parse().ok()?,
        tar_size: v.get("tar_size")?.as_u64()?,
        config: serde_json::from_value(v.get("config")?.clone()).ok()?,
        manifest: serde_json::from_value(v.get("manifest")?.clone()).ok()?,
        tags: serde_json::from_value(v.get("tags")?.clone()).ok()?,
    })
}

/// `--username` with `--password-stdin`, read before any long work.
fn read_credential(args: &Args) -> Result<Option<Credential>> {
    let credential = args.connect.credential_from_flags()?;
    if credential.is_some() && args.push.is_none() {
        bail!("--username and --password-stdin only make sense with --push");
    }
    Ok(credential)
}

/// Pushes the image in `outputs.oci` to `reference`; returns the manifest digest.
fn push(
    args: &Args,
    credential: Option<Credential>,
    reference: &Reference,
    outputs: &Outputs,
    report: &BuildReport,
) -> Result<String> {
    let options = args.connect.client_options(reference, credential)?;
    let layout = packer::layout::OciLayout::open(&outputs.oci)?;
    let client = Client::connect("push", reference, &options, "pull,push", &[])?;
    let top = Desc::from(&report.manifest);
    let progress = Progress::new(false);
    let source = shown(&outputs.oci).to_string();
    let pushed = push_image(
        &client,
        &layout,
        &source,
        &top,
        &PushOptions::default(),
        &progress,
    )?;
    println!(
        "    {} blob(s) uploaded, {} already there",
        pushed.pushed, pushed.existed
    );
    Ok(pushed.digest)
}
