//! The `packer` command: thin glue over the library. `build` packs a bundle into an image,
//! `inspect` verifies one. Errors print as one `error: ...` line and exit 1.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use packer::apply::Step;
use packer::base::BaseImage;
use packer::build::{
    BuildOptions, BuildReport, Plan, PlanReport, PlanStep, Tag, build, build_plan, plan_format,
};
use packer::bundle::Bundle;
use packer::compress::{Compression, DEFAULT_GZIP_LEVEL, DEFAULT_ZSTD_LEVEL, default_threads};
use packer::config::{ImageSettings, Platform, parse_env, parse_key_value};
use packer::containerfile::ContainerfileError;
use packer::inspect::{InspectReport, inspect};
use packer::manifest::Format;
use packer::transport::ImageName;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

mod progress;

#[derive(Parser)]
#[command(
    name = "packer",
    version,
    about = "A filesystem bundle in, a byte-reproducible OCI/Docker image out"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Tar the bundle, gzip it, digest it, write config.json, the manifest and the layout
    Build(Box<BuildArgs>),
    /// Print an image's manifest and config in short and verify every blob
    Inspect {
        /// an OCI layout folder (DIR or DIR:TAG) or an archive written by `packer build`
        path: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum FormatArg {
    Oci,
    Docker,
}

#[derive(Clone, Copy, ValueEnum)]
enum CompressionArg {
    Gzip,
    Zstd,
    None,
}

#[derive(clap::Args)]
#[command(after_help = "Examples:
  packer build rootfs --oci-layout out --tag penguin:1 --entrypoint /bin/penguinshell
  packer build rootfs --base oci:busybox:1.36 --oci-layout out --tag penguin:on-busybox
  packer build --file Containerfile . --oci-layout out --tag penguin:1

A base is read from disk (oci:DIR[:NAME], oci-archive:FILE, docker-archive:FILE); fetch a
registry image first with `pusher copy docker://REF oci:DIR`.")]
struct BuildArgs {
    /// the folder whose content becomes the image's filesystem (with --file: the build
    /// context, the only folder COPY and ADD read from)
    rootfs: PathBuf,
    /// build on this image: its layers untouched, the bundle as a new layer on top, its
    /// config with the flags applied as a Dockerfile's instructions would be (oci:DIR[:NAME],
    /// oci-archive:FILE[:NAME], docker-archive:FILE[:NAME:TAG])
    #[arg(long, value_name = "SOURCE", conflicts_with = "file")]
    base: Option<String>,
    /// build what this Dockerfile/Containerfile says (FROM scratch or a local image, COPY,
    /// ADD, ENV, ARG, ENTRYPOINT, CMD, WORKDIR, USER, LABEL, EXPOSE, STOPSIGNAL); nothing is
    /// run, so RUN is refused
    #[arg(long, short = 'f', value_name = "FILE", conflicts_with_all = [
        "entrypoint", "cmd", "env", "workdir", "user", "label", "rootfs_tar",
    ])]
    file: Option<PathBuf>,
    /// a Containerfile ARG's value, K=V; repeatable (with --file)
    #[arg(long = "build-arg", value_name = "K=V", requires = "file")]
    build_args: Vec<String>,
    /// OCI image layout folder to write (created, or added to)
    #[arg(long, value_name = "DIR")]
    oci_layout: PathBuf,
    /// also write a tar that `docker load` and OCI tools both read (- for standard output)
    #[arg(long, value_name = "FILE")]
    docker_archive: Option<PathBuf>,
    /// also write the uncompressed layer, for `docker import` (- for standard output)
    #[arg(long, value_name = "FILE")]
    rootfs_tar: Option<PathBuf>,
    /// NAME[:TAG] (TAG defaults to latest); repeatable
    #[arg(long = "tag", value_name = "NAME:TAG")]
    tags: Vec<String>,
    /// entrypoint argument; repeat for each
    #[arg(long, value_name = "ARG", allow_hyphen_values = true)]
    entrypoint: Vec<String>,
    /// default command argument; repeat for each
    #[arg(long, value_name = "ARG", allow_hyphen_values = true)]
    cmd: Vec<String>,
    /// environment variable K=V; repeatable
    #[arg(long, value_name = "K=V")]
    env: Vec<String>,
    /// working directory
    #[arg(long, value_name = "P")]
    workdir: Option<String>,
    /// user to run as
    #[arg(long, value_name = "U")]
    user: Option<String>,
    /// config label K=V; repeatable
    #[arg(long, value_name = "K=V")]
    label: Vec<String>,
    /// manifest annotation K=V; repeatable
    #[arg(long, value_name = "K=V")]
    annotation: Vec<String>,
    /// OS/ARCH[/VARIANT] in Go's GOOS/GOARCH names, as the OCI image spec uses them
    /// (linux/amd64, linux/arm64/v8, linux/arm/v7, linux/s390x, windows/amd64, ...);
    /// default linux/amd64; on a base: the base's, and the one picked from an index
    /// (default there: this machine's)
    #[arg(long)]
    platform: Option<String>,
    /// media types: OCI or the article's Docker v2 schema 2 (default oci; a base's layers
    /// keep their blobs and are named in that family)
    #[arg(long, value_enum)]
    format: Option<FormatArg>,
    /// layer compression
    #[arg(long, value_enum, default_value = "gzip")]
    compression: CompressionArg,
    /// compression level (gzip 1-9, default: each MiB at 1 if mostly text, else 2; zstd 1-19,
    /// default 3)
    #[arg(long, value_name = "N")]
    level: Option<String>,
    /// compression threads (default: all cores); the output is the same for any number
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// print the result as one JSON object
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    remove_staging_on_signal();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let result = match cli.command {
        Command::Build(args) => run_build(*args),
        Command::Inspect { path } => run_inspect(&path),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            if let Some(e) = err.downcast_ref::<ContainerfileError>() {
                // `Containerfile:3: COPY: ...`: the file and line first, as compilers do
                eprintln!("{e}");
                return ExitCode::from(2);
            }
            eprintln!("error: {err:#}");
            if err
                .chain()
                .any(|e| matches!(e.downcast_ref(), Some(packer::Error::NeedsRegistry { .. })))
            {
                return ExitCode::from(2);
            }
            ExitCode::FAILURE
        }
    }
}

