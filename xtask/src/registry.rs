//! `cargo xtask registry`.

/// Arguments of `cargo xtask registry`.
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("cargo xtask registry is not written yet")
}
