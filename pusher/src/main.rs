//! The `pusher` CLI: `push`, `pull`, `inspect`; thin glue over the library.
//!
//! Exit codes: 0 success, 1 other failure (bad source image, local files), 2 usage (bad flags
//! or reference), 3 auth (credentials refused, access denied), 4 registry or network failure.

use clap::{Args, Parser, Subcommand};
use pusher::client::{Client, ClientOptions};
use pusher::connect_args::{ConnectArgs, FlagError};
use pusher::errors::{EXIT_FAILURE, EXIT_USAGE};
use pusher::progress::Progress;
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
    /// Push SOURCE (an OCI layout DIR[:TAG] or a packer --docker-archive file) to REFERENCE;
    /// prints the manifest digest as the last line of stdout
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
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
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
            let image = packer::open_source(&source).map_err(|e| pusher::Error::Image {
                source_name: source.clone(),
                source: e,
            })?;
            let top = image.descriptor().map_err(|e| pusher::Error::Image {
                source_name: source.clone(),
                source: e,
            })?;
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
            let progress = Progress::new(common.quiet);
            let push_options = PushOptions {
                jobs,
                upload: UploadOptions {
                    chunk_size,
                    mount_from,
                    ..Default::default()
                },
            };
            let report = pusher::push::push_image(
                &client,
                image.layout(),
                &source,
                &top,
                &push_options,
                &progress,
            )?;
            progress.line(&format!(
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
        } => {
            let reference = parse_reference(&reference)?;
            let options = client_options(&common, &reference)?;
            let client = Client::connect("pull", &reference, &options, "pull", &[])?;
            let progress = Progress::new(common.quiet);
            let report = pusher::pull::pull_image(&client, &dir, jobs.max(1), &progress)?;
            progress.line(&format!(
                "pulled {reference} into {}: {} blob(s) downloaded, {} present",
                dir.display(),
                report.pulled,
                report.existed
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
