//! `cargo xtask bench pack`: packer against umoci and the article's tar/gzip/sha256sum
//! pipeline, on the same synthetic bundle, in the same session.
//!
//! The bundle (about 250 MiB, 2,000 files, half random bytes, half text) comes from a
//! deterministic generator, so every machine benchmarks the same bytes. Each run times the
//! whole command and reads its peak memory from GNU time; we print medians, ratios, and
//! PASS/FAIL against the targets (packer wall at most 0.8 x umoci's, layer at most 1.02 x
//! umoci's, peak memory at most 64 MiB). A missed target is a non-zero exit.

use crate::util::{cargo, describe, run_cmd};
use anyhow::{Context, Result, bail};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// Arguments of `cargo xtask bench pack`.
#[derive(clap::Args)]
pub struct Args {
    /// Runs of each contender (the median is reported)
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Files in the synthetic bundle
    #[arg(long, default_value_t = 2000)]
    files: usize,
    /// Total size of the synthetic bundle in MiB
    #[arg(long, default_value_t = 250)]
    mib: u64,
}

/// Targets from the issue.
const MAX_WALL_RATIO: f64 = 0.8;
const MAX_SIZE_RATIO: f64 = 1.02;
const MAX_PEAK_MIB: f64 = 64.0;

/// One timed command: wall seconds, peak resident memory in KiB.
#[derive(Debug, Clone, Copy)]
struct Sample {
    wall: f64,
    /// user + system CPU seconds
    cpu: f64,
    max_rss_kib: u64,
}

