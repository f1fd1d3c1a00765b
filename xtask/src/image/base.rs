//! `cargo xtask image --base REF`: the penguin shell on a base image from a registry, as ko,
//! Jib and `crane append` do (issue 10), for the host's platform.
//!
//! 1. build the penguin shell (`xtask shell`);
//! 2. fetch the base: `pusher copy docker://REF oci:OUT/base:base`, only when the digest the
//!    registry names for REF is not the one fetched last time (a stamp beside it); the copy is
//!    staged aside and renamed into place;
//! 3. build on it (packer): the base's layers untouched, the bundle as one more layer, the
//!    base's config with the entrypoint set, into `OUT/on-base` and `OUT/on-base.tar`;
//! 4. with `--push REFERENCE`: push it, mounting the base's layers from the base's repository
//!    when both are on the same registry (`--mount-from`), so they are never uploaded.

use super::{Args, ENTRYPOINT, LOCAL_TAG, read_credential, step};
use crate::shell::HOST;
use crate::util::shown;
use anyhow::{Context, Result};
use packer::apply::Step;
use packer::base::BaseImage;
use packer::build::{BuildOptions, Plan, PlanStep, build_plan, plan_format};
use packer::bundle::Bundle;
use packer::compress::{Compression, DEFAULT_GZIP_LEVEL, default_threads};
use packer::config::{ImageSettings, Platform};
use packer::sink::DiskSink;
use packer::transport::ImageName;
use pusher::client::Client;
use pusher::copy::{CopyOptions, Sink, Source, copy_image};
use pusher::pull::get_manifest;
use pusher::push::{PushOptions, push_image};
use pusher::reference::Reference;
use pusher::upload::UploadOptions;
use std::path::Path;

/// The base's name in its layout.
const BASE_TAG: &str = "base";
/// `REF` and the digest fetched, beside the base's layout.
const STAMP: &str = ".xtask-base";

