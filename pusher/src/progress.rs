//! Progress reaches the caller through [`Observer`]: bytes done per blob, blob present,
//! mounted, pushed or pulled. The library prints nothing; the programs draw bars or lines
//! (the `pusher` binary's `cli/bars.rs`).

use std::sync::Arc;

/// What happened to a blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobOutcome {
    /// The destination had it (HEAD 200, or a verified file): nothing sent.
    Exists,
    /// Mounted from another repository.
    Mounted,
    /// Uploaded.
    Pushed,
    /// Downloaded or copied into a layout.
    Pulled,
}

impl BlobOutcome {
    /// One word for it: `exists`, `mounted`, `pushed`, `pulled`.
    pub fn word(self) -> &'static str {
        match self {
            BlobOutcome::Exists => "exists",
            BlobOutcome::Mounted => "mounted",
            BlobOutcome::Pushed => "pushed",
            BlobOutcome::Pulled => "pulled",
        }
    }
}

/// Told about each blob as it moves; every method defaults to doing nothing.
pub trait Observer: Send + Sync {
    /// A blob of `size` bytes starts.
    fn started(&self, _digest: &str, _size: u64) {}
    /// `done` bytes of the blob have gone through.
    fn bytes(&self, _digest: &str, _done: u64) {}
    /// The blob starts over (a new upload session).
    fn restarted(&self, _digest: &str) {}
    /// The blob is done.
    fn finished(&self, _digest: &str, _size: u64, _outcome: BlobOutcome) {}
}

/// An observer that is told nothing.
struct Silent;
impl Observer for Silent {}

/// The handle the operations report through.
#[derive(Clone)]
pub struct Progress {
    observer: Arc<dyn Observer>,
}

impl Default for Progress {
    fn default() -> Self {
        Progress::silent()
    }
}

/// One blob's progress.
pub struct BlobProgress {
    observer: Arc<dyn Observer>,
    digest: String,
    size: u64,
}

impl Progress {
    /// Reports to `observer`.
    pub fn new(observer: Arc<dyn Observer>) -> Progress {
        Progress { observer }
    }

    /// Reports to nobody.
    pub fn silent() -> Progress {
        Progress::new(Arc::new(Silent))
    }

    /// Starts reporting a blob of `size` bytes.
    pub fn blob(&self, digest: &str, size: u64) -> BlobProgress {
        self.observer.started(digest, size);
        BlobProgress {
            observer: self.observer.clone(),
            digest: digest.to_string(),
            size,
        }
    }
}

impl BlobProgress {
    /// A callback for the transport: `sent` bytes so far.
    pub fn callback(&self) -> Option<crate::transport::ProgressFn> {
        let observer = self.observer.clone();
        let digest = self.digest.clone();
        Some(Arc::new(move |sent| observer.bytes(&digest, sent)))
    }

    /// Restarts the count (a new upload session).
    pub fn restart(&self) {
        self.observer.restarted(&self.digest);
    }

    /// Reports the outcome.
    pub fn finish(self, outcome: BlobOutcome) {
        self.observer.finished(&self.digest, self.size, outcome);
    }
}