pub fn run(args: Args) -> Result<()> {
    if args.runs == 0 || args.files == 0 {
        bail!("--runs and --files must be at least 1");
    }
    for tool in ["umoci", "tar", "gzip", "gunzip", "sha256sum"] {
        tests::tools::find_on_path(tool)
            .with_context(|| format!("{tool} is not installed; `cargo xtask ci` installs it"))?;
    }
    let time = Path::new("/usr/bin/time");
    if !time.is_file() {
        bail!("/usr/bin/time (GNU time) is missing: apt-get install -y time");
    }
    let work = tests::tools::target_dir().join("bench-pack");
    let bundle = work.join("bundle");
    generate_bundle(&bundle, args.files, args.mib << 20)?;
    let packer = build_packer()?;
    warm_cache(&bundle)?;

    let mut packer_runs = Vec::new();
    let mut umoci_runs = Vec::new();
    let mut article_runs = Vec::new();
    let (mut packer_size, mut umoci_size, mut article_size) = (0, 0, 0);
    let mut packer_digest = None;
    for run in 1..=args.runs {
        eprintln!("run {run}/{}", args.runs);

        let out = fresh(&work.join("packer-out"))?;
        let layout = out.join("layout");
        let mut cmd = Command::new(&packer);
        cmd.arg("build")
            .arg(&bundle)
            .arg("--oci-layout")
            .arg(&layout)
            .args(["--tag", "bench:1", "--json"]);
        let (sample, stdout) = timed(time, &mut cmd, &out)?;
        packer_runs.push(sample);
        packer_size = largest_blob(&layout)?;
        let digest = json_field(&stdout, "layer", "digest");
        if packer_digest.is_some() && packer_digest != digest {
            bail!("packer gave a different layer digest on run {run}: not reproducible");
        }
        packer_digest = digest;

        let out = fresh(&work.join("umoci-out"))?;
        let layout = out.join("layout");
        let image = format!("{}:bench", layout.display());
        let steps = [
            vec![
                "init".to_owned(),
                "--layout".to_owned(),
                layout.display().to_string(),
            ],
            vec!["new".to_owned(), "--image".to_owned(), image.clone()],
            vec![
                "insert".to_owned(),
                "--image".to_owned(),
                image.clone(),
                bundle.display().to_string(),
                "/".to_owned(),
            ],
        ];
        let mut total = Sample {
            wall: 0.0,
            cpu: 0.0,
            max_rss_kib: 0,
        };
        for step in steps {
            let mut cmd = Command::new("umoci");
            cmd.args(step);
            let (s, _) = timed(time, &mut cmd, &out)?;
            total.wall += s.wall;
            total.cpu += s.cpu;
            total.max_rss_kib = total.max_rss_kib.max(s.max_rss_kib);
        }
        umoci_runs.push(total);
        umoci_size = largest_blob(&layout)?;

        let out = fresh(&work.join("article-out"))?;
        let script = format!(
            "cd '{}' && tar -czf '{out}/layer.tar.gz' * && sha256sum '{out}/layer.tar.gz' \
             && gunzip -c '{out}/layer.tar.gz' | sha256sum",
            bundle.display(),
            out = out.display()
        );
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(script);
        let (s, _) = timed(time, &mut cmd, &out)?;
        article_runs.push(s);
        article_size = std::fs::metadata(out.join("layer.tar.gz"))?.len();
    }

    let p = median(&packer_runs);
    let u = median(&umoci_runs);
    let a = median(&article_runs);
    let mib = |kib: u64| kib as f64 / 1024.0;
    println!(
        "bundle: {} files, {:.1} MiB ({})",
        args.files,
        dir_size(&bundle)? as f64 / 1048576.0,
        bundle.display()
    );
    println!("medians over {} runs:", args.runs);
    println!(
        "  {:<48} {:>8} {:>8} {:>14} {:>10}",
        "", "wall s", "cpu s", "layer bytes", "peak MiB"
    );
    let row = |name: &str, s: Sample, size: u64| {
        println!(
            "  {:<48} {:>8.2} {:>8.2} {:>14} {:>10.1}",
            name,
            s.wall,
            s.cpu,
            size,
            mib(s.max_rss_kib)
        );
    };
    row("packer build (gzip, default level)", p, packer_size);
    row("umoci init + new + insert", u, umoci_size);
    row(
        "article: tar -czf, sha256sum, gunzip|sha256sum",
        a,
        article_size,
    );
    let wall_ratio = p.wall / u.wall;
    let size_ratio = packer_size as f64 / umoci_size as f64;
    let peak = mib(p.max_rss_kib);
    println!("ratios:");
    println!("  packer / article pipeline wall   {:.3}", p.wall / a.wall);
    println!("  packer / umoci cpu               {:.3}", p.cpu / u.cpu);
    let verdict = |ok: bool| if ok { "PASS" } else { "FAIL" };
    let checks = [
        (
            format!("packer / umoci wall    {wall_ratio:.3}  (target <= {MAX_WALL_RATIO})"),
            wall_ratio <= MAX_WALL_RATIO,
        ),
        (
            format!("packer / umoci layer   {size_ratio:.4}  (target <= {MAX_SIZE_RATIO})"),
            size_ratio <= MAX_SIZE_RATIO,
        ),
        (
            format!("packer peak memory     {peak:.1} MiB  (target <= {MAX_PEAK_MIB} MiB)"),
            peak <= MAX_PEAK_MIB,
        ),
    ];
    let mut failed = 0;
    for (line, ok) in &checks {
        println!("  {} {line}", verdict(*ok));
        failed += usize::from(!ok);
    }
    std::io::stdout().flush()?;
    if failed > 0 {
        bail!("{failed} of {} targets missed", checks.len());
    }
    Ok(())
}

fn build_packer() -> Result<PathBuf> {
    run_cmd(cargo().args([
        "build",
        "--quiet",
        "--release",
        "--package",
        "packer",
        "--bin",
        "packer",
    ]))?;
    let bin = tests::tools::target_dir().join("release").join("packer");
    if !bin.is_file() {
        bail!("{} was not built", bin.display());
    }
    Ok(bin)
}

/// An empty folder at `dir` (removed first if present).
fn fresh(dir: &Path) -> Result<PathBuf> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("cannot remove {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir.to_path_buf())
}

/// Runs `cmd` under GNU time; returns wall time, peak memory and stdout.
fn timed(time: &Path, cmd: &mut Command, scratch: &Path) -> Result<(Sample, String)> {
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

fn median(samples: &[Sample]) -> Sample {
    let mid = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        let n = v.len();
        if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        }
    };
    Sample {
        wall: mid(samples.iter().map(|s| s.wall).collect()),
        cpu: mid(samples.iter().map(|s| s.cpu).collect()),
        max_rss_kib: mid(samples.iter().map(|s| s.max_rss_kib as f64).collect()) as u64,
    }
}

