//! `cargo xtask bench copy`: `pusher copy` against `skopeo copy docker://… docker://…` between
//! two repositories of one registry and between two registries, and `pusher pull` against
//! `skopeo copy docker://… oci:…`.
//!
//! Two images of incompressible bytes, made once and cached under `target/bench-copy`: one
//! layer of `--mib` MiB (packed by packer), and `--layers` layers of `--mib / --layers` MiB
//! each (stacked by umoci). Each is pushed once to a source repository of a local registry
//! (Debian's docker-registry, plain HTTP); a second registry is the other destination. Every
//! run of every contender writes a repository (or folder) of its own, so each run really
//! copies, and skopeo's blob-info cache is removed before each of its runs. The order of the
//! contenders rotates between runs. Prints medians of wall and CPU time, ratios of medians,
//! peak memory (max RSS from GNU time) and the load average, then PASS or FAIL per target; exits non-zero on a miss.

use super::{Sample, random_file, timed};
use crate::util::run_cmd;
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;
use tests::registry::{Auth, Registry};

/// `cargo xtask bench copy --help`.
pub const LONG_ABOUT: &str = "pusher copy against skopeo copy docker://… docker://…, within one registry \
                  (another repository) and between two registries, and pusher pull against \
                  skopeo copy docker://… oci:…, for an image of one layer and one of several \
                  layers of incompressible bytes (made once, cached in target/bench-copy).\n\n\
                  Every run writes a fresh repository or folder, skopeo's blob-info cache is \
                  removed before each of its runs, and the order of the contenders rotates \
                  between runs. Prints medians of wall and CPU time, ratios of medians and \
                  peak memory per contender, and the load average, then PASS/FAIL against \
                  the targets: pusher copy at most 0.8 of skopeo's wall time with at most \
                  16 MiB peak memory, pusher pull at most 0.5 of skopeo's. Exits non-zero when a target is missed.\n\n\
                  Needs skopeo, umoci, docker-registry and /usr/bin/time (Debian package time).";

/// Arguments of `cargo xtask bench copy`.
#[derive(clap::Args)]
pub struct Args {
    /// Runs of each contender (the median is compared)
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Size of the images in MiB (the one layer; all the layers together)
    #[arg(long, default_value_t = 180)]
    mib: u64,
    /// Layers of the second image
    #[arg(long, default_value_t = 5)]
    layers: u64,
}

/// Targets from issue 8, as ratios of medians against skopeo in the same run.
const MAX_COPY_VS_SKOPEO: f64 = 0.8;
const MAX_PULL_VS_SKOPEO: f64 = 0.5;
const MAX_PEAK_KIB: u64 = 16 * 1024;

/// The generator's start for image `seed`: each image's bytes differ.
fn seeded(seed: u64) -> u64 {
    0x9e37_79b9_7f4a_7c15 ^ seed.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

/// An image in an OCI layout: the layout, the name that selects it, its manifest digest,
/// its layer count and its blobs' total size.
struct Image {
    layout: PathBuf,
    name: String,
    digest: String,
    layers: usize,
    bytes: u64,
}

/// Reads the layout's entry `name`: its digest, layer count and blob bytes.
fn describe_image(layout: &Path, name: &str) -> Result<Image> {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json"))?)?;
    let entry = index["manifests"]
        .as_array()
        .and_then(|m| {
            m.iter()
                .find(|e| e["annotations"]["org.opencontainers.image.ref.name"] == name)
        })
        .with_context(|| format!("{}: no image named {name}", layout.display()))?;
    let digest = entry["digest"].as_str().context("entry without digest")?;
    let blob = |d: &str| {
        layout
            .join("blobs/sha256")
            .join(d.trim_start_matches("sha256:"))
    };
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(blob(digest))?)?;
    let layers = manifest["layers"].as_array().context("no layers")?;
    let mut bytes = manifest["config"]["size"].as_u64().unwrap_or(0);
    for l in layers {
        bytes += l["size"].as_u64().unwrap_or(0);
    }
    Ok(Image {
        layout: layout.to_path_buf(),
        name: name.to_owned(),
        digest: digest.to_owned(),
        layers: layers.len(),
        bytes,
    })
}

