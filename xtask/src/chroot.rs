//! `cargo xtask chroot`.

/// Arguments of `cargo xtask chroot`.
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("cargo xtask chroot is not written yet")
}
