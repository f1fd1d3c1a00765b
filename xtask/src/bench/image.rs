//! `cargo xtask bench image`: the whole article's pack-and-push, our way against the article's.
//!
//! With the shell already built, each round times, interleaved and each into a fresh
//! repository of one local registry (Debian's `docker-registry`, no auth):
//! - ours: `cargo xtask image --platform linux/amd64 --out FRESH --push REF` (the xtask binary
//!   itself, so cargo's own start-up is not counted): bundle, one-pass layer, config, manifest,
//!   push;
//! - ours over every platform: the same with `--platform all` (three bundles, three layers
//!   packed in parallel, every manifest, then the index);
//! - the article's way, as a bash script: `tar -czf`, `sha256sum` of the layer, `gunzip |
//!   sha256sum` for the diff id, config.json and the manifest written by hand with `printf`,
//!   and `curl` for each upload (POST, PUT `?digest=`) and for the manifest;
//! - the push alone, in this process: what the untimed rounds packed (one image, the index)
//!   pushed again to new repositories by `cargo xtask image`'s own push, the one an unchanged
//!   image gets (login, every platform's blobs without HEAD and its manifest at once, then
//!   the tag). This is the registry's share: the index over three platforms takes 17
//!   requests (the ping, 5 per platform, the index) where one image takes 6.
//!
//! Each row also gives the CPU time of our side and of the registry (its whole process,
//! `clock_getcpuclockid`): on this machine both share the same 2 cores. Our side is the whole
//! child process for the runs of `cargo xtask image` (start-up included), this process during
//! the push alone. Each column is its own median.
//!
//! Targets: ours under 0.3 s (median) and at most 0.5 x the article's way; the whole index
//! at most 1.5 x the single-platform run.
//!
//! The registry keeps its storage in /dev/shm unless `--registry-on-disk`: it fsyncs about
//! 20 times per image it stores, which times the machine's disk, not the tools (on the CI
//! machine, quiet, before small blobs went up without a HEAD: 24.0 / 43.5 ms on tmpfs, 33.0 /
//! 57.5 ms on disk; the ratio is the same).

use crate::util::run_cmd;
use anyhow::{Context, Result, bail};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tests::registry::{Auth, Registry};

/// Arguments of `cargo xtask bench image`.
#[derive(clap::Args)]
pub struct Args {
    /// Rounds (each runs both ways once)
    #[arg(long, default_value_t = 11)]
    runs: usize,
    /// Keep the registry's storage on disk, where its own fsyncs (about 20 per image) are
    /// timed too; by default it lives in /dev/shm, so the rounds time the tools more than
    /// the disk
    #[arg(long)]
    registry_on_disk: bool,
}

/// The article's way, step by step, in bash: $1 bundle, $2 work dir, $3 registry, $4 repository.
const ARTICLE_SCRIPT: &str = r#"set -euo pipefail
bundle=$1 work=$2 registry=$3 repo=$4
cd "$work"
# tar the bundle and gzip it
tar -C "$bundle" -czf layer.tar.gz bin dev etc proc sys
# digest, size and diff id
layer=$(sha256sum layer.tar.gz | cut -d' ' -f1)
layer_size=$(stat -c %s layer.tar.gz)
diff_id=$(gunzip -c layer.tar.gz | sha256sum | cut -d' ' -f1)
# config.json, by hand
printf '{"architecture":"amd64","os":"linux","config":{"Entrypoint":["/bin/penguinshell"],"Env":["PATH=/bin"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$diff_id" > config.json
config=$(sha256sum config.json | cut -d' ' -f1)
config_size=$(stat -c %s config.json)
# the manifest, by hand
printf '{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":%s,"digest":"sha256:%s"},"layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":%s,"digest":"sha256:%s"}]}' "$config_size" "$config" "$layer_size" "$layer" > manifest.json
# upload each blob: initiate upload, send the blob and commit it with its digest
upload() {
  location=$(curl -sSf -X POST -D - -o /dev/null "http://$registry/v2/$repo/blobs/uploads/" | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
  case $location in http*) ;; *) location="http://$registry$location" ;; esac
  case $location in *\?*) sep='&' ;; *) sep='?' ;; esac
  curl -sSf -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$1" "$location${sep}digest=sha256:$2" -o /dev/null
}
upload layer.tar.gz "$layer"
upload config.json "$config"
# push the manifest
curl -sSf -X PUT -H 'Content-Type: application/vnd.docker.distribution.manifest.v2+json' --data-binary @manifest.json "http://$registry/v2/$repo/manifests/latest" -o /dev/null
"#;

