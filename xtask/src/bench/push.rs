//! `cargo xtask bench push`: pusher against `skopeo copy` and a raw streamed `curl -T` upload.
//!
//! One image with one layer of about 180 MiB (incompressible bytes, packed by packer), a local
//! registry (Debian's docker-registry through `tests::registry`), a fresh repository for each
//! run of each tool, skopeo's blob-info cache removed before each of its runs. Prints medians,
//! ratios, pusher's peak memory and the time of a re-push of the unchanged image, then PASS or
//! FAIL per target; exits non-zero on any miss.

use crate::util::run_cmd;
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use tests::registry::{Auth, Registry};

/// Arguments of `cargo xtask bench push`.
#[derive(clap::Args)]
pub struct Args {
    /// Runs of each tool (the median is compared)
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Size of the layer in MiB
    #[arg(long, default_value_t = 180)]
    mib: u64,
}

/// Targets from the issue.
const MAX_VS_CURL: f64 = 1.03;
const MAX_VS_SKOPEO: f64 = 1.0;
const MAX_PEAK_KIB: u64 = 16 * 1024;
const MAX_REPUSH: Duration = Duration::from_millis(50);

/// Runs `cmd` under `/usr/bin/time`; returns the wall time and the peak RSS in KiB.
fn timed(cmd: &mut Command, work: &Path) -> Result<(Duration, u64)> {
    let (sample, _) = super::timed(Path::new(super::GNU_TIME), cmd, work)?;
    Ok((Duration::from_secs_f64(sample.wall), sample.max_rss_kib))
}

/// The layout's only image: its tag (ref.name) and its layer's digest, size and path.
struct Image {
    layout: PathBuf,
    tag: String,
    layer_digest: String,
    layer_path: PathBuf,
}

fn build_image(work: &Path, mib: u64, packer: &Path) -> Result<Image> {
    let layout = work.join("layout");
    if !layout.join("index.json").exists() {
        let rootfs = work.join("rootfs");
        std::fs::create_dir_all(&rootfs)?;
        super::random_file(&rootfs.join("payload"), mib, super::RANDOM_START)?;
        run_cmd(
            Command::new(packer)
                .arg("build")
                .arg(&rootfs)
                .arg("--oci-layout")
                .arg(&layout)
                .args(["--tag", "bench:latest"]),
        )?;
    }
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json"))?)?;
    let entry = &index["manifests"][0];
    let tag = entry["annotations"]["org.opencontainers.image.ref.name"]
        .as_str()
        .unwrap_or("latest")
        .to_string();
    let manifest_digest = entry["digest"]
        .as_str()
        .context("index.json without digest")?;
    let blob = |d: &str| {
        layout
            .join("blobs/sha256")
            .join(d.trim_start_matches("sha256:"))
    };
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(blob(manifest_digest))?)?;
    let layer_digest = manifest["layers"][0]["digest"]
        .as_str()
        .context("manifest without layers")?
        .to_string();
    Ok(Image {
        layer_path: blob(&layer_digest),
        layout,
        tag,
        layer_digest,
    })
}

/// The article's way, as the floor: `POST` to initiate, then one streamed `curl -T` PUT.
fn curl_upload(reg: &Registry, repo: &str, image: &Image, work: &Path) -> Result<(Duration, u64)> {
    let start = Instant::now();
    let out = Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "-D", "-", "-X", "POST"])
        .arg(reg.url(&format!("{repo}/blobs/uploads/")))
        .output()?;
    let head = String::from_utf8_lossy(&out.stdout);
    let location = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("location")
                .then(|| v.trim().to_string())
        })
        .context("curl POST: no Location")?;
    let sep = if location.contains('?') { '&' } else { '?' };
    let url = format!("{location}{sep}digest={}", image.layer_digest);
    let (put, rss) = timed(
        Command::new("curl")
            .args([
                "-sS",
                "-f",
                "-o",
                "/dev/null",
                "-H",
                "Content-Type: application/octet-stream",
                "-H",
                "Expect:",
                "-T",
            ])
            .arg(&image.layer_path)
            .arg(url),
        work,
    )?;
    let _ = put;
    Ok((start.elapsed(), rss))
}