/// SIGTERM, SIGINT and SIGHUP remove this run's `.packer-*` staging, then end the process by
/// the same signal. The signals are blocked in every thread (set before any other thread
/// starts) and taken by one thread with `sigwait`, so the cleanup runs as ordinary code.
fn remove_staging_on_signal() {
    const SIGNALS: [libc::c_int; 3] = [libc::SIGTERM, libc::SIGINT, libc::SIGHUP];
    // SAFETY: sigset_t is plain data, initialized by sigemptyset before use
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid sigset_t; pthread_sigmask only reads it
    let blocked = unsafe {
        libc::sigemptyset(&mut set);
        for sig in SIGNALS {
            libc::sigaddset(&mut set, sig);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) == 0
    };
    if !blocked {
        return;
    }
    std::thread::spawn(move || {
        let mut sig: libc::c_int = 0;
        // SAFETY: `set` and `sig` are valid for the call
        if unsafe { libc::sigwait(&set, &mut sig) } != 0 {
            return;
        }
        packer::remove_staged();
        // SAFETY: restore the default action and let the signal end the process, so the
        // parent sees how it ended
        unsafe {
            let mut one: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut one);
            libc::sigaddset(&mut one, sig);
            libc::signal(sig, libc::SIG_DFL);
            libc::pthread_sigmask(libc::SIG_UNBLOCK, &one, std::ptr::null_mut());
            libc::raise(sig);
        }
        std::process::exit(128 + sig);
    });
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn compression(kind: CompressionArg, level: Option<&str>) -> Result<Compression> {
    let parse = |range: std::ops::RangeInclusive<i64>| -> Result<Option<i64>> {
        let Some(s) = level else { return Ok(None) };
        match s.parse::<i64>() {
            Ok(n) if range.contains(&n) => Ok(Some(n)),
            _ => bail!(
                "invalid level {s:?}: expected a number from {} to {}",
                range.start(),
                range.end()
            ),
        }
    };
    Ok(match kind {
        CompressionArg::Gzip => {
            Compression::Gzip(parse(1..=9)?.unwrap_or(i64::from(DEFAULT_GZIP_LEVEL)) as u32)
        }
        CompressionArg::Zstd => {
            Compression::Zstd(parse(1..=19)?.unwrap_or(i64::from(DEFAULT_ZSTD_LEVEL)) as i32)
        }
        CompressionArg::None => {
            if let Some(s) = level {
                bail!("invalid level {s:?}: --compression none takes no level");
            }
            Compression::None
        }
    })
}