pub fn run(args: Args) -> Result<()> {
    if args.runs == 0 {
        bail!("--runs must be at least 1");
    }
    for tool in ["tar", "gzip", "sha256sum", "curl", "bash"] {
        if tests::tools::find_on_path(tool).is_none() {
            bail!("{tool} is needed for the article's way; cargo xtask ci installs it");
        }
    }
    // The shells are built (and checked) once, outside the timings.
    for target in crate::shell::SHELL_TARGETS {
        crate::shell::build_shell_for(target)?;
    }
    let shell = crate::shell::build_static_shell()?;
    let work = tempfile::Builder::new().prefix("bench-image-").tempdir()?;
    let bundle = work.path().join("rootfs");
    crate::chroot::assemble_bundle(&shell, &bundle)?;
    let script = work.path().join("article.sh");
    std::fs::write(&script, ARTICLE_SCRIPT)?;
    let storage = if args.registry_on_disk {
        tempfile::Builder::new()
            .prefix("bench-registry-")
            .tempdir()?
    } else {
        tempfile::Builder::new()
            .prefix("bench-registry-")
            .tempdir_in("/dev/shm")
            .context("cannot make the registry's folder in /dev/shm")?
    };
    let registry = Registry::start_in(Auth::None, storage.path())
        .context("cannot start the local registry")?;
    println!(
        "registry storage: {} ({})",
        storage.path().display(),
        if args.registry_on_disk {
            "disk"
        } else {
            "tmpfs: its fsyncs cost nothing"
        }
    );
    let xtask = std::env::current_exe().context("cannot find the xtask binary")?;

    // One untimed round of each warms the page cache and the registry.
    let cpu = Cpu {
        registry: registry.pid(),
    };
    let ours_on = |platforms: &str, round: &str| -> Result<Sample> {
        let name = format!("ours-{}-{round}", platforms.replace('/', "-"));
        let out = work.path().join(&name);
        let reference = registry.reference(&format!("bench/{name}:latest"));
        cpu.sample(|| {
            timed(
                Command::new(&xtask)
                    .arg("image")
                    .arg("--platform")
                    .arg(platforms)
                    .arg("--out")
                    .arg(&out)
                    .arg("--push")
                    .arg(&reference),
            )
        })
    };
    let ours = |round: &str| ours_on("linux/amd64", round);
    let ours_all = |round: &str| ours_on("all", round);
    let article = |round: &str| -> Result<Sample> {
        let dir = work.path().join(format!("article-{round}"));
        std::fs::create_dir_all(&dir)?;
        cpu.sample(|| {
            timed(
                Command::new("bash")
                    .arg(&script)
                    .arg(&bundle)
                    .arg(&dir)
                    .arg(&registry.host)
                    .arg(format!("bench/article-{round}")),
            )
        })
    };
    // the push alone: what the untimed rounds packed, pushed again to new repositories
    let push_alone = |what: &str, round: &str| -> Result<Sample> {
        let out = work.path().join(format!("ours-{what}-warmup"));
        let reference = registry.reference(&format!("bench/alone-{what}-{round}:latest"));
        cpu.sample(|| {
            let start = Instant::now();
            crate::image::push_again(&out, &reference)?;
            Ok(start.elapsed())
        })
    };
    ours("warmup")?;
    ours_all("warmup")?;
    article("warmup")?;
    check_article_image(&registry)?;
    push_alone("linux-amd64", "warmup")?;
    push_alone("all", "warmup")?;

    let mut rows: [Vec<Sample>; 5] = Default::default();
    for round in 0..args.runs {
        let round = round.to_string();
        rows[0].push(ours(&round)?);
        rows[1].push(ours_all(&round)?);
        rows[2].push(article(&round)?);
        rows[3].push(push_alone("linux-amd64", &round)?);
        rows[4].push(push_alone("all", &round)?);
    }
    let [single, all, article, alone, alone_all] = rows.map(Sample::medians);
    let all_ratio = all.wall.as_secs_f64() / single.wall.as_secs_f64();
    let ratio = single.wall.as_secs_f64() / article.wall.as_secs_f64();
    let alone_ratio = alone_all.wall.as_secs_f64() / alone.wall.as_secs_f64();
    println!(
        "cargo xtask bench image: pack + push of the penguin image, {} rounds, medians",
        args.runs
    );
    // the timings are only as quiet as the machine: say how busy it was
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        let load: Vec<&str> = load.split_whitespace().take(3).collect();
        println!("  load average {} (1, 5, 15 min)", load.join(" "));
    }
    println!("                             wall      our CPU   registry CPU");
    for (name, m) in [
        ("cargo xtask image --push", &single),
        ("--platform all", &all),
        ("the article's way", &article),
        ("push alone, one image", &alone),
        ("push alone, the index", &alone_all),
    ] {
        println!(
            "  {name:<25} {:>6.1} ms  {:>6.1} ms  {:>6.1} ms",
            ms(m.wall),
            ms(m.ours),
            ms(m.registry)
        );
    }
    println!(
        "  (--platform linux/amd64; --platform all is three platforms, one index; the article's \
         way is tar -czf, sha256sum, printf JSON, curl; the push alone sends what was packed; \
         our CPU is the child process's, start-up included, and this process's for the push \
         alone; each column is its own median)"
    );
    let under = single.wall < Duration::from_millis(300);
    let half = ratio <= 0.5;
    println!(
        "  {} ours {:.1} ms < 300 ms",
        verdict(under),
        ms(single.wall)
    );
    println!("  {} ours / article = {ratio:.2} <= 0.5", verdict(half));
    let index_ok = all_ratio <= 1.5;
    println!(
        "  {} --platform all / single = {all_ratio:.2} <= 1.5",
        verdict(index_ok)
    );
    println!(
        "  push alone: the index / one image = {alone_ratio:.2} (the registry's share of that \
         ratio)"
    );
    if !(under && half && index_ok) {
        bail!("a target was missed");
    }
    Ok(())
}

