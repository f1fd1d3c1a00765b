//! `cargo xtask bench`: each benchmark runs our tool and its competitor in the same session
//! and prints medians and ratios. Never timed in tests.

mod base;
mod copy;
mod image;
mod pack;
mod push;
pub(crate) mod shell;

/// Arguments of `cargo xtask bench`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    which: Which,
}

#[derive(clap::Subcommand)]
enum Which {
    /// Shell binary size and startup time against busybox sh and dash
    Shell(shell::Args),
    /// packer at every gzip level against umoci, GNU gzip and reference engines
    Pack(pack::Args),
    /// pusher against skopeo copy and a raw curl upload
    Push(push::Args),
    /// pusher copy and pull against skopeo copy, within one registry and between two
    #[command(long_about = copy::LONG_ABOUT)]
    Copy(copy::Args),
    /// `cargo xtask image --push` against the article's way (tar, sha256sum, curl)
    Image(image::Args),
    /// The penguin image on a ~100 MiB base, built and pushed, against docker build + push
    Base(base::Args),
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.which {
        Which::Shell(a) => shell::run(a),
        Which::Pack(a) => pack::run(a),
        Which::Push(a) => push::run(a),
        Which::Copy(a) => copy::run(a),
        Which::Image(a) => image::run(a),
        Which::Base(a) => base::run(a),
    }
}

/// The median of some measurements, timings or sizes (the upper one of the middle two for an
/// even count): the one median of every benchmark.
pub fn median<T: Copy + PartialOrd>(mut values: Vec<T>) -> T {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    values[values.len() / 2]
}
