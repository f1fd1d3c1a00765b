//! `packer build`'s progress bar on a terminal: bytes of the bundle packed of its total,
//! throughput and time left. Nothing at all when stderr is not a terminal.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use packer::bundle::Bundle;
use packer::layer::{Progress, content_size};
use std::io::IsTerminal;

/// The bar, or nothing when stderr is not a terminal.
pub struct Bar(Option<ProgressBar>);

impl Bar {
    /// A bar counting up to the bundle's file bytes.
    pub fn for_bundle(bundle: &Bundle) -> Self {
        Bar::new(content_size(bundle))
    }

    /// A bar counting up to `total` bytes of file content (every new layer's).
    pub fn new(total: u64) -> Self {
        if !std::io::stderr().is_terminal() {
            return Bar(None);
        }
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr_with_hz(5));
        let style = ProgressStyle::with_template(
            "packing {wide_bar} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} {eta} left",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        Bar(Some(bar))
    }

    /// The library's feed into this bar.
    pub fn feed(&self) -> Progress {
        match &self.0 {
            Some(bar) => {
                let bar = bar.clone();
                Progress::new(move |done| bar.set_position(done))
            }
            None => Progress::none(),
        }
    }

    /// Removes the bar, so the summary follows on a clean line.
    pub fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}
