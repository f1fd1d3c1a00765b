//! `cargo xtask bench pack`: packer at every gzip level (and zstd) against umoci, GNU gzip -6
//! and reference engines, on the same bundle, in the same session.
//!
//! The bundle is by default a realistic root filesystem assembled from what the machine has
//! (Python's standard library, /usr/share/doc, locales, shared libraries; see [`realistic`]),
//! copied in sorted order with fixed mtimes; `--synthetic` keeps the old generated bundle (half
//! random bytes, half a word salad). Each run times every contender once, in an order rotated
//! from run to run, reading wall time, CPU time and peak memory from GNU time. We print medians,
//! ratios against umoci, and PASS/FAIL against the targets of issue 13; a missed target is a
//! non-zero exit. `--plot FILE.svg` draws the size/time curve.

mod plot;
mod realistic;
mod synthetic;

use super::{Sample, timed};
use crate::util::run_cmd;
use anyhow::{Context, Result, bail};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Arguments of `cargo xtask bench pack`.
#[derive(clap::Args)]
pub struct Args {
    /// Runs of each contender (the median is reported); the order rotates between runs
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Benchmark the generated synthetic bundle (half random bytes, half text) instead of the
    /// realistic root filesystem
    #[arg(long)]
    synthetic: bool,
    /// Size of the bundle in MiB
    #[arg(long, default_value_t = 400)]
    mib: u64,
    /// Files in the synthetic bundle
    #[arg(long, default_value_t = 2000)]
    files: usize,
    /// packer gzip levels to measure, e.g. `1,3,6` (the default level is always measured)
    #[arg(long, value_delimiter = ',', default_values_t = 1..=9)]
    levels: Vec<u32>,
    /// Skip the reference engines (libdeflate, ISA-L, pigz, zstd) and GNU gzip
    #[arg(long)]
    no_references: bool,
    /// Draw the size/time curve as an SVG file
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
}

/// Targets from issue 13, as ratios of medians against umoci in the same run.
const MAX_DEFAULT_WALL: f64 = 0.6;
const MAX_DEFAULT_SIZE: f64 = 1.0;
const MAX_PEAK_MIB: f64 = 64.0;
const MAX_SMALL_SIZE: f64 = 0.96;
const MAX_SMALL_WALL: f64 = 1.0;

/// Who is measured: packer, umoci, or a reference tool on the same uncompressed tar.
#[derive(Debug, Clone, PartialEq)]
enum Who {
    PackerGzip(u32),
    PackerZstd(i32),
    Umoci,
    /// GNU tar -czf: the article's way, gzip -6
    TarGzip,
    /// `program args < layer.tar > out`
    Tool {
        program: &'static str,
        args: &'static [&'static str],
        note: &'static str,
    },
}

/// What the plot groups by colour.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Group {
    Packer,
    Competitor,
    Reference,
}

struct Contender {
    who: Who,
    name: String,
    samples: Vec<Sample>,
    size: u64,
    digest: Option<String>,
}

impl Contender {
    fn new(who: Who) -> Self {
        let default = packer::compress::DEFAULT_GZIP_LEVEL;
        let name = match &who {
            Who::PackerGzip(l) if *l == default => {
                "packer gzip default (level 1 or 2 per MiB)".to_owned()
            }
            Who::PackerGzip(l) => format!("packer gzip level {l}"),
            Who::PackerZstd(l) => format!("packer zstd level {l}"),
            Who::Umoci => "umoci init + new + insert".to_owned(),
            Who::TarGzip => "GNU tar -czf (gzip -6)".to_owned(),
            Who::Tool {
                program,
                args,
                note,
            } => format!("{program} {} {note}", args.join(" ")),
        };
        Contender {
            who,
            name,
            samples: Vec::new(),
            size: 0,
            digest: None,
        }
    }

    fn group(&self) -> Group {
        match self.who {
            Who::PackerGzip(_) | Who::PackerZstd(_) => Group::Packer,
            Who::Umoci | Who::TarGzip => Group::Competitor,
            Who::Tool { .. } => Group::Reference,
        }
    }

