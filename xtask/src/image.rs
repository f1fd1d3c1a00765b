//! `cargo xtask image`.

/// Arguments of `cargo xtask image`.
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("cargo xtask image is not written yet")
}