/// One layer of `mib` MiB, packed by packer (kept between runs of the bench).
fn one_layer_image(work: &Path, mib: u64, packer: &Path) -> Result<Image> {
    let layout = work.join(format!("one-{mib}"));
    if !layout.join("index.json").exists() {
        let rootfs = work.join("rootfs-one");
        let _ = std::fs::remove_dir_all(&rootfs);
        std::fs::create_dir_all(&rootfs)?;
        random_file(&rootfs.join("payload"), mib, seeded(1))?;
        run_cmd(
            Command::new(packer)
                .arg("build")
                .arg(&rootfs)
                .arg("--oci-layout")
                .arg(&layout)
                .args(["--tag", "one:latest"]),
        )?;
        std::fs::remove_dir_all(&rootfs)?;
    }
    describe_image(&layout, "one:latest")
}

/// `layers` layers of `mib / layers` MiB each, stacked by umoci (kept between runs).
fn layered_image(work: &Path, mib: u64, layers: u64) -> Result<Image> {
    let layout = work.join(format!("layered-{mib}-{layers}"));
    if !layout.join("index.json").exists() {
        let staging = work.join("layered.partial");
        let _ = std::fs::remove_dir_all(&staging);
        let image = format!("{}:layered", staging.display());
        run_cmd(
            Command::new("umoci")
                .args(["init", "--layout"])
                .arg(&staging),
        )?;
        run_cmd(Command::new("umoci").args(["new", "--image", &image]))?;
        let file = work.join("payload");
        for i in 0..layers {
            random_file(&file, (mib / layers).max(1), seeded(10 + i))?;
            run_cmd(
                Command::new("umoci")
                    .args(["insert", "--image", &image])
                    .arg(&file)
                    .arg(format!("/payload-{i}")),
            )?;
        }
        std::fs::remove_file(&file)?;
        run_cmd(Command::new("umoci").args(["gc", "--layout"]).arg(&staging))?;
        std::fs::rename(&staging, &layout)?;
    }
    describe_image(&layout, "layered")
}

/// Who is measured.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Who {
    Pusher,
    Skopeo,
}

/// What is measured: a copy to another repository of the source's registry, a copy to the
/// other registry, or a pull into a layout.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    SameRegistry,
    OtherRegistry,
    Pull,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::SameRegistry => "copy, same registry",
            Kind::OtherRegistry => "copy, two registries",
            Kind::Pull => "pull to a layout",
        }
    }
}

/// One scenario: an image, a kind, and each contender's samples.
struct Scenario<'a> {
    image: &'a Image,
    source: String,
    kind: Kind,
    pusher: Vec<Sample>,
    skopeo: Vec<Sample>,
}