    fn median(&self) -> Sample {
        use super::median;
        Sample {
            wall: median(self.samples.iter().map(|s| s.wall).collect()),
            cpu: median(self.samples.iter().map(|s| s.cpu).collect()),
            max_rss_kib: median(self.samples.iter().map(|s| s.max_rss_kib).collect()),
        }
    }
}

/// The reference engines, each on the same uncompressed tar.
fn references() -> Vec<Who> {
    let tool = |program, args, note| Who::Tool {
        program,
        args,
        note,
    };
    vec![
        tool("gzip", &["-6", "-c"][..], "(GNU gzip, 1 thread)"),
        tool("pigz", &["-6", "-c"][..], "(all cores)"),
        tool("libdeflate-gzip", &["-4", "-c"][..], "(1 thread)"),
        tool("libdeflate-gzip", &["-6", "-c"][..], "(1 thread)"),
        tool("igzip", &["-3", "-c"][..], "(ISA-L, 1 thread)"),
        tool("zstd", &["-T0", "-3", "-c"][..], "(all cores)"),
        tool("zstd", &["-T0", "-9", "-c"][..], "(all cores)"),
    ]
}

pub fn run(args: Args) -> Result<()> {
    if args.runs == 0 || args.files == 0 || args.mib == 0 {
        bail!("--runs, --files and --mib must be at least 1");
    }
    if let Some(bad) = args.levels.iter().find(|l| !(1..=9).contains(*l)) {
        bail!("invalid level {bad} in --levels: expected levels from 1 to 9");
    }
    let mut needed = vec![("umoci", "umoci"), ("tar", "tar"), ("gzip", "gzip")];
    if !args.no_references {
        needed.extend([
            ("pigz", "pigz"),
            ("libdeflate-gzip", "libdeflate-tools"),
            ("igzip", "isal"),
            ("zstd", "zstd"),
        ]);
    }
    for (tool, package) in needed {
        tests::tools::find_on_path(tool).with_context(|| {
            format!(
                "{tool} is not installed: apt-get install -y {package} \
                 (or --no-references to skip the reference engines)"
            )
        })?;
    }
    let time = super::require_gnu_time()?;
    let work = tests::tools::target_dir().join("bench-pack");
    std::fs::create_dir_all(&work)?;
    let (bundle, makeup) = if args.synthetic {
        let dir = work.join("synthetic");
        synthetic::generate(&dir, args.files, args.mib << 20)?;
        let makeup = format!(
            "synthetic: {} files, half pseudo-random bytes, half a 30-word text salad",
            args.files
        );
        (dir, makeup)
    } else {
        let dir = work.join("realistic");
        let makeup = realistic::assemble(&dir, args.mib << 20)?;
        (dir, makeup)
    };
    let packer = build_packer()?;
    warm_cache(&bundle)?;

    // the uncompressed layer tar that the reference engines compress
    let tar = work.join("layer.tar");
    {
        let out = fresh(&work.join("tar-out"))?;
        let mut cmd = Command::new(&packer);
        cmd.arg("build")
            .arg(&bundle)
            .arg("--oci-layout")
            .arg(out.join("layout"))
            .arg("--rootfs-tar")
            .arg(&tar)
            .args(["--tag", "bench:tar", "--compression", "none"]);
        run_cmd(&mut cmd)?;
    }

    let mut levels = args.levels.clone();
    levels.push(packer::compress::DEFAULT_GZIP_LEVEL);
    levels.sort_unstable();
    levels.dedup();
    let mut contenders: Vec<Contender> = levels
        .into_iter()
        .map(|l| Contender::new(Who::PackerGzip(l)))
        .collect();
    contenders.push(Contender::new(Who::Umoci));
    if !args.no_references {
        contenders.push(Contender::new(Who::PackerZstd(3)));
        contenders.push(Contender::new(Who::PackerZstd(9)));
        contenders.push(Contender::new(Who::TarGzip));
        contenders.extend(references().into_iter().map(Contender::new));
    }

    let n = contenders.len();
    for run in 0..args.runs {
        eprintln!("run {}/{}", run + 1, args.runs);
        // rotate the order, so no contender always runs first (cold) or after the same one
        for i in 0..n {
            let c = &mut contenders[(i + run * n / args.runs) % n];
            let (sample, size, digest) = measure(&c.who, time, &packer, &bundle, &tar, &work)?;
            if run > 0 && (c.digest != digest || c.size != size) {
                bail!(
                    "{} gave different bytes on run {}: not reproducible",
                    c.name,
                    run + 1
                );
            }
            c.samples.push(sample);
            c.size = size;
            c.digest = digest;
        }
    }

    report(
        &contenders,
        &makeup,
        &bundle,
        &tar,
        args.runs,
        args.plot.as_deref(),
    )
}

