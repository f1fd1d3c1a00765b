//! `cargo xtask bench image`.

/// Arguments of `cargo xtask bench image`.
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("cargo xtask bench image is not written yet")
}
