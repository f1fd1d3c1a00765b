//! Progress on stderr: indicatif bars on a terminal, one plain line per blob otherwise.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal as _;
use std::sync::Arc;

/// What happened to a blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobOutcome {
    /// The registry had it (HEAD 200): nothing sent.
    Exists,
    /// Mounted from another repository.
    Mounted,
    /// Uploaded.
    Pushed,
    /// Downloaded (pull).
    Pulled,
}

impl BlobOutcome {
    fn word(self) -> &'static str {
        match self {
            BlobOutcome::Exists => "exists",
            BlobOutcome::Mounted => "mounted",
            BlobOutcome::Pushed => "pushed",
            BlobOutcome::Pulled => "pulled",
        }
    }
}

/// Reports blob progress.
#[derive(Clone)]
pub struct Progress {
    bars: Option<Arc<MultiProgress>>,
    quiet: bool,
}

/// One blob's progress.
pub struct BlobProgress {
    bar: Option<ProgressBar>,
    digest: String,
    size: u64,
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

impl Progress {
    /// Bars if stderr is a terminal, plain lines otherwise; nothing at all if `quiet`.
    pub fn new(quiet: bool) -> Progress {
        let bars = (!quiet && std::io::stderr().is_terminal())
            .then(|| Arc::new(MultiProgress::with_draw_target(ProgressDrawTarget::stderr())));
        Progress { bars, quiet }
    }

    /// Starts reporting a blob of `size` bytes.
    pub fn blob(&self, digest: &str, size: u64) -> BlobProgress {
        let bar = self.bars.as_ref().map(|m| {
            let bar = m.add(ProgressBar::new(size));
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.set_prefix(short(digest).to_string());
            bar
        });
        BlobProgress {
            bar,
            digest: digest.to_string(),
            size,
            quiet: self.quiet,
        }
    }

    /// A plain message line (not while bars are drawn over it).
    pub fn line(&self, message: &str) {
        if self.quiet {
            return;
        }
        match &self.bars {
            Some(m) => {
                let _ = m.println(message);
            }
            None => eprintln!("{message}"),
        }
    }
}

impl BlobProgress {
    /// A callback that moves the bar to `sent` bytes.
    pub fn callback(&self) -> Option<crate::transport::ProgressFn> {
        let bar = self.bar.clone()?;
        Some(Arc::new(move |sent| bar.set_position(sent)))
    }

    /// Restarts the count (a new upload session).
    pub fn restart(&self) {
        if let Some(b) = &self.bar {
            b.set_position(0);
        }
    }

    /// Reports the outcome: finishes the bar, or prints one line.
    pub fn finish(self, outcome: BlobOutcome) {
        let line = format!(
            "{} {} {}",
            outcome.word(),
            short(&self.digest),
            human(self.size)
        );
        match self.bar {
            Some(bar) => {
                bar.set_position(self.size);
                bar.finish_with_message(line.clone());
                bar.set_prefix(format!("{} {}", outcome.word(), short(&self.digest)));
            }
            None if !self.quiet => eprintln!("{line}"),
            None => {}
        }
    }
}