fn run_build(args: BuildArgs) -> Result<()> {
    if args.file.is_some() {
        return run_file_build(args);
    }
    if args.base.is_some() {
        return run_base_build(args);
    }
    let platform: Platform = args.platform.as_deref().unwrap_or("linux/amd64").parse()?;
    let tags = args
        .tags
        .iter()
        .map(|t| t.parse::<Tag>())
        .collect::<Result<Vec<_>, _>>()?;
    let env = args
        .env
        .iter()
        .map(|e| parse_env(e))
        .collect::<Result<Vec<_>, _>>()?;
    let labels = args
        .label
        .iter()
        .map(|l| parse_key_value("label", l))
        .collect::<Result<_, _>>()?;
    let annotations = args
        .annotation
        .iter()
        .map(|a| parse_key_value("annotation", a))
        .collect::<Result<_, _>>()?;
    let compression = compression(args.compression, args.level.as_deref())?;
    let format = format_of(args.format).unwrap_or_default();
    format.layer_type(compression)?;
    let threads = match args.threads {
        Some(0) => bail!("invalid threads 0: expected at least 1"),
        Some(n) => n,
        None => default_threads(),
    };
    let settings = ImageSettings {
        platform,
        env,
        entrypoint: args.entrypoint,
        cmd: args.cmd,
        workdir: args.workdir,
        user: args.user,
        labels,
        annotations,
        source_date_epoch: packer::config::source_date_epoch()?,
    };
    let bundle = Bundle::from_dir(&args.rootfs).context("cannot read the bundle")?;
    let bar = progress::Bar::for_bundle(&bundle);
    let opts = BuildOptions {
        settings,
        format,
        compression,
        threads,
        tags,
        oci_layout: args.oci_layout,
        docker_archive: args.docker_archive,
        rootfs_tar: args.rootfs_tar,
        progress: bar.feed(),
    };
    // an image streamed to standard output keeps it: the report goes to standard error
    let to_stdout = [&opts.docker_archive, &opts.rootfs_tar]
        .into_iter()
        .flatten()
        .any(|p| p.as_os_str() == "-");
    let report = build(&bundle, &opts);
    bar.finish();
    let report = report?;
    let mut out = report_output(to_stdout);
    if args.json {
        writeln!(out, "{}", build_json(&report))?;
    } else {
        print_build(&mut out, &report)?;
    }
    Ok(())
}

/// Where a build's report goes: standard error when the image itself is streamed to standard
/// output, else standard output.
fn report_output(image_on_stdout: bool) -> Box<dyn Write> {
    if image_on_stdout {
        Box::new(std::io::stderr().lock())
    } else {
        Box::new(std::io::stdout().lock())
    }
}

fn format_of(arg: Option<FormatArg>) -> Option<Format> {
    arg.map(|f| match f {
        FormatArg::Oci => Format::Oci,
        FormatArg::Docker => Format::Docker,
    })
}

