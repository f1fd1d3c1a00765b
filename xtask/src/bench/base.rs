//! `cargo xtask bench base`: the penguin image on a ~100 MiB base, built and pushed to a
//! registry that already holds the base, against `docker build` + `docker push` of the same
//! Dockerfile, in the same run (issue 10).
//!
//! The base is made here: busybox and `--mib` MiB of incompressible bytes, `docker import`ed
//! and `docker push`ed to a local registry (Debian's docker-registry); packer gets it once with
//! `pusher copy` (not timed, as Docker has it in its store). Each run builds into a fresh
//! repository: Docker with its classic builder (`FROM` the registry's base, `COPY`,
//! `ENTRYPOINT`) then `docker push`; packer with `packer build --file` of the same file (`FROM`
//! the base's layout) then `pusher push --mount-from` the base's repository, through a
//! counting proxy. Prints medians and the ratio, and the bytes pusher sent, which must be the
//! new layer, the config and the manifest only; PASS or FAIL per target, non-zero on a miss.

use crate::util::{describe, run_cmd};
use anyhow::{Context, Result, bail};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tests::proxy::Proxy;
use tests::registry::{Auth, Registry};

/// Arguments of `cargo xtask bench base`.
#[derive(clap::Args)]
pub struct Args {
    /// Runs of each tool (the median is compared)
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Size of the base's payload in MiB
    #[arg(long, default_value_t = 100)]
    mib: u64,
}

/// The target from the issue: at most this fraction of Docker's wall time.
const MAX_VS_DOCKER: f64 = 0.2;