/// `"key": {"field": "value"}` from packer's one-line JSON, without a JSON dependency.
fn json_field(json: &str, key: &str, field: &str) -> Option<String> {
    let at = json.find(&format!("\"{key}\":"))?;
    let rest = &json[at..];
    let f = rest.find(&format!("\"{field}\":\""))? + field.len() + 4;
    let end = rest[f..].find('"')?;
    Some(rest[f..f + end].to_owned())
}

/// The size of the biggest blob of a layout: the layer, for a one-layer image.
fn largest_blob(layout: &Path) -> Result<u64> {
    let dir = layout.join("blobs/sha256");
    let mut max = 0;
    for e in std::fs::read_dir(&dir).with_context(|| format!("cannot read {}", dir.display()))? {
        max = max.max(e?.metadata()?.len());
    }
    Ok(max)
}

fn dir_size(dir: &Path) -> Result<u64> {
    let mut total = 0;
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let m = e.metadata()?;
        total += if m.is_dir() {
            dir_size(&e.path())?
        } else {
            m.len()
        };
    }
    Ok(total)
}

/// Reads every file once so every contender starts with the bundle in the page cache.
fn warm_cache(dir: &Path) -> Result<()> {
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        if e.file_type()?.is_dir() {
            warm_cache(&e.path())?;
        } else {
            std::io::copy(&mut std::fs::File::open(e.path())?, &mut std::io::sink())?;
        }
    }
    Ok(())
}

/// A deterministic pseudo-random sequence (xorshift64*), the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

const WORDS: &[&str] = &[
    "penguin",
    "shell",
    "layer",
    "digest",
    "manifest",
    "config",
    "registry",
    "blob",
    "tar",
    "gzip",
    "container",
    "image",
    "upload",
    "the",
    "a",
    "of",
    "and",
    "to",
    "in",
    "is",
    "docker",
    "bundle",
    "rootfs",
    "sha256",
    "index",
    "platform",
    "linux",
    "amd64",
    "static",
    "binary",
];

/// Writes the synthetic bundle unless a marker says this exact one is already there:
/// `files` files in folders of 50, sizes spread around the mean, every other file random
/// bytes, the rest text.
fn generate_bundle(dir: &Path, files: usize, total: u64) -> Result<()> {
    // the marker sits beside the bundle, so it is not part of it
    let marker = dir.with_extension("generated");
    let id = format!("v1 files={files} total={total}\n");
    if std::fs::read_to_string(&marker).ok().as_deref() == Some(id.as_str()) {
        return Ok(());
    }
    eprintln!(
        "generating the {} MiB bundle in {}",
        total >> 20,
        dir.display()
    );
    fresh(dir)?;
    let mean = total / files as u64;
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let mut written = 0u64;
    for i in 0..files {
        let sub = dir.join(format!("d{:03}", i / 50));
        std::fs::create_dir_all(&sub)?;
        // sizes from mean/16 to about 2 x mean, the last file takes up the rest
        let size = if i + 1 == files {
            total.saturating_sub(written)
        } else {
            (mean / 16 + rng.next() % (mean * 15 / 8)).min(total.saturating_sub(written))
        };
        let mut data = Vec::with_capacity(size as usize);
        if i % 2 == 0 {
            while (data.len() as u64) < size {
                data.extend_from_slice(&rng.next().to_le_bytes());
            }
        } else {
            while (data.len() as u64) < size {
                let w = WORDS[(rng.next() % WORDS.len() as u64) as usize];
                data.extend_from_slice(w.as_bytes());
                data.push(if rng.next().is_multiple_of(12) {
                    b'\n'
                } else {
                    b' '
                });
            }
        }
        data.truncate(size as usize);
        std::fs::write(
            sub.join(format!(
                "f{i:04}.{}",
                if i % 2 == 0 { "bin" } else { "txt" }
            )),
            &data,
        )?;
        written += size;
    }
    std::fs::write(&marker, id)?;
    Ok(())
}
