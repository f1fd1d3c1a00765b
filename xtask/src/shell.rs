//! `cargo xtask shell`.

/// Arguments of `cargo xtask shell`.
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("cargo xtask shell is not written yet")
}
