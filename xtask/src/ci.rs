//! `cargo xtask ci`: the one test command of the README and of `.ci/run`.
//!
//! On a fresh Debian machine with only the Rust toolchain it installs what the tests need
//! (the musl targets of every image platform with rustup; Debian packages with apt-get when
//! running as root), registers QEMU with binfmt_misc for the foreign platforms, starts the
//! Docker Engine, then runs `cargo fmt --check`, `cargo clippy` with warnings denied, the
//! unused-dependency check of [`crate::tidy`] and every test of the workspace. A missing tool
//! is an error, never a skipped test.

use crate::shell::SHELL_TARGETS;
use crate::util::{cargo, output_of, run_cmd};
use anyhow::{Context, Result, bail};
use std::process::Command;

/// Arguments of `cargo xtask ci`.
#[derive(clap::Args)]
pub struct Args {
    /// Do not install anything; fail if something is missing
    #[arg(long)]
    no_install: bool,
    /// Run only the tests (no fmt, no clippy)
    #[arg(long)]
    tests_only: bool,
}

/// Each program the tests run, and the Debian package that provides it.
pub const TOOLS: &[(&str, &str)] = &[
    ("dockerd", "docker.io"),
    ("docker", "docker.io"),
    ("docker-registry", "docker-registry"),
    ("skopeo", "skopeo"),
    ("podman", "podman"),
    ("umoci", "umoci"),
    ("runc", "runc"),
    ("htpasswd", "apache2-utils"),
    ("busybox", "busybox-static"),
    ("dash", "dash"),
    ("file", "file"),
    ("tmux", "tmux"),
    ("curl", "curl"),
    ("jq", "jq"),
    ("openssl", "openssl"),
    ("setsid", "util-linux"),
    ("kill", "procps"),
    ("hyperfine", "hyperfine"),
    ("time", "time"),
    ("git", "git"),
    ("qemu-aarch64-static", "qemu-user-static"),
    ("containerd", "containerd"),
    ("ctr", "containerd"),
];

pub fn run(args: Args) -> Result<()> {
    step("install what the tests need");
    ensure_rust_targets(!args.no_install)?;
    ensure_tools(!args.no_install)?;
    step("run foreign binaries through QEMU (binfmt_misc)");
    let foreign: Vec<&str> = SHELL_TARGETS
        .iter()
        .filter(|t| !t.is_native())
        .map(|t| t.qemu)
        .collect();
    tests::binfmt::ensure_registered(&foreign).map_err(anyhow::Error::msg)?;
    step("start the Docker Engine");
    tests::docker::start_engine().map_err(anyhow::Error::msg)?;
    if !args.tests_only {
        step("cargo fmt --check");
        run_cmd(cargo().args(["fmt", "--all", "--check"]))?;
        step("cargo clippy --all-targets -- -D warnings");
        run_cmd(cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]))?;
    }
    step("no unused dependencies");
    crate::tidy::check_dependencies(&tests::tools::project_root())?;
    step("cargo test --workspace");
    run_cmd(cargo().args(["test", "--workspace", "--no-fail-fast"]))?;
    step("all checks passed");
    Ok(())
}

fn step(what: &str) {
    eprintln!("\n==> {what}");
}

/// Adds the rustup targets of every image platform that are missing.
pub fn ensure_rust_targets(install: bool) -> Result<()> {
    let installed = output_of(Command::new("rustup").args(["target", "list", "--installed"]))
        .context("rustup is needed to add the musl targets")?;
    for target in SHELL_TARGETS.iter().map(|t| t.triple) {
        if installed.lines().any(|l| l.trim() == target) {
            continue;
        }
        if !install {
            bail!("rust target {target} is missing: rustup target add {target}");
        }
        run_cmd(Command::new("rustup").args(["target", "add", target]))?;
    }
    Ok(())
}

/// Installs the Debian packages whose programs are missing (apt-get, as root).
pub fn ensure_tools(install: bool) -> Result<()> {
    let mut packages: Vec<&str> = TOOLS
        .iter()
        .filter(|(program, _)| tests::tools::find_on_path(program).is_none())
        .map(|(_, package)| *package)
        .collect();
    packages.dedup();
    if packages.is_empty() {
        return Ok(());
    }
    let list = packages.join(" ");
    if !install {
        bail!("missing Debian packages: {list}");
    }
    if !nix::unistd::Uid::effective().is_root() {
        bail!("missing Debian packages: {list}; run as root or: sudo apt-get install -y {list}");
    }
    eprintln!("installing {list}");
    run_cmd(Command::new("apt-get").args(["update", "-qq"]))?;
    run_cmd(
        Command::new("apt-get")
            .args(["install", "-y", "-qq"])
            .args(&packages)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )?;
    let still_missing: Vec<&str> = TOOLS
        .iter()
        .filter(|(program, _)| tests::tools::find_on_path(program).is_none())
        .map(|(program, _)| *program)
        .collect();
    if !still_missing.is_empty() {
        bail!(
            "still missing after apt-get install: {}",
            still_missing.join(" ")
        );
    }
    Ok(())
}