/// Prints the table and the verdicts; draws the plot.
fn report(
    contenders: &[Contender],
    makeup: &str,
    bundle: &Path,
    tar: &Path,
    runs: usize,
    plot_to: Option<&Path>,
) -> Result<()> {
    let umoci = contenders
        .iter()
        .find(|c| c.who == Who::Umoci)
        .expect("umoci is always measured");
    let u = umoci.median();
    let mib = |kib: u64| kib as f64 / 1024.0;
    println!("bundle ({}):", bundle.display());
    for line in makeup.lines() {
        println!("  {line}");
    }
    println!(
        "  uncompressed layer tar: {:.1} MB",
        std::fs::metadata(tar)?.len() as f64 / 1e6
    );
    println!("medians over {runs} runs, order rotated between runs; ratios against umoci:");
    println!(
        "  {:<46} {:>7} {:>7} {:>12} {:>7} {:>7} {:>8}",
        "", "wall s", "cpu s", "layer bytes", "wall x", "size x", "peak MiB"
    );
    for c in contenders {
        let m = c.median();
        println!(
            "  {:<46} {:>7.2} {:>7.2} {:>12} {:>7.3} {:>7.4} {:>8.1}",
            c.name,
            m.wall,
            m.cpu,
            c.size,
            m.wall / u.wall,
            c.size as f64 / umoci.size as f64,
            mib(m.max_rss_kib)
        );
    }

    let default = contenders
        .iter()
        .find(|c| c.who == Who::PackerGzip(packer::compress::DEFAULT_GZIP_LEVEL))
        .expect("the default level is always measured");
    let d = default.median();
    let wall = d.wall / u.wall;
    let size = default.size as f64 / umoci.size as f64;
    let peak = mib(d.max_rss_kib);
    // the fastest packer gzip level whose layer is at most 0.96 x umoci's
    let small = contenders
        .iter()
        .filter(|c| matches!(c.who, Who::PackerGzip(_)))
        .filter(|c| c.size as f64 / umoci.size as f64 <= MAX_SMALL_SIZE)
        .min_by(|a, b| a.median().wall.total_cmp(&b.median().wall));
    let verdict = |ok: bool| if ok { "PASS" } else { "FAIL" };
    let mut checks = vec![
        (
            format!("default: wall {wall:.3} x umoci's (target <= {MAX_DEFAULT_WALL})"),
            wall <= MAX_DEFAULT_WALL,
        ),
        (
            format!("default: layer {size:.4} x umoci's (target <= {MAX_DEFAULT_SIZE})"),
            size <= MAX_DEFAULT_SIZE,
        ),
        (
            format!("default: peak memory {peak:.1} MiB (target <= {MAX_PEAK_MIB})"),
            peak <= MAX_PEAK_MIB,
        ),
    ];
    checks.push(match small {
        Some(c) => {
            let w = c.median().wall / u.wall;
            (
                format!(
                    "small: {} gives {:.4} x umoci's layer at {w:.3} x its wall \
                     (target <= {MAX_SMALL_SIZE} at <= {MAX_SMALL_WALL})",
                    c.name,
                    c.size as f64 / umoci.size as f64
                ),
                w <= MAX_SMALL_WALL,
            )
        }
        None => (
            format!("small: no packer gzip level gives <= {MAX_SMALL_SIZE} x umoci's layer"),
            false,
        ),
    });
    let mut failed = 0;
    println!("targets:");
    for (line, ok) in &checks {
        println!("  {} {line}", verdict(*ok));
        failed += usize::from(!ok);
    }
    if let Some(path) = plot_to {
        let points: Vec<plot::Point> = contenders
            .iter()
            .map(|c| plot::Point {
                label: c.name.clone(),
                wall: c.median().wall,
                size_ratio: c.size as f64 / umoci.size as f64,
                group: c.group(),
            })
            .collect();
        let title = format!(
            "{} MB tar, medians of {runs} runs; layer size and wall time against umoci",
            std::fs::metadata(tar)?.len() / 1_000_000
        );
        std::fs::write(path, plot::svg(&points, &title))
            .with_context(|| format!("cannot write {}", path.display()))?;
        println!("plot: {}", path.display());
    }
    std::io::stdout().flush()?;
    if failed > 0 {
        bail!("{failed} of {} targets missed", checks.len());
    }
    Ok(())
}

