//! `cargo xtask`: the project's automation, one module per task.
//!
//! Each subcommand is a step of the article or a chore around it:
//! `shell` builds the static penguin shell, `chroot` runs it in a bare bundle,
//! `image` builds (and pushes) the image, `registry` starts a local registry,
//! `bench` measures against the competitors, `ci` runs every check.

/// pusher's progress bars, shared with `cargo xtask image --push`.
#[path = "../../pusher/src/cli/bars.rs"]
#[allow(dead_code)] // xtask draws the bars; pusher's summary line is pusher's own
mod bars;
mod bench;
mod chroot;
mod ci;
/// The registry flags `pusher` takes, shared with `cargo xtask image --push`.
#[path = "../../pusher/src/cli/connect_args.rs"]
mod connect_args;
mod image;
mod registry;
mod shell;
mod tidy;
mod util;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "Build, run and test the penguinshell image, step by step"
)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Build penguinshell as a fully static musl binary and check its ELF headers
    Shell(shell::Args),
    /// Assemble target/image/rootfs and run the shell chrooted there (needs root)
    Chroot(chroot::Args),
    /// The whole article: build the shell, pack the image, optionally push it
    #[command(
        after_help = "Examples:\n  cargo xtask image\n      build target/image/{oci,penguinshell.tar,rootfs.tar}; docker load -i target/image/penguinshell.tar runs it\n  cargo xtask registry --auth token --background && source target/registry/env\n  cargo xtask image --push $REGISTRY/user/penguinshell:latest -u $REGISTRY_USER --password-stdin <<<\"$REGISTRY_PASSWORD\"\n      push it; the last line of stdout is the manifest digest"
    )]
    Image(image::Args),
    /// Start a real local registry (Debian's docker-registry) until Ctrl-C
    #[command(
        after_help = "Examples:\n  cargo xtask registry --auth token             serve on a free port until Ctrl-C\n  cargo xtask registry --auth basic --background  start detached; source target/registry/env\n  cargo xtask registry --stop                    stop the detached one"
    )]
    Registry(registry::Args),
    /// Measure against the competitors, side by side, and print ratios
    Bench(bench::Args),
    /// Install what the tests need, then fmt, clippy and every test
    Ci(ci::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.task {
        Task::Shell(args) => shell::run(args).map(|_| ()),
        Task::Chroot(args) => match chroot::run(args) {
            // The chrooted shell's own status is the task's status.
            Ok(status) => return ExitCode::from(status),
            Err(err) => Err(err),
        },
        Task::Image(args) => image::run(args),
        Task::Registry(args) => registry::run(args),
        Task::Bench(args) => bench::run(args),
        Task::Ci(args) => ci::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
