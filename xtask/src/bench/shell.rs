//! `cargo xtask bench shell`: how small and how quick the penguin shell is, measured
//! in one run against the article's Go layer (size) and against `busybox sh` and
//! `dash` (startup). Prints PASS or FAIL per target; a missed target is an error.

use crate::shell::build_static_shell;
use anyhow::{Context, Result, bail};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The gzipped layer of the article's Go shell, in bytes.
pub const ARTICLE_LAYER_GZ: u64 = 1_303_821;
/// Target: the stripped binary is at most 600 KB.
pub const MAX_BINARY: u64 = 600 * 1024;
/// Target: gzipped, at most 300 KB.
pub const MAX_GZIPPED: u64 = 300 * 1024;

/// Arguments of `cargo xtask bench shell`.
#[derive(clap::Args)]
pub struct Args {
    /// Timed runs of each shell (interleaved); the median counts
    #[arg(long, default_value_t = 200)]
    runs: usize,
}

/// One line of the report, and whether its target holds.
struct Verdict {
    line: String,
    pass: bool,
}

impl Verdict {
    fn new(pass: bool, line: String) -> Self {
        Self { line, pass }
    }
}

pub fn run(args: Args) -> Result<()> {
    ensure_competitors()?;
    let shell = build_static_shell()?;
    let mut verdicts = Vec::new();

    // Size: the binary as it lands in the image, and gzipped as in the layer.
    let size = std::fs::metadata(&shell)
        .with_context(|| format!("cannot stat {}", shell.display()))?
        .len();
    let gzipped = gzipped_size(&shell, 6)?;
    let gzipped_best = gzipped_size(&shell, 9)?;
    println!("size of {}", shell.display());
    println!(
        "  stripped binary  {size:>9} bytes  ({:.2}x the article's gzipped Go layer)",
        ratio(size, ARTICLE_LAYER_GZ)
    );
    println!(
        "  gzip -6          {gzipped:>9} bytes  ({:.2}x the article's {ARTICLE_LAYER_GZ} bytes)",
        ratio(gzipped, ARTICLE_LAYER_GZ)
    );
    println!(
        "  gzip -9          {gzipped_best:>9} bytes  ({:.2}x)",
        ratio(gzipped_best, ARTICLE_LAYER_GZ)
    );
    verdicts.push(Verdict::new(
        size <= MAX_BINARY,
        format!("stripped binary {size} bytes <= {MAX_BINARY} (600 KB)"),
    ));
    verdicts.push(Verdict::new(
        gzipped <= MAX_GZIPPED,
        format!("gzip -6 {gzipped} bytes <= {MAX_GZIPPED} (300 KB)"),
    ));

    // Startup: `-c 'echo hi'`, interleaved so that noise hits every shell alike.
    let shell_path = shell.to_string_lossy().into_owned();
    let contenders: [(&str, Vec<&str>); 3] = [
        ("penguinshell", vec![shell_path.as_str(), "-c", "echo hi"]),
        ("busybox sh", vec!["busybox", "sh", "-c", "echo hi"]),
        ("dash", vec!["dash", "-c", "echo hi"]),
    ];
    let medians = time_interleaved(&contenders, args.runs)?;
    println!(
        "startup, median of {} interleaved runs of `-c 'echo hi'`",
        args.runs
    );
    let ours = medians[0];
    for ((name, _), median) in contenders.iter().zip(&medians) {
        println!(
            "  {name:<13} {:>8.1} µs  (penguinshell / {name}: {:.2})",
            micros(*median),
            ours.as_secs_f64() / median.as_secs_f64()
        );
    }
    let dash = medians[2];
    verdicts.push(Verdict::new(
        ours <= dash,
        format!(
            "startup {:.1} µs <= dash's {:.1} µs",
            micros(ours),
            micros(dash)
        ),
    ));

    println!("targets");
    for v in &verdicts {
        println!("  {}  {}", if v.pass { "PASS" } else { "FAIL" }, v.line);
    }
    let missed = verdicts.iter().filter(|v| !v.pass).count();
    if missed > 0 {
        bail!("{missed} of {} targets missed", verdicts.len());
    }
    Ok(())
}

/// The size of `path` compressed by `gzip -LEVEL`: GNU gzip, the tool the article's
/// `tar -czf` used (other deflate implementations land a few percent apart).
fn gzipped_size(path: &Path, level: u8) -> Result<u64> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let out = Command::new("gzip")
        .arg(format!("-{level}"))
        .arg("--stdout")
        .stdin(file)
        .output()
        .context("cannot run gzip")?;
    if !out.status.success() {
        bail!("gzip -{level} failed with {}", out.status);
    }
    Ok(out.stdout.len() as u64)
}

/// Runs every contender `runs` times, round-robin (the order rotates each round),
/// after a short warm-up; returns the median wall time of each.
fn time_interleaved(contenders: &[(&str, Vec<&str>)], runs: usize) -> Result<Vec<Duration>> {
    let mut times = vec![Vec::with_capacity(runs); contenders.len()];
    for (_, argv) in contenders {
        for _ in 0..5 {
            time_once(argv)?;
        }
    }
    for round in 0..runs {
        for k in 0..contenders.len() {
            let i = (round + k) % contenders.len();
            times[i].push(time_once(&contenders[i].1)?);
        }
    }
    Ok(times.into_iter().map(super::median).collect())
}

/// Wall time of one run from spawn to exit; a failing run is an error.
fn time_once(argv: &[&str]) -> Result<Duration> {
    let mut cmd = Command::new(argv[0]);
    cmd.args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let start = Instant::now();
    let status = cmd
        .status()
        .with_context(|| format!("cannot start {}", argv.join(" ")))?;
    let elapsed = start.elapsed();
    if !status.success() {
        bail!("{} failed with {status}", argv.join(" "));
    }
    Ok(elapsed)
}

/// Installs busybox-static and dash with apt-get when they are missing (as root).
fn ensure_competitors() -> Result<()> {
    let missing: Vec<&str> = [("busybox", "busybox-static"), ("dash", "dash")]
        .into_iter()
        .filter(|(program, _)| tests::tools::find_on_path(program).is_none())
        .map(|(_, package)| package)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    if !nix::unistd::Uid::effective().is_root() {
        bail!(
            "the benchmark needs {}: install with `sudo apt-get install -y {}`",
            missing.join(", "),
            missing.join(" ")
        );
    }
    eprintln!("installing {}", missing.join(" "));
    crate::util::run_cmd(
        Command::new("apt-get")
            .args(["install", "-y"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}

fn ratio(a: u64, b: u64) -> f64 {
    a as f64 / b as f64
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