/// Removes skopeo's blob-info cache (root's and a user's), so that no run reuses what an
/// earlier one learnt.
fn remove_skopeo_cache() -> Result<()> {
    let mut dirs = vec![PathBuf::from("/var/lib/containers/cache")];
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(Path::new(&home).join(".local/share/containers/cache"));
    }
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            if e.file_name()
                .to_string_lossy()
                .starts_with("blob-info-cache")
            {
                std::fs::remove_file(e.path())
                    .with_context(|| format!("cannot remove {}", e.path().display()))?;
            }
        }
    }
    Ok(())
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// One run of one contender in one scenario; checks the digest it reports.
fn run_one(who: Who, scenario: &Scenario<'_>, run: usize, ctx: &Setup<'_>) -> Result<Sample> {
    let slot = format!(
        "{}-{}-{}-{run}",
        match scenario.kind {
            Kind::SameRegistry => "same",
            Kind::OtherRegistry => "other",
            Kind::Pull => "pull",
        },
        scenario.image.layers,
        match who {
            Who::Pusher => "pusher",
            Who::Skopeo => "skopeo",
        }
    );
    let target = match scenario.kind {
        Kind::SameRegistry => ctx.from.reference(&format!("dst/{slot}-{}:latest", ctx.id)),
        Kind::OtherRegistry => ctx.to.reference(&format!("dst/{slot}-{}:latest", ctx.id)),
        Kind::Pull => {
            let dir = ctx.work.join("pulled").join(&slot);
            let _ = std::fs::remove_dir_all(&dir);
            dir.display().to_string()
        }
    };
    let mut cmd;
    match (who, scenario.kind) {
        (Who::Pusher, Kind::Pull) => {
            cmd = Command::new(ctx.pusher);
            cmd.args(["pull", "-q", &scenario.source, &target]);
        }
        (Who::Pusher, _) => {
            cmd = Command::new(ctx.pusher);
            cmd.args(["copy", "-q"])
                .arg(format!("docker://{}", scenario.source))
                .arg(format!("docker://{target}"));
        }
        (Who::Skopeo, kind) => {
            remove_skopeo_cache()?;
            cmd = Command::new("skopeo");
            cmd.args(["copy", "--quiet", "--src-tls-verify=false"]);
            if kind != Kind::Pull {
                cmd.arg("--dest-tls-verify=false");
            }
            cmd.arg(format!("docker://{}", scenario.source));
            match kind {
                Kind::Pull => cmd.arg(format!("oci:{target}:latest")),
                _ => cmd.arg(format!("docker://{target}")),
            };
        }
    }
    let (sample, stdout) = timed(Path::new(super::GNU_TIME), &mut cmd, ctx.work)?;
    // every contender must have copied the image itself, unchanged
    let got = match (who, scenario.kind) {
        (Who::Pusher, _) => stdout.lines().last().unwrap_or_default().to_owned(),
        (Who::Skopeo, Kind::Pull) => describe_image(Path::new(&target), "latest")
            .map(|i| i.digest)
            .unwrap_or_default(),
        (Who::Skopeo, _) => crate::util::output_of(
            Command::new("skopeo")
                .args(["inspect", "--tls-verify=false", "--format", "{{.Digest}}"])
                .arg(format!("docker://{target}")),
        )?
        .trim()
        .to_owned(),
    };
    if got != scenario.image.digest {
        bail!(
            "{who:?} {}: the copy has digest {got:?}, not {}",
            scenario.kind.label(),
            scenario.image.digest
        );
    }
    if scenario.kind == Kind::Pull {
        std::fs::remove_dir_all(&target)?;
    }
    Ok(sample)
}

/// What every run needs.
struct Setup<'a> {
    pusher: &'a Path,
    work: &'a Path,
    from: &'a Registry,
    to: &'a Registry,
    /// Tells this bench's repositories from an earlier one's in a kept registry.
    id: u64,
}