/// What a build in steps shares with a plain one: tags, annotations, compression, threads,
/// outputs. The format is the plan's ([`plan_format`]).
fn plan_options(args: &BuildArgs, plan: &Plan) -> Result<BuildOptions> {
    let tags = args
        .tags
        .iter()
        .map(|t| t.parse::<Tag>())
        .collect::<Result<Vec<_>, _>>()?;
    let annotations = args
        .annotation
        .iter()
        .map(|a| parse_key_value("annotation", a))
        .collect::<Result<_, _>>()?;
    let compression = compression(args.compression, args.level.as_deref())?;
    let format = plan_format(plan, format_of(args.format))?;
    format.layer_type(compression)?;
    let threads = match args.threads {
        Some(0) => bail!("invalid threads 0: expected at least 1"),
        Some(n) => n,
        None => default_threads(),
    };
    Ok(BuildOptions {
        settings: ImageSettings {
            annotations,
            source_date_epoch: packer::config::source_date_epoch()?,
            ..Default::default()
        },
        format,
        compression,
        threads,
        tags,
        oci_layout: args.oci_layout.clone(),
        docker_archive: args.docker_archive.clone(),
        rootfs_tar: args.rootfs_tar.clone(),
        progress: packer::layer::Progress::none(),
    })
}

/// `packer build ROOTFS --base SOURCE`: the bundle as a new layer on the base, the flags
/// applied to the base's config in Dockerfile order (ENV, WORKDIR, USER, LABEL, ENTRYPOINT,
/// CMD), each with its history entry.
fn run_base_build(args: BuildArgs) -> Result<()> {
    let source = args.base.as_deref().expect("checked by the caller");
    let name = ImageName::parse(source)?;
    let platform = args
        .platform
        .as_deref()
        .map(str::parse::<Platform>)
        .transpose()?;
    let mut env = Vec::new();
    for e in &args.env {
        let e = parse_env(e)?;
        let (k, v) = e.split_once('=').expect("parse_env checked K=V");
        env.push((k.to_owned(), v.to_owned()));
    }
    let labels = args
        .label
        .iter()
        .map(|l| parse_key_value("label", l))
        .collect::<Result<Vec<_>, _>>()?;
    let bundle = Bundle::from_dir(&args.rootfs).context("cannot read the bundle")?;
    let base = BaseImage::open(&name, platform.as_ref())?;
    let mut steps = vec![PlanStep::Layer {
        bundle,
        created_by: "packer build".to_owned(),
        comment: Some("the bundle, as one layer".to_owned()),
    }];
    if !env.is_empty() {
        steps.push(PlanStep::Config(Step::Env(env)));
    }
    if let Some(w) = &args.workdir {
        steps.push(PlanStep::Config(Step::Workdir(w.clone())));
    }
    if let Some(u) = &args.user {
        steps.push(PlanStep::Config(Step::User(u.clone())));
    }
    if !labels.is_empty() {
        steps.push(PlanStep::Config(Step::Label(labels)));
    }
    if !args.entrypoint.is_empty() {
        steps.push(PlanStep::Config(Step::Entrypoint(args.entrypoint.clone())));
    }
    if !args.cmd.is_empty() {
        steps.push(PlanStep::Config(Step::Cmd(args.cmd.clone())));
    }
    let plan = Plan {
        platform: base.platform().clone(),
        base: Some(base),
        default_path: false,
        steps,
        keep: Vec::new(),
    };
    finish_plan(&args, &plan)
}

/// `packer build --file Containerfile CONTEXT`: parse, check every instruction (nothing is
/// written when one is refused), then build.
fn run_file_build(args: BuildArgs) -> Result<()> {
    let file = args.file.as_deref().expect("checked by the caller");
    let build_args = args
        .build_args
        .iter()
        .map(|a| parse_key_value("build arg", a))
        .collect::<Result<Vec<_>, _>>()?;
    let platform = args
        .platform
        .as_deref()
        .map(str::parse::<Platform>)
        .transpose()?;
    let text = read_containerfile(file)?;
    let plan =
        packer::executor::plan_file(&text, file, &build_args, &args.rootfs, platform.as_ref())?;
    finish_plan(&args, &plan)
}

