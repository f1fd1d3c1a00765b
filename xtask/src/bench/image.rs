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
//!   and `curl` for each upload (POST, PUT `?digest=`) and for the manifest.
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
    let ours_on = |platforms: &str, round: &str| -> Result<Duration> {
        let name = format!("ours-{}-{round}", platforms.replace('/', "-"));
        let out = work.path().join(&name);
        let reference = registry.reference(&format!("bench/{name}:latest"));
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
    };
    let ours = |round: &str| ours_on("linux/amd64", round);
    let ours_all = |round: &str| ours_on("all", round);
    let article = |round: &str| -> Result<Duration> {
        let dir = work.path().join(format!("article-{round}"));
        std::fs::create_dir_all(&dir)?;
        timed(
            Command::new("bash")
                .arg(&script)
                .arg(&bundle)
                .arg(&dir)
                .arg(&registry.host)
                .arg(format!("bench/article-{round}")),
        )
    };
    ours("warmup")?;
    ours_all("warmup")?;
    article("warmup")?;
    check_article_image(&registry)?;

    let (mut our_times, mut all_times, mut article_times) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..args.runs {
        our_times.push(ours(&round.to_string())?);
        all_times.push(ours_all(&round.to_string())?);
        article_times.push(article(&round.to_string())?);
    }
    let ours_median = super::median(our_times);
    let all_median = super::median(all_times);
    let article_median = super::median(article_times);
    let all_ratio = all_median.as_secs_f64() / ours_median.as_secs_f64();
    let ratio = ours_median.as_secs_f64() / article_median.as_secs_f64();
    println!(
        "cargo xtask bench image: pack + push of the penguin image, {} rounds, medians",
        args.runs
    );
    // the timings are only as quiet as the machine: say how busy it was
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        let load: Vec<&str> = load.split_whitespace().take(3).collect();
        println!("  load average {} (1, 5, 15 min)", load.join(" "));
    }
    println!(
        "  cargo xtask image --push   {:>8.1} ms  (--platform linux/amd64)",
        ms(ours_median)
    );
    println!(
        "  --platform all             {:>8.1} ms  (three platforms, one index)",
        ms(all_median)
    );
    println!(
        "  the article's way          {:>8.1} ms  (tar -czf, sha256sum, printf JSON, curl)",
        ms(article_median)
    );
    let under = ours_median < Duration::from_millis(300);
    let half = ratio <= 0.5;
    println!(
        "  {} ours {:.1} ms < 300 ms",
        verdict(under),
        ms(ours_median)
    );
    println!("  {} ours / article = {ratio:.2} <= 0.5", verdict(half));
    let index_ok = all_ratio <= 1.5;
    println!(
        "  {} --platform all / single = {all_ratio:.2} <= 1.5",
        verdict(index_ok)
    );
    if !(under && half && index_ok) {
        bail!("a target was missed");
    }
    Ok(())
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