/// One timed run: its wall time, our side's CPU time and the registry's.
#[derive(Clone, Copy, Default)]
struct Sample {
    wall: Duration,
    ours: Duration,
    registry: Duration,
}

impl Sample {
    /// Each figure's median over the runs.
    fn medians(runs: Vec<Sample>) -> Sample {
        Sample {
            wall: super::median(runs.iter().map(|r| r.wall).collect()),
            ours: super::median(runs.iter().map(|r| r.ours).collect()),
            registry: super::median(runs.iter().map(|r| r.registry).collect()),
        }
    }
}

/// Where CPU time is read: this process and its children (getrusage), the registry's
/// process (its CPU-time clock).
struct Cpu {
    registry: u32,
}

impl Cpu {
    /// Runs `run` (which returns its wall time) and adds the CPU time spent meanwhile.
    fn sample(&self, run: impl FnOnce() -> Result<Duration>) -> Result<Sample> {
        let (ours, registry) = (ours_cpu()?, self.registry_cpu()?);
        let wall = run()?;
        Ok(Sample {
            wall,
            ours: ours_cpu()? - ours,
            registry: self.registry_cpu()? - registry,
        })
    }

    /// The CPU time of the registry's process so far, every thread it ever had.
    fn registry_cpu(&self) -> Result<Duration> {
        let pid = nix::unistd::Pid::from_raw(self.registry as i32);
        let clock =
            nix::time::clock_getcpuclockid(pid).context("cannot find the registry's CPU clock")?;
        let time =
            nix::time::clock_gettime(clock).context("cannot read the registry's CPU clock")?;
        Ok(Duration::from(time))
    }
}

/// The CPU time of this process and of its children waited for, user and system.
fn ours_cpu() -> Result<Duration> {
    use nix::sys::resource::{UsageWho, getrusage};
    use nix::sys::time::TimeValLike;
    let mut total = Duration::ZERO;
    for who in [UsageWho::RUSAGE_SELF, UsageWho::RUSAGE_CHILDREN] {
        let usage = getrusage(who).context("cannot read our CPU time")?;
        for time in [usage.user_time(), usage.system_time()] {
            total += Duration::from_micros(time.num_microseconds().max(0) as u64);
        }
    }
    Ok(total)
}

/// The article's hand-made image is a real one: the registry serves its manifest.
fn check_article_image(registry: &Registry) -> Result<()> {
    run_cmd(
        Command::new("curl")
            .args(["-sSf", "-o", "/dev/null", "-H"])
            .arg("Accept: application/vnd.docker.distribution.manifest.v2+json")
            .arg(registry.url("bench/article-warmup/manifests/latest")),
    )
    .context("the article's way did not leave a pullable manifest")
}

fn timed(cmd: &mut Command) -> Result<Duration> {
    let start = Instant::now();
    let out = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .with_context(|| format!("cannot start {}", crate::util::describe(cmd)))?;
    let took = start.elapsed();
    if !out.status.success() {
        bail!(
            "{} failed: {}",
            crate::util::describe(cmd),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(took)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn verdict(ok: bool) -> &'static str {
    if ok { "PASS" } else { "FAIL" }
}
