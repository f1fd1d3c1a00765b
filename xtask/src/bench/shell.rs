//! `cargo xtask bench shell`.

/// Arguments of `cargo xtask bench shell`.
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("cargo xtask bench shell is not written yet")
}