/// The largest Containerfile read.
const MAX_CONTAINERFILE: u64 = packer::containerfile::MAX_FILE_BYTES as u64;

fn read_containerfile(file: &std::path::Path) -> Result<String> {
    use std::io::Read;
    let f = std::fs::File::open(file).with_context(|| format!("cannot read {}", file.display()))?;
    let mut bytes = Vec::new();
    f.take(MAX_CONTAINERFILE + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {}", file.display()))?;
    if bytes.len() as u64 > MAX_CONTAINERFILE {
        bail!(
            "{} is larger than {} KiB; a Containerfile is not that long",
            file.display(),
            MAX_CONTAINERFILE >> 10
        );
    }
    String::from_utf8(bytes).with_context(|| format!("{} is not UTF-8 text", file.display()))
}

fn finish_plan(args: &BuildArgs, plan: &Plan) -> Result<()> {
    let mut opts = plan_options(args, plan)?;
    let total: u64 = plan
        .steps
        .iter()
        .map(|s| match s {
            PlanStep::Layer { bundle, .. } => packer::layer::content_size(bundle),
            PlanStep::Config(_) | PlanStep::ConfigOfLayer(_) => 0,
        })
        .sum();
    let bar = progress::Bar::new(total);
    opts.progress = bar.feed();
    let to_stdout = opts
        .docker_archive
        .as_ref()
        .is_some_and(|p| p.as_os_str() == "-");
    let report = build_plan(plan, &opts);
    bar.finish();
    let report = report?;
    let mut out = report_output(to_stdout);
    if args.json {
        writeln!(out, "{}", plan_json(&report))?;
    } else {
        print_plan(&mut out, &report)?;
    }
    Ok(())
}

fn descriptor_json(d: &packer::oci_spec::image::Descriptor) -> serde_json::Value {
    serde_json::json!({
        "digest": d.digest().to_string(),
        "size": d.size(),
        "mediaType": d.media_type().to_string(),
    })
}

fn plan_json(r: &PlanReport) -> serde_json::Value {
    serde_json::json!({
        "base": r.base.as_ref().map(descriptor_json),
        "baseLayers": r.base_layers.iter().map(descriptor_json).collect::<Vec<_>>(),
        "layers": r.layers.iter().map(|l| serde_json::json!({
            "layer": descriptor_json(&l.layer),
            "diffId": l.diff_id.to_string(),
            "tarSize": l.tar_size,
        })).collect::<Vec<_>>(),
        "config": descriptor_json(&r.config),
        "manifest": descriptor_json(&r.manifest),
        "tags": r.tags,
    })
}

fn print_plan(out: &mut impl Write, r: &PlanReport) -> std::io::Result<()> {
    if let Some(b) = &r.base {
        writeln!(
            out,
            "base      {}  {} bytes  {}",
            b.digest(),
            b.size(),
            b.media_type()
        )?;
    }
    for l in &r.base_layers {
        writeln!(
            out,
            "layer     {}  {} bytes  {}  (base)",
            l.digest(),
            l.size(),
            l.media_type()
        )?;
    }
    for l in &r.layers {
        print_layer(out, &l.layer, &l.diff_id, l.tar_size)?;
    }
    print_config_manifest_tags(out, &r.config, &r.manifest, &r.tags)
}

/// A new layer's two lines: the blob, then its diff id.
fn print_layer(
    out: &mut impl Write,
    layer: &packer::oci_spec::image::Descriptor,
    diff_id: &impl std::fmt::Display,
    tar_size: u64,
) -> std::io::Result<()> {
    writeln!(
        out,
        "layer     {}  {} bytes  {}",
        layer.digest(),
        layer.size(),
        layer.media_type()
    )?;
    writeln!(out, "diff id   {diff_id}  {tar_size} bytes uncompressed")
}

/// The lines every build ends with: config, manifest, tags.
fn print_config_manifest_tags(
    out: &mut impl Write,
    config: &packer::oci_spec::image::Descriptor,
    manifest: &packer::oci_spec::image::Descriptor,
    tags: &[String],
) -> std::io::Result<()> {
    writeln!(
        out,
        "config    {}  {} bytes",
        config.digest(),
        config.size()
    )?;
    writeln!(
        out,
        "manifest  {}  {} bytes  {}",
        manifest.digest(),
        manifest.size(),
        manifest.media_type()
    )?;
    for t in tags {
        writeln!(out, "tagged    {t}")?;
    }
    Ok(())
}

fn build_json(r: &BuildReport) -> serde_json::Value {
    serde_json::json!({
        "layer": descriptor_json(&r.layer),
        "diffId": r.diff_id.to_string(),
        "tarSize": r.tar_size,
        "config": descriptor_json(&r.config),
        "manifest": descriptor_json(&r.manifest),
        "tags": r.tags,
    })
}

fn print_build(out: &mut impl Write, r: &BuildReport) -> std::io::Result<()> {
    print_layer(out, &r.layer, &r.diff_id, r.tar_size)?;
    print_config_manifest_tags(out, &r.config, &r.manifest, &r.tags)
}

fn run_inspect(path: &str) -> Result<()> {
    let report: InspectReport = inspect(path)?;
    let mut out = std::io::stdout().lock();
    for idx in &report.indexes {
        writeln!(out, "index     {}  {} bytes  ok", idx.digest(), idx.size())?;
    }
    for img in &report.images {
        let c = &img.config;
        let platform = match c.variant() {
            Some(v) => format!("{}/{}/{v}", c.os(), c.architecture()),
            None => format!("{}/{}", c.os(), c.architecture()),
        };
        writeln!(
            out,
            "image     {}",
            img.tag.as_deref().unwrap_or("(untagged)")
        )?;
        writeln!(
            out,
            "manifest  {}  {} bytes  {}  ok",
            img.manifest.digest(),
            img.manifest.size(),
            img.manifest.media_type()
        )?;
        writeln!(out, "platform  {platform}")?;
        writeln!(out, "created   {}", c.created().as_deref().unwrap_or("-"))?;
        if let Some(cfg) = c.config() {
            if let Some(e) = cfg.entrypoint() {
                writeln!(out, "entrypoint {}", serde_json::to_string(e)?)?;
            }
            if let Some(e) = cfg.cmd() {
                writeln!(out, "cmd       {}", serde_json::to_string(e)?)?;
            }
            for e in cfg.env().iter().flatten() {
                writeln!(out, "env       {e}")?;
            }
        }
        writeln!(
            out,
            "config    {}  {} bytes  ok",
            img.config_desc.digest(),
            img.config_desc.size()
        )?;
        for (layer, diff_id) in &img.layers {
            writeln!(
                out,
                "layer     {}  {} bytes  {}  ok",
                layer.digest(),
                layer.size(),
                layer.media_type()
            )?;
            writeln!(out, "diff id   {diff_id}  ok")?;
        }
    }
    for t in &report.repo_tags {
        writeln!(out, "repo tag  {t}")?;
    }
    let mut blobs = std::collections::BTreeSet::new();
    blobs.extend(report.indexes.iter().map(|d| d.digest().to_string()));
    for img in &report.images {
        blobs.insert(img.manifest.digest().to_string());
        blobs.insert(img.config_desc.digest().to_string());
        blobs.extend(img.layers.iter().map(|(l, _)| l.digest().to_string()));
    }
    let blobs = blobs.len();
    writeln!(out, "verified  {blobs} blobs")?;
    Ok(())
}