pub fn run(args: Args) -> Result<()> {
    if args.runs == 0 {
        bail!("--runs must be at least 1");
    }
    for tool in ["skopeo", "curl", "docker-registry"] {
        tests::tools::require(tool);
    }
    super::require_gnu_time()?;
    eprintln!("building pusher and packer (release)");
    let release = super::build_release_tools()?;
    let pusher = release.join("pusher");
    let packer = release.join("packer");
    let work = tests::tools::target_dir().join("bench-push");
    std::fs::create_dir_all(&work)?;
    eprintln!("packing a {} MiB layer", args.mib);
    let image = build_image(&work, args.mib, &packer)?;
    let layer_size = std::fs::metadata(&image.layer_path)?.len();
    let reg = Registry::start(Auth::None)?;
    eprintln!("registry at {}; {} runs each", reg.host, args.runs);

    let (mut t_pusher, mut t_skopeo, mut t_curl) = (Vec::new(), Vec::new(), Vec::new());
    let mut peak_pusher = 0;
    let mut peak_skopeo = 0;
    for run in 0..args.runs {
        let repo = format!("bench/pusher-{run}");
        let (t, rss) = timed(
            Command::new(&pusher)
                .args(["push", "-q"])
                .arg(&image.layout)
                .arg(reg.reference(&format!("{repo}:latest"))),
            &work,
        )?;
        t_pusher.push(t);
        peak_pusher = peak_pusher.max(rss);

        let _ = std::fs::remove_dir_all("/var/lib/containers/cache");
        let (t, rss) = timed(
            Command::new("skopeo")
                .args(["copy", "--quiet", "--dest-tls-verify=false"])
                .arg(format!("oci:{}:{}", image.layout.display(), image.tag))
                .arg(format!(
                    "docker://{}",
                    reg.reference(&format!("bench/skopeo-{run}:latest"))
                )),
            &work,
        )?;
        t_skopeo.push(t);
        peak_skopeo = peak_skopeo.max(rss);

        let (t, _) = curl_upload(&reg, &format!("bench/curl-{run}"), &image, &work)?;
        t_curl.push(t);
        eprintln!(
            "run {}: pusher {:.3} s, skopeo {:.3} s, curl {:.3} s",
            run + 1,
            t_pusher[run].as_secs_f64(),
            t_skopeo[run].as_secs_f64(),
            t_curl[run].as_secs_f64()
        );
    }
    let mut t_repush = Vec::new();
    for _ in 0..args.runs.max(5) {
        let (t, _) = timed(
            Command::new(&pusher)
                .args(["push", "-q"])
                .arg(&image.layout)
                .arg(reg.reference("bench/pusher-0:latest")),
            &work,
        )?;
        t_repush.push(t);
    }
    let (p, s, c, r) = (
        super::median(t_pusher),
        super::median(t_skopeo),
        super::median(t_curl),
        super::median(t_repush),
    );
    let vs_curl = p.as_secs_f64() / c.as_secs_f64();
    let vs_skopeo = p.as_secs_f64() / s.as_secs_f64();
    println!(
        "push of one {:.1} MiB layer to a local registry, median of {} runs:",
        layer_size as f64 / (1024.0 * 1024.0),
        args.runs
    );
    println!(
        "  pusher  {:.3} s   peak memory {:.1} MiB",
        p.as_secs_f64(),
        peak_pusher as f64 / 1024.0
    );
    println!(
        "  skopeo  {:.3} s   peak memory {:.1} MiB",
        s.as_secs_f64(),
        peak_skopeo as f64 / 1024.0
    );
    println!(
        "  curl -T {:.3} s   (POST + one streamed PUT of the layer only)",
        c.as_secs_f64()
    );
    println!(
        "  re-push of the unchanged image: {:.1} ms",
        r.as_secs_f64() * 1000.0
    );
    let checks = [
        (
            format!("pusher/curl = {vs_curl:.3} <= {MAX_VS_CURL}"),
            vs_curl <= MAX_VS_CURL,
        ),
        (
            format!("pusher/skopeo = {vs_skopeo:.3} <= {MAX_VS_SKOPEO}"),
            vs_skopeo <= MAX_VS_SKOPEO,
        ),
        (
            format!(
                "pusher peak memory {:.1} MiB <= 16 MiB",
                peak_pusher as f64 / 1024.0
            ),
            peak_pusher <= MAX_PEAK_KIB,
        ),
        (
            format!("re-push {:.1} ms < 50 ms", r.as_secs_f64() * 1000.0),
            r < MAX_REPUSH,
        ),
    ];
    let mut failed = 0;
    for (what, ok) in &checks {
        println!("{} {what}", if *ok { "PASS" } else { "FAIL" });
        failed += usize::from(!ok);
    }
    if failed > 0 {
        bail!("{failed} push benchmark target(s) missed");
    }
    Ok(())
}
