//! `cargo xtask bench push`.

/// Arguments of `cargo xtask bench push`.
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("cargo xtask bench push is not written yet")
}