/// `cargo xtask image --base BASE [--push REFERENCE]`, outputs under `out`.
pub fn run(args: &Args, base: &str, out: &Path) -> Result<()> {
    let base_ref = Reference::parse(base).with_context(|| format!("invalid --base {base:?}"))?;
    let target = match &args.push {
        Some(r) => Some(Reference::parse(r).with_context(|| format!("invalid --push {r:?}"))?),
        None => None,
    };
    let credential = read_credential(args)?;
    let platform = HOST.platform.parse::<Platform>()?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", shown(out)))?;

    step(1, "build the penguin shell, fully static");
    let shell = crate::shell::build_shell_for(&HOST)?;
    println!("    {}  {}", HOST.platform, shown(&shell));

    let base_dir = out.join("base");
    step(
        2,
        &format!(
            "the base: pusher copy docker://{base_ref} oci:{}:{BASE_TAG}",
            shown(&base_dir)
        ),
    );
    let options = args.connect.client_options(&base_ref, credential.clone())?;
    let client = Client::connect("pull", &base_ref, &options, "pull", &[])?;
    let digest = get_manifest(&client, base_ref.manifest_ref())?
        .digest()
        .to_string();
    let stamp = format!("{base_ref}\n{digest}\n");
    if std::fs::read_to_string(base_dir.join(STAMP))
        .ok()
        .as_deref()
        == Some(stamp.as_str())
    {
        println!("    {digest}  unchanged since the last run: nothing fetched");
    } else {
        let staging = out.join(".base-staging");
        remove_dir_if_there(&staging)?;
        let sink = DiskSink::open(&ImageName::Oci {
            dir: staging.clone(),
            name: Some(BASE_TAG.to_owned()),
        })?;
        let bars = crate::bars::Bars::new(false);
        let copy = CopyOptions {
            jobs: 3,
            platform: Some(HOST.platform.to_owned()),
            upload: UploadOptions::default(),
        };
        let report = copy_image(
            Source::Registry(&client),
            Sink::Disk(sink),
            &copy,
            &bars.progress(),
        )?;
        std::fs::write(staging.join(STAMP), &stamp)
            .with_context(|| format!("cannot write {}", shown(&staging)))?;
        remove_dir_if_there(&base_dir)?;
        std::fs::rename(&staging, &base_dir)
            .with_context(|| format!("cannot rename {} into place", shown(&staging)))?;
        println!("    {}  {} blob(s) fetched", report.digest, report.copied);
    }

    step(
        3,
        "the bundle as one more layer on the base, the base's config",
    );
    let mut bundle = Bundle::new();
    bundle.add_dir("bin", 0o755)?;
    bundle.add_file("bin/penguinshell", &shell, Some(0o755))?;
    for dir in ["dev", "etc", "proc", "sys"] {
        bundle.add_dir(dir, 0o755)?;
    }
    let base_image = BaseImage::open(
        &ImageName::Oci {
            dir: base_dir.clone(),
            name: Some(BASE_TAG.to_owned()),
        },
        Some(&platform),
    )?;
    let plan = Plan {
        platform: base_image.platform().clone(),
        base: Some(base_image),
        default_path: false,
        steps: vec![
            PlanStep::Layer {
                bundle,
                created_by: "cargo xtask image --base".to_owned(),
                comment: Some("the penguin shell's bundle".to_owned()),
            },
            PlanStep::Config(Step::Entrypoint(vec![ENTRYPOINT.to_owned()])),
        ],
        keep: Vec::new(),
    };
    let layout = out.join("on-base");
    let archive = out.join("on-base.tar");
    let report = build_plan(
        &plan,
        &BuildOptions {
            settings: ImageSettings {
                source_date_epoch: packer::config::source_date_epoch()?,
                ..ImageSettings::default()
            },
            format: plan_format(&plan, None)?,
            compression: Compression::Gzip(DEFAULT_GZIP_LEVEL),
            threads: default_threads(),
            tags: vec![LOCAL_TAG.parse()?],
            oci_layout: layout.clone(),
            docker_archive: Some(archive.clone()),
            rootfs_tar: None,
            progress: packer::layer::Progress::none(),
        },
    )?;
    for l in &report.base_layers {
        println!("    layer     {}  {} bytes  (base)", l.digest(), l.size());
    }
    for l in &report.layers {
        println!(
            "    layer     {}  {} bytes",
            l.layer.digest(),
            l.layer.size()
        );
    }
    println!("    manifest  {}", report.manifest.digest());
    println!("    {}  {}", shown(&layout), shown(&archive));

    let Some(target) = target else {
        println!();
        println!("run it:");
        println!("    docker load -i {}", shown(&archive));
        println!("    docker run --rm -it {LOCAL_TAG}");
        return Ok(());
    };
    let mount_from = (target.registry == base_ref.registry
        && target.repository != base_ref.repository)
        .then(|| base_ref.repository.clone());
    let how = match &mount_from {
        Some(repo) => format!(", the base's layers mounted from {repo}"),
        None => String::new(),
    };
    step(4, &format!("push to {target}{how}"));
    let options = args.connect.client_options(&target, credential)?;
    let mounts: Vec<String> = mount_from.iter().cloned().collect();
    let client = Client::connect("push", &target, &options, "pull,push", &mounts)?;
    let image = packer::source::open(&ImageName::Oci {
        dir: layout,
        name: Some(LOCAL_TAG.to_owned()),
    })?;
    let bars = crate::bars::Bars::new(false);
    let pushed = push_image(
        &client,
        image.as_ref(),
        &PushOptions {
            jobs: 3,
            upload: UploadOptions {
                mount_from,
                ..UploadOptions::default()
            },
        },
        &bars.progress(),
    )?;
    println!(
        "    {} blob(s) uploaded, {} mounted, {} already there",
        pushed.pushed, pushed.mounted, pushed.existed
    );
    println!("    pushed {target}@{}", pushed.digest);
    println!();
    println!("run it:");
    println!("    docker run --rm -it {target}");
    println!("{}", pushed.digest);
    Ok(())
}

fn remove_dir_if_there(dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("cannot remove {}", shown(dir)))
        }
        _ => Ok(()),
    }
}
