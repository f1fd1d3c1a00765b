//! `cargo xtask bench pack`.

/// Arguments of `cargo xtask bench pack`.
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("cargo xtask bench pack is not written yet")
}