/// Runs `cmd` with its output discarded; the wall time.
fn timed(cmd: &mut Command) -> Result<Duration> {
    let start = Instant::now();
    let out = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .with_context(|| format!("cannot start {}", describe(cmd)))?;
    if !out.status.success() {
        bail!(
            "{} failed: {}",
            describe(cmd),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(start.elapsed())
}

fn read_json(path: &Path) -> Result<serde_json::Value> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(serde_json::from_slice(&bytes)?)
}

/// The bytes of the new layer, the config and the manifest of the layout's image `tag`.
fn new_bytes(layout: &Path, tag: &str, base_layers: usize) -> Result<u64> {
    let index = read_json(&layout.join("index.json"))?;
    let entry = index["manifests"]
        .as_array()
        .context("no manifests")?
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .with_context(|| format!("no {tag} in {}", layout.display()))?;
    let blob = |d: &str| layout.join("blobs/sha256").join(&d[7..]);
    let manifest = read_json(&blob(entry["digest"].as_str().context("no digest")?))?;
    let mut bytes = entry["size"].as_u64().unwrap_or(0);
    bytes += manifest["config"]["size"].as_u64().unwrap_or(0);
    let layers = manifest["layers"].as_array().context("no layers")?;
    for l in &layers[base_layers..] {
        bytes += l["size"].as_u64().unwrap_or(0);
    }
    Ok(bytes)
}

pub fn run(args: Args) -> Result<()> {
    if args.runs == 0 {
        bail!("--runs must be at least 1");
    }
    for tool in ["docker", "docker-registry", "busybox", "tar"] {
        tests::tools::require(tool);
    }
    tests::docker::start_engine().map_err(anyhow::Error::msg)?;
    eprintln!("building pusher and packer (release) and the penguin shell");
    let release = super::build_release_tools()?;
    let (pusher, packer) = (release.join("pusher"), release.join("packer"));
    let shell = crate::shell::build_shell_for(&crate::shell::HOST)?;

    let work = tests::tools::target_dir().join("bench-base");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    let reg = Registry::start(Auth::None)?;
    let proxy = Proxy::start(reg.addr)?;
    let config = work.join("docker-config");
    std::fs::create_dir_all(&config)?;

    eprintln!("making a base of busybox and {} MiB", args.mib);
    let rootfs = work.join("base-rootfs");
    std::fs::create_dir_all(rootfs.join("bin"))?;
    std::fs::create_dir_all(rootfs.join("data"))?;
    std::fs::copy(tests::tools::require("busybox"), rootfs.join("bin/busybox"))?;
    super::random_file(&rootfs.join("data/payload"), args.mib, super::RANDOM_START)?;
    let tar = work.join("base.tar");
    run_cmd(
        Command::new("tar")
            .arg("-C")
            .arg(&rootfs)
            .args(["--numeric-owner", "-cf"])
            .arg(&tar)
            .arg("."),
    )?;
    let base = reg.reference("bench/base:1");
    run_cmd(Command::new("docker").arg("import").arg(&tar).arg(&base))?;
    run_cmd(Command::new("docker").args(["push", "-q", &base]))?;
    let base_layout = work.join("base");
    run_cmd(
        Command::new(&pusher)
            .env("DOCKER_CONFIG", &config)
            .args(["copy", "-q", &format!("docker://{base}")])
            .arg(format!("oci:{}:base", base_layout.display())),
    )?;

    let ctx = work.join("context");
    std::fs::create_dir_all(&ctx)?;
    std::fs::copy(&shell, ctx.join("penguinshell"))?;
    let rest = "COPY penguinshell /bin/\nENTRYPOINT [\"/bin/penguinshell\"]\n";
    std::fs::write(ctx.join("Dockerfile"), format!("FROM {base}\n{rest}"))?;
    std::fs::write(
        ctx.join("Containerfile"),
        format!("FROM oci:{}:base\n{rest}", base_layout.display()),
    )?;

    // Docker keeps the base in its store; packer keeps its blobs in the layout it builds
    // into: one untimed build puts them there (linked and verified once), as the import did
    let layout = work.join("packer");
    let build = |tag: &str| {
        timed(
            Command::new(&packer)
                .args(["build", "--file"])
                .arg(ctx.join("Containerfile"))
                .arg(&ctx)
                .arg("--oci-layout")
                .arg(&layout)
                .args(["--tag", tag]),
        )
    };
    build("penguin:warm-up")?;
    eprintln!("registry at {}; {} runs each", reg.host, args.runs);
    let (mut t_docker, mut t_packer) = (Vec::new(), Vec::new());
    let mut sent = Vec::new();
    let mut expected = 0;
    for run in 0..args.runs {
        let docker_ref = reg.reference(&format!("bench/docker-{run}:1"));
        let start = Instant::now();
        timed(
            Command::new("docker")
                .env("DOCKER_BUILDKIT", "0")
                .args(["build", "--no-cache", "-q", "-t", &docker_ref])
                .arg(&ctx),
        )?;
        timed(Command::new("docker").args(["push", "-q", &docker_ref]))?;
        t_docker.push(start.elapsed());
        let _ = Command::new("docker")
            .args(["rmi", "-f", &docker_ref])
            .output();

        let tag = format!("penguin:run-{run}");
        proxy.reset_counts();
        let start = Instant::now();
        build(&tag)?;
        timed(
            Command::new(&pusher)
                .env("DOCKER_CONFIG", &config)
                .args(["push", "-q", "--mount-from", "bench/base"])
                .arg(format!("{}:{tag}", layout.display()))
                .arg(format!("{}/bench/penguin-{run}:1", proxy.host)),
        )?;
        t_packer.push(start.elapsed());
        let bytes: u64 = proxy
            .seen()
            .iter()
            .filter(|s| s.method == "PUT" || s.method == "PATCH")
            .map(|s| s.body)
            .sum();
        sent.push(bytes);
        expected = new_bytes(&layout, &tag, 1)?;
        eprintln!(
            "run {}: docker build + push {:.3} s, packer + pusher {:.3} s, {bytes} bytes sent",
            run + 1,
            t_docker[run].as_secs_f64(),
            t_packer[run].as_secs_f64(),
        );
    }
    let (d, p) = (super::median(t_docker), super::median(t_packer));
    let ratio = p.as_secs_f64() / d.as_secs_f64();
    println!(
        "the penguin shell on a {} MiB base already in the registry, median of {} runs:",
        args.mib, args.runs
    );
    println!(
        "  docker build + docker push         {:.3} s",
        d.as_secs_f64()
    );
    println!(
        "  packer build --file + pusher push  {:.3} s",
        p.as_secs_f64()
    );
    println!(
        "  pusher sent {} bytes; new layer + config + manifest = {expected} bytes",
        sent.iter().max().copied().unwrap_or(0)
    );
    let checks = [
        (
            format!("packer+pusher / docker = {ratio:.3} <= {MAX_VS_DOCKER}"),
            ratio <= MAX_VS_DOCKER,
        ),
        (
            "bytes uploaded: the new layer, config and manifest only".to_string(),
            sent.iter().all(|b| *b == expected),
        ),
    ];
    let mut failed = 0;
    for (what, ok) in &checks {
        println!("{} {what}", if *ok { "PASS" } else { "FAIL" });
        failed += usize::from(!ok);
    }
    let _ = Command::new("docker").args(["rmi", "-f", &base]).output();
    if failed > 0 {
        bail!("{failed} base benchmark target(s) missed");
    }
    Ok(())
}
