//! The `pusher` CLI: `push`, `pull`, `copy`, `inspect`; thin glue over the library.
//!
//! Exit codes: 0 success, 1 other failure (bad source image, local files), 2 usage (bad flags
//! or reference), 3 auth (credentials refused, access denied), 4 registry or network failure.

#[path = "cli/bars.rs"]
mod bars;
#[path = "cli/connect_args.rs"]
mod connect_args;

use bars::Bars;
use clap::{Args, Parser, Subcommand};
use connect_args::{ConnectArgs, FlagError};
use packer::transport::ImageName;
use pusher::client::{Client, ClientOptions};
use pusher::copy::{CopyOptions, Sink, Source, copy_image};
use pusher::errors::{EXIT_FAILURE, EXIT_USAGE};
use pusher::push::PushOptions;
use pusher::reference::Reference;
use pusher::upload::UploadOptions;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "pusher",
    version,
    about = "Push and pull images over the registry HTTP API",
    after_help = "Exit codes: 0 success, 1 other failure, 2 usage, 3 auth refused, 4 registry or network failure."
)]
struct Cli {
    #[command(subcommand)]
    verb: Verb,
}

#[derive(Subcommand)]
enum Verb {
    /// Push SOURCE, an image on disk (an OCI layout DIR[:TAG], oci:DIR[:NAME],
    /// oci-archive:FILE[:NAME], docker-archive:FILE[:NAME:TAG], a bare archive file), to
    /// REFERENCE; prints the manifest digest as the last line of stdout
    Push {
        /// The image on disk
        source: String,
        /// Where to push it, e.g. 127.0.0.1:5000/user/penguinshell:latest
        reference: String,
        #[command(flatten)]
        common: Common,
        /// Try a cross-repository mount from this repository of the same registry first
        #[arg(long, value_name = "REPO")]
        mount_from: Option<String>,
        /// Upload in PATCH chunks of this many bytes instead of one PUT
        #[arg(long, value_name = "BYTES")]
        chunk_size: Option<u64>,
        /// Blobs uploaded at a time
        #[arg(long, default_value_t = 3, value_name = "N")]
        jobs: usize,
    },
    /// Pull REFERENCE into an OCI layout folder DIR, verifying every digest
    Pull {
        /// The image in the registry
        reference: String,
        /// The OCI layout folder to write (created if missing)
        dir: PathBuf,
        #[command(flatten)]
        common: Common,
        /// Blobs downloaded at a time
        #[arg(long, default_value_t = 3, value_name = "N")]
        jobs: usize,
        /// From an index, pull only this platform's image (e.g. linux/arm64)
        #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
        platform: Option<String>,
    },
    /// Copy an image between any two of oci:DIR[:NAME], oci-archive:FILE[:NAME],
    /// docker-archive:FILE[:NAME:TAG] (what docker save writes, classic or OCI, and packer's
    /// archive), docker://HOST/REPO[:TAG][@DIGEST] and the bare forms push and pull take.
    /// Archives are read in place; a classic docker save's plain layers are gzipped on the way,
    /// checked against their diff ids. Every blob is verified; an index is copied with all its
    /// manifests; registry to registry streams (nothing on disk) or mounts within one registry;
    /// archives are written aside and renamed last. Prints the manifest digest as the last line
    /// of stdout
    #[command(
        after_help = "Examples:\n  pusher copy oci:target/image/oci:penguinshell:latest docker://127.0.0.1:5000/user/penguinshell:latest\n  pusher copy docker://127.0.0.1:5000/a/p:latest docker://127.0.0.1:5000/b/p:latest   (blobs mounted, not uploaded)\n  pusher copy --platform linux/arm64 docker://127.0.0.1:5000/multi:latest oci:out:multi:arm64\n  docker save -o saved.tar alpine:3 && pusher copy docker-archive:saved.tar:alpine:3 docker://127.0.0.1:5000/lib/alpine:3\n  pusher copy oci:out:multi:arm64 oci-archive:arm64.tar:multi:arm64   (podman load -i arm64.tar)"
    )]
    Copy {
        /// The image to read
        source: String,
        /// Where to write it
        destination: String,
        #[command(flatten)]
        common: Common,
        /// Copy every manifest of an index (the default)
        #[arg(long, conflicts_with = "platform")]
        all: bool,
        /// Copy only this platform of an index, e.g. linux/arm64
        #[arg(long, value_name = "OS/ARCH")]
        platform: Option<String>,
        /// Upload in PATCH chunks of this many bytes instead of one PUT
        #[arg(long, value_name = "BYTES")]
        chunk_size: Option<u64>,
        /// Blobs copied at a time
        #[arg(long, default_value_t = 3, value_name = "N")]
        jobs: usize,
    },
    /// Print a manifest's digest, media type, platform(s) and config summary
    Inspect {
        /// The image in the registry
        reference: String,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Args)]
struct Common {
    #[command(flatten)]
    connect: ConnectArgs,
    /// No progress on stderr
    #[arg(long, short = 'q')]
    quiet: bool,
}