pub fn run(args: Args) -> Result<()> {
    if args.runs == 0 || args.mib == 0 || args.layers == 0 {
        bail!("--runs, --mib and --layers must be at least 1");
    }
    for tool in ["skopeo", "umoci", "docker-registry"] {
        tests::tools::require(tool);
    }
    super::require_gnu_time()?;
    eprintln!("building pusher and packer (release)");
    let release = super::build_release_tools()?;
    let pusher = release.join("pusher");
    let work = tests::tools::target_dir().join("bench-copy");
    std::fs::create_dir_all(&work)?;
    eprintln!(
        "making the images: one layer of {} MiB, {} layers of {} MiB",
        args.mib,
        args.layers,
        (args.mib / args.layers).max(1)
    );
    let images = [
        one_layer_image(&work, args.mib, &release.join("packer"))?,
        layered_image(&work, args.mib, args.layers)?,
    ];
    let from = Registry::start(Auth::None)?;
    let to = Registry::start(Auth::None)?;
    let ctx = Setup {
        pusher: &pusher,
        work: &work,
        from: &from,
        to: &to,
        id: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs(),
    };
    let mut scenarios = Vec::new();
    for image in &images {
        let source = from.reference(&format!("src/layers-{}:latest", image.layers));
        let oci = format!("oci:{}:{}", image.layout.display(), image.name);
        crate::util::output_of(
            Command::new(&pusher)
                .args(["copy", "-q", &oci])
                .arg(format!("docker://{source}")),
        )?;
        for kind in [Kind::SameRegistry, Kind::OtherRegistry, Kind::Pull] {
            scenarios.push(Scenario {
                image,
                source: source.clone(),
                kind,
                pusher: Vec::new(),
                skopeo: Vec::new(),
            });
        }
    }
    let load_before = load_average();
    eprintln!(
        "registries at {} and {}; {} runs each; load average {load_before}",
        from.host, to.host, args.runs
    );
    for run in 0..args.runs {
        for (i, scenario) in scenarios.iter_mut().enumerate() {
            // rotate: pusher first in one run, skopeo first in the next
            let order = if (run + i) % 2 == 0 {
                [Who::Pusher, Who::Skopeo]
            } else {
                [Who::Skopeo, Who::Pusher]
            };
            for who in order {
                let sample = run_one(who, scenario, run, &ctx)?;
                match who {
                    Who::Pusher => scenario.pusher.push(sample),
                    Who::Skopeo => scenario.skopeo.push(sample),
                }
            }
            eprintln!(
                "run {}: {} layer(s), {}: pusher {:.3} s, skopeo {:.3} s",
                run + 1,
                scenario.image.layers,
                scenario.kind.label(),
                scenario.pusher[run].wall,
                scenario.skopeo[run].wall,
            );
        }
    }
    report(&scenarios, args.runs, &load_before)
}

fn report(scenarios: &[Scenario<'_>], runs: usize, load_before: &str) -> Result<()> {
    use super::median;
    println!(
        "medians of {runs} runs, order rotated between runs; load average {load_before} before, {} after",
        load_average()
    );
    println!(
        "| image | what | pusher s | skopeo s | pusher / skopeo | CPU s pusher / skopeo | peak MiB pusher / skopeo |"
    );
    println!("|---|---|---|---|---|---|---|");
    let mut checks = Vec::new();
    for s in scenarios {
        let p = median(s.pusher.iter().map(|x| x.wall).collect());
        let k = median(s.skopeo.iter().map(|x| x.wall).collect());
        let p_rss = s.pusher.iter().map(|x| x.max_rss_kib).max().unwrap_or(0);
        let k_rss = s.skopeo.iter().map(|x| x.max_rss_kib).max().unwrap_or(0);
        let p_cpu = median(s.pusher.iter().map(|x| x.cpu).collect());
        let k_cpu = median(s.skopeo.iter().map(|x| x.cpu).collect());
        let ratio = p / k;
        let image = format!(
            "{} layer{}, {:.1} MiB",
            s.image.layers,
            if s.image.layers == 1 { "" } else { "s" },
            s.image.bytes as f64 / (1024.0 * 1024.0)
        );
        println!(
            "| {image} | {} | {p:.3} | {k:.3} | {ratio:.2} | {p_cpu:.2} / {k_cpu:.2} | {:.1} / {:.1} |",
            s.kind.label(),
            p_rss as f64 / 1024.0,
            k_rss as f64 / 1024.0
        );
        let what = format!("{image}, {}", s.kind.label());
        let max = if s.kind == Kind::Pull {
            MAX_PULL_VS_SKOPEO
        } else {
            MAX_COPY_VS_SKOPEO
        };
        checks.push((
            format!("{what}: pusher/skopeo = {ratio:.2} <= {max}"),
            ratio <= max,
        ));
        if s.kind != Kind::Pull {
            checks.push((
                format!(
                    "{what}: pusher peak memory {:.1} MiB <= 16 MiB",
                    p_rss as f64 / 1024.0
                ),
                p_rss <= MAX_PEAK_KIB,
            ));
        }
    }
    let mut failed = 0;
    for (what, ok) in &checks {
        println!("{} {what}", if *ok { "PASS" } else { "FAIL" });
        failed += usize::from(!ok);
    }
    if failed > 0 {
        bail!("{failed} copy benchmark target(s) missed");
    }
    Ok(())
}