/// Runs one contender once: its timing, the size of its layer and (for packer) its digest.
fn measure(
    who: &Who,
    time: &Path,
    packer: &Path,
    bundle: &Path,
    tar: &Path,
    work: &Path,
) -> Result<(Sample, u64, Option<String>)> {
    let out = fresh(&work.join("out"))?;
    let layout = out.join("layout");
    let packer_build = |extra: &[String]| -> Result<(Sample, u64, Option<String>)> {
        let mut cmd = Command::new(packer);
        cmd.arg("build")
            .arg(bundle)
            .arg("--oci-layout")
            .arg(&layout)
            .args(["--tag", "bench:1", "--json"])
            .args(extra);
        let (sample, stdout) = timed(time, &mut cmd, &out)?;
        Ok((
            sample,
            largest_blob(&layout)?,
            json_field(&stdout, "layer", "digest"),
        ))
    };
    match who {
        Who::PackerGzip(level) if *level == packer::compress::DEFAULT_GZIP_LEVEL => {
            packer_build(&[])
        }
        Who::PackerGzip(level) => packer_build(&["--level".to_owned(), level.to_string()]),
        Who::PackerZstd(level) => packer_build(&[
            "--compression".to_owned(),
            "zstd".to_owned(),
            "--level".to_owned(),
            level.to_string(),
        ]),
        Who::Umoci => {
            let image = format!("{}:bench", layout.display());
            let layout = layout.display().to_string();
            let bundle = bundle.display().to_string();
            let steps: [&[&str]; 3] = [
                &["init", "--layout", &layout],
                &["new", "--image", &image],
                &["insert", "--image", &image, &bundle, "/"],
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
            Ok((total, largest_blob(Path::new(&layout))?, None))
        }
        Who::TarGzip => {
            let gz = out.join("layer.tar.gz");
            let mut cmd = Command::new("tar");
            cmd.arg("-C").arg(bundle).arg("-czf").arg(&gz).arg(".");
            let (s, _) = timed(time, &mut cmd, &out)?;
            Ok((s, std::fs::metadata(&gz)?.len(), None))
        }
        Who::Tool { program, args, .. } => {
            let gz = out.join("layer.out");
            let script = format!(
                "exec {program} {} < '{}' > '{}'",
                args.join(" "),
                tar.display(),
                gz.display()
            );
            let mut cmd = Command::new("sh");
            cmd.arg("-c").arg(script);
            let (s, _) = timed(time, &mut cmd, &out)?;
            Ok((s, std::fs::metadata(&gz)?.len(), None))
        }
    }
}

fn build_packer() -> Result<PathBuf> {
    let bin = super::build_release_tools()?.join("packer");
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

/// Reads every file once so every contender starts with the bundle in the page cache.
fn warm_cache(dir: &Path) -> Result<()> {
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        if e.file_type()?.is_dir() {
            warm_cache(&e.path())?;
        } else if e.file_type()?.is_file() {
            std::io::copy(&mut std::fs::File::open(e.path())?, &mut std::io::sink())?;
        }
    }
    Ok(())
}