/// An error already decided to be a usage error.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Usage(String);

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_USAGE } else { 0 });
        }
    };
    let staging = match &cli.verb {
        Verb::Pull { dir, .. } => Some(dir.join("blobs").join("sha256")),
        _ => None,
    };
    let signals = signals::watch(staging);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            if let Some(code) = signals.and_then(|s| s.received()) {
                eprintln!("error: interrupted");
                return ExitCode::from(code);
            }
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {err:#}");
            let code = if err.downcast_ref::<Usage>().is_some() {
                EXIT_USAGE
            } else if let Some(e) = err.downcast_ref::<pusher::Error>() {
                e.exit_code()
            } else {
                EXIT_FAILURE
            };
            ExitCode::from(code)
        }
    }
}

/// SIGTERM and SIGINT: stop the transfers so temporary files are removed as they unwind;
/// whatever is still stuck after a grace period has its temporary files removed here.
mod signals {
    use std::path::PathBuf;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU8, Ordering};
    use std::time::{Duration, SystemTime};

    /// How long transfers get to unwind before the watcher cleans up and exits itself.
    const GRACE: Duration = Duration::from_secs(3);

    pub struct Watch {
        code: Arc<AtomicU8>,
    }

    impl Watch {
        /// The exit code (128 + signal number) if a signal came.
        pub fn received(&self) -> Option<u8> {
            match self.code.load(Ordering::SeqCst) {
                0 => None,
                c => Some(c),
            }
        }
    }

    fn sigset() -> libc::sigset_t {
        // SAFETY: sigemptyset/sigaddset initialise the set we own.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGTERM);
            libc::sigaddset(&mut set, libc::SIGINT);
            set
        }
    }

    /// Blocks SIGTERM and SIGINT in every thread (call before any thread starts) and waits
    /// for them on a thread of its own. `staging` is where a pull writes temporary blobs.
    pub fn watch(staging: Option<PathBuf>) -> Option<Watch> {
        let set = sigset();
        // SAFETY: a valid set; no other thread exists yet.
        if unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) } != 0 {
            return None;
        }
        let started = SystemTime::now();
        let code = Arc::new(AtomicU8::new(0));
        let seen = code.clone();
        std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                let mut sig: libc::c_int = 0;
                // SAFETY: a valid set and out-pointer.
                if unsafe { libc::sigwait(&set, &mut sig) } != 0 {
                    return;
                }
                let exit = 128 + sig as u8;
                seen.store(exit, Ordering::SeqCst);
                pusher::transport::cancel();
                std::thread::sleep(GRACE);
                // still running: a read is stuck; remove this run's temporary blobs and go
                if let Some(dir) = staging {
                    remove_new_temporaries(&dir, started);
                }
                eprintln!("error: interrupted");
                std::process::exit(exit.into());
            })
            .ok()?;
        Some(Watch { code })
    }

    fn remove_new_temporaries(dir: &std::path::Path, since: SystemTime) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let ours = e.file_name().to_string_lossy().starts_with(".packer-")
                && e.metadata()
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| t >= since);
            if ours {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn parse_reference(s: &str) -> anyhow::Result<Reference> {
    Reference::parse(s).map_err(|e| Usage(e.to_string()).into())
}

fn client_options(common: &Common, reference: &Reference) -> anyhow::Result<ClientOptions> {
    let flags = common
        .connect
        .credential_from_flags()
        .map_err(|e| match e {
            FlagError::Usage(message) => anyhow::Error::from(Usage(message)),
            other => anyhow::Error::from(other),
        })?;
    Ok(common.connect.client_options(reference, flags)?)
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.verb {
        Verb::Push {
            source,
            reference,
            common,
            mount_from,
            chunk_size,
            jobs,
        } => {
            let reference = parse_reference(&reference)?;
            if let Some(m) = &mount_from {
                Reference::parse(&format!("{}/{m}", reference.registry))
                    .map_err(|_| Usage(format!("--mount-from {m:?} is not a repository name")))?;
            }
            if chunk_size == Some(0) || jobs == 0 {
                return Err(Usage("--chunk-size and --jobs must be at least 1".into()).into());
            }
            // check the flags, then read the image, before touching the network
            let options = client_options(&common, &reference)?;
            let image_error = |e: packer::Error| pusher::Error::Image {
                source_name: source.clone(),
                source: e,
            };
            let name = match ImageName::parse(&source).map_err(|e| Usage(e.to_string()))? {
                ImageName::Docker(_) if source.starts_with("docker://") => {
                    return Err(Usage(format!(
                        "{source}: push reads an image on disk (oci:DIR, oci-archive:FILE, \
                         docker-archive:FILE); to copy between registries use pusher copy"
                    ))
                    .into());
                }
                // neither a transport nor an existing path: name the missing path
                ImageName::Docker(_) => ImageName::Oci {
                    dir: PathBuf::from(&source),
                    name: None,
                },
                name => name,
            };
            let image = packer::source::open(&name).map_err(image_error)?;
            let top = image.top().map_err(image_error)?;
            if let Some(d) = &reference.digest
                && *d != top.digest().to_string()
            {
                return Err(Usage(format!(
                    "{reference} names digest {d} but {source} is {}",
                    top.digest()
                ))
                .into());
            }
            let mounts: Vec<String> = mount_from.iter().cloned().collect();
            let client = Client::connect("push", &reference, &options, "pull,push", &mounts)?;
            let bars = Bars::new(common.quiet);
            let progress = bars.progress();
            let push_options = PushOptions {
                jobs,
                upload: UploadOptions {
                    chunk_size,
                    mount_from,
                    ..Default::default()
                },
            };
            let report = pusher::push::push_image(&client, &*image, &push_options, &progress)?;
            bars.line(&format!(
                "pushed {reference}: {} blob(s) uploaded, {} present, {} mounted",
                report.pushed, report.existed, report.mounted
            ));
            let mut out = std::io::stdout().lock();
            writeln!(out, "{}", report.digest)?;
            out.flush()?;
        }
        Verb::Pull {
            reference,
            dir,
            common,
            jobs,
            platform,
        } => {
            let reference = parse_reference(&reference)?;
            if let Some(p) = &platform
                && !(2..=3).contains(&p.split('/').filter(|s| !s.is_empty()).count())
            {
                return Err(Usage(format!("--platform {p:?}: expected OS/ARCH[/VARIANT]")).into());
            }
            let options = client_options(&common, &reference)?;
            let client = Client::connect("pull", &reference, &options, "pull", &[])?;
            let bars = Bars::new(common.quiet);
            let progress = bars.progress();
            let report = pusher::pull::pull_image(
                &client,
                &dir,
                jobs.max(1),
                platform.as_deref(),
                &progress,
            )?;
            bars.line(&format!(
                "pulled {reference} into {}: {} blob(s) downloaded, {} present",
                dir.display(),
                report.pulled,
                report.existed
            ));
            let mut out = std::io::stdout().lock();
            writeln!(out, "{}", report.digest)?;
            out.flush()?;
        }
        Verb::Copy {
            source,
            destination,
            common,
            all: _,
            platform,
            chunk_size,
            jobs,
        } => {
            if chunk_size == Some(0) || jobs == 0 {
                return Err(Usage("--chunk-size and --jobs must be at least 1".into()).into());
            }
            if let Some(p) = &platform
                && !matches!(p.split('/').count(), 2 | 3)
            {
                return Err(Usage(format!("--platform {p:?}: expected OS/ARCH[/VARIANT]")).into());
            }
            let src = ImageName::parse(&source).map_err(|e| Usage(e.to_string()))?;
            let dst = ImageName::parse(&destination).map_err(|e| Usage(e.to_string()))?;
            let options = CopyOptions {
                jobs,
                platform,
                upload: UploadOptions {
                    chunk_size,
                    ..Default::default()
                },
            };
            let bars = Bars::new(common.quiet);
            let progress = bars.progress();
            let image_error = |e: packer::Error| pusher::Error::Image {
                source_name: source.clone(),
                source: e,
            };
            // the source first: a local image is read before touching the network
            let (local, src_client) = match &src {
                ImageName::Docker(r) => {
                    let options = client_options(&common, r)?;
                    (
                        None,
                        Some(Client::connect("copy", r, &options, "pull", &[])?),
                    )
                }
                local => (
                    Some(packer::source::open(local).map_err(image_error)?),
                    None,
                ),
            };
            let source_ref = match (&local, &src_client) {
                (Some(image), _) => Source::Disk(&**image),
                (None, Some(client)) => Source::Registry(client),
                (None, None) => unreachable!("a source is local or remote"),
            };
            let dst_client;
            let sink = match &dst {
                ImageName::Docker(r) => {
                    let options = client_options(&common, r)?;
                    let mounts: Vec<String> = src_client
                        .iter()
                        .filter(|c| c.reference.registry == r.registry)
                        .map(|c| c.reference.repository.clone())
                        .collect();
                    dst_client = Client::connect("copy", r, &options, "pull,push", &mounts)?;
                    Sink::Registry(&dst_client)
                }
                disk => Sink::Disk(packer::sink::DiskSink::open(disk).map_err(|e| {
                    pusher::Error::Write {
                        target: destination.clone(),
                        source: e,
                    }
                })?),
            };
            let report = copy_image(source_ref, sink, &options, &progress)?;
            bars.line(&format!(
                "copied {source} to {destination}: {} blob(s) copied, {} present, {} mounted",
                report.copied, report.existed, report.mounted
            ));
            let mut out = std::io::stdout().lock();
            writeln!(out, "{}", report.digest)?;
            out.flush()?;
        }
        Verb::Inspect { reference, common } => {
            let reference = parse_reference(&reference)?;
            let options = client_options(&common, &reference)?;
            let client = Client::connect("inspect", &reference, &options, "pull", &[])?;
            let inspection = pusher::inspect::inspect(&client)?;
            let mut out = std::io::stdout().lock();
            write!(out, "{inspection}")?;
            out.flush()?;
        }
    }
    Ok(())
}
