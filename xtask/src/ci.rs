//! `cargo xtask ci`.

/// Arguments of `cargo xtask ci`.
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("cargo xtask ci is not written yet")
}
