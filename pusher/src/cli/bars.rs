//! Progress on stderr for the programs (not the library): indicatif bars on a terminal, one
//! plain line per blob otherwise, nothing with `--quiet`. Included with `#[path]` by the
//! `pusher` binary and `cargo xtask image --push`.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use pusher::progress::{BlobOutcome, Observer, Progress};
use std::collections::HashMap;
use std::io::IsTerminal as _;
use std::sync::{Arc, Mutex};

/// Bars or lines on stderr.
pub struct Bars {
    multi: Option<MultiProgress>,
    bars: Mutex<HashMap<String, ProgressBar>>,
    quiet: bool,
}

/// `sha256:0123456789ab`, enough to recognize a blob.
pub fn short(digest: &str) -> &str {
    let end = digest.find(':').map_or(0, |i| i + 13).min(digest.len());
    &digest[..end]
}

fn human(bytes: u64) -> String {
    if bytes < 1024 {
        format!("{bytes} B")
    } else if bytes < 1024 * 1024 {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    } else {
        format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
    }
}

impl Bars {
    /// Bars if stderr is a terminal, plain lines otherwise; nothing at all if `quiet`.
    pub fn new(quiet: bool) -> Arc<Bars> {
        let multi = (!quiet && std::io::stderr().is_terminal())
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        Arc::new(Bars {
            multi,
            bars: Mutex::new(HashMap::new()),
            quiet,
        })
    }

    /// The library's handle reporting to these bars.
    pub fn progress(self: &Arc<Self>) -> Progress {
        Progress::new(self.clone())
    }

    /// A plain message line (not while bars are drawn over it).
    pub fn line(&self, message: &str) {
        if self.quiet {
            return;
        }
        match &self.multi {
            Some(m) => {
                let _ = m.println(message);
            }
            None => eprintln!("{message}"),
        }
    }

    fn bar(&self, digest: &str) -> Option<ProgressBar> {
        self.bars.lock().ok()?.get(digest).cloned()
    }
}

impl Observer for Bars {
    fn started(&self, digest: &str, size: u64) {
        let Some(m) = &self.multi else {
            return;
        };
        let bar = m.add(ProgressBar::new(size));
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_prefix(short(digest).to_string());
        if let Ok(mut bars) = self.bars.lock() {
            bars.insert(digest.to_string(), bar);
        }
    }

    fn bytes(&self, digest: &str, done: u64) {
        if let Some(bar) = self.bar(digest) {
            bar.set_position(done);
        }
    }

    fn restarted(&self, digest: &str) {
        if let Some(bar) = self.bar(digest) {
            bar.set_position(0);
        }
    }

    fn finished(&self, digest: &str, size: u64, outcome: BlobOutcome) {
        let line = format!("{} {} {}", outcome.word(), short(digest), human(size));
        match self.bar(digest) {
            Some(bar) => {
                bar.set_position(size);
                bar.finish_with_message(line);
                bar.set_prefix(format!("{} {}", outcome.word(), short(digest)));
            }
            None if !self.quiet => eprintln!("{line}"),
            None => {}
        }
    }
}
