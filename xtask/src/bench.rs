//! `cargo xtask bench`: each benchmark runs our tool and its competitor in the same session
//! and prints medians and ratios. Never timed in tests.

mod base;
mod copy;
mod image;
mod pack;
mod push;
pub(crate) mod shell;

use crate::util::{describe, run_cmd};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// Arguments of `cargo xtask bench`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    which: Which,
}

#[derive(clap::Subcommand)]
enum Which {
    /// Shell binary size and startup time against busybox sh and dash
    Shell(shell::Args),
    /// packer at every gzip level against umoci, GNU gzip and reference engines
    Pack(pack::Args),
    /// pusher against skopeo copy and a raw curl upload
    Push(push::Args),
    /// pusher copy and pull against skopeo copy, within one registry and between two
    #[command(long_about = copy::LONG_ABOUT)]
    Copy(copy::Args),
    /// `cargo xtask image --push` against the article's way (tar, sha256sum, curl)
    Image(image::Args),
    /// The penguin image on a ~100 MiB base, built and pushed, against docker build + push
    Base(base::Args),
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.which {
        Which::Shell(a) => shell::run(a),
        Which::Pack(a) => pack::run(a),
        Which::Push(a) => push::run(a),
        Which::Copy(a) => copy::run(a),
        Which::Image(a) => image::run(a),
        Which::Base(a) => base::run(a),
    }
}

/// The median of some measurements, timings or sizes (the upper one of the middle two for an
/// even count): the one median of every benchmark.
pub fn median<T: Copy + PartialOrd>(mut values: Vec<T>) -> T {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    values[values.len() / 2]
}

/// GNU `time`, which [`timed`] runs commands under.
pub(crate) const GNU_TIME: &str = "/usr/bin/time";

/// Fails with a clear message unless [`GNU_TIME`] is installed.
pub(crate) fn require_gnu_time() -> Result<&'static Path> {
    let time = Path::new(GNU_TIME);
    if !time.is_file() {
        bail!("{GNU_TIME} (GNU time) is missing: apt-get install -y time");
    }
    Ok(time)
}

/// Builds pusher and packer in release mode; returns the folder holding both binaries.
pub(crate) fn build_release_tools() -> Result<PathBuf> {
    run_cmd(crate::util::cargo().args([
        "build",
        "--quiet",
        "--release",
        "-p",
        "pusher",
        "-p",
        "packer",
    ]))?;
    Ok(tests::tools::target_dir().join("release"))
}

/// One timed command.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sample {
    /// wall-clock seconds
    pub wall: f64,
    /// user + system CPU seconds
    pub cpu: f64,
    /// peak resident memory
    pub max_rss_kib: u64,
}

/// Runs `cmd` (its environment kept) under GNU `time` (the binary `time`); returns wall and CPU
/// seconds, peak RSS and stdout. `scratch` holds time's report for the while.
pub(crate) fn timed(time: &Path, cmd: &mut Command, scratch: &Path) -> Result<(Sample, String)> {
    let report = scratch.join(".time");
    let mut wrapped = Command::new(time);
    wrapped
        .arg("-f")
        .arg("%U %S %M")
        .arg("-o")
        .arg(&report)
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => wrapped.env(k, v),
            None => wrapped.env_remove(k),
        };
    }
    let start = Instant::now();
    let out = wrapped
        .output()
        .with_context(|| format!("cannot start {}", describe(cmd)))?;
    let wall = start.elapsed().as_secs_f64();
    if !out.status.success() {
        bail!(
            "{} failed with {}: {}",
            describe(cmd),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = std::fs::read_to_string(&report)?;
    let fields: Vec<f64> = text
        .lines()
        .last()
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|f| f.parse().ok())
        .collect();
    let [user, sys, rss] = fields[..] else {
        bail!("cannot read cpu time and peak memory from {text:?}");
    };
    std::fs::remove_file(&report)?;
    Ok((
        Sample {
            wall,
            cpu: user + sys,
            max_rss_kib: rss as u64,
        },
        String::from_utf8_lossy(&out.stdout).into_owned(),
    ))
}

/// The xorshift state `random_file` starts from unless a benchmark needs several different files.
pub(crate) const RANDOM_START: u64 = 0x2545_f491_4f6c_dd1d;

/// Writes `mib` MiB of incompressible bytes (xorshift from `state`) to `path`.
pub(crate) fn random_file(path: &Path, mib: u64, state: u64) -> Result<()> {
    use std::io::Write;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut x = state;
    let mut buf = vec![0u8; 1 << 20];
    for _ in 0..mib {
        for chunk in buf.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chunk.copy_from_slice(&x.to_le_bytes());
        }
        f.write_all(&buf)?;
    }
    f.flush()?;
    Ok(())
}
