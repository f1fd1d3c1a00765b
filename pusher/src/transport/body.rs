//! Reading a body as declared: never more than its declared size (stop at size + 1 and fail),
//! an early end or a stall as a typed [`BodyError`], and a process-wide cancel that stops every
//! transfer at its next read so temporary files are removed as their writers unwind.

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

static CANCELLED: AtomicBool = AtomicBool::new(false);

/// Asks every body transfer in this process to stop at its next read, so temporary files are
/// removed as their writers unwind (the binary calls it on SIGTERM and SIGINT).
pub fn cancel() {
    CANCELLED.store(true, Ordering::SeqCst);
}

/// Whether [`cancel`] was called.
pub fn is_cancelled() -> bool {
    CANCELLED.load(Ordering::SeqCst)
}

/// Why a body could not be read as declared. Carried inside the `std::io::Error` a
/// [`BlobReader`] returns, so a caller can tell a network failure from a disk failure.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BodyError {
    /// The server sent or announced more than the declared size.
    #[error("the registry sent more than the declared {declared} bytes")]
    TooLong {
        /// The declared size.
        declared: u64,
    },
    /// The body ended before the declared size.
    #[error("the download ended after {got} of {declared} bytes")]
    Truncated {
        /// Bytes received.
        got: u64,
        /// The declared size.
        declared: u64,
    },
    /// No byte arrived within the timeout.
    #[error("no data for {0} s (the --timeout)")]
    Stalled(u64),
    /// The connection failed while reading.
    #[error("network error while downloading: {0}")]
    Network(String),
    /// The process was asked to stop.
    #[error("interrupted")]
    Cancelled,
}

impl BodyError {
    /// Whether another try may succeed (a network failure, a stall, a cut body).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            BodyError::Network(_) | BodyError::Stalled(_) | BodyError::Truncated { .. }
        )
    }

    /// The `BodyError` inside an error's chain, if any (through `std::io::Error`s).
    pub fn find<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a BodyError> {
        let mut cur = Some(err);
        while let Some(e) = cur {
            if let Some(b) = e.downcast_ref::<BodyError>() {
                return Some(b);
            }
            if let Some(io) = e.downcast_ref::<std::io::Error>()
                && let Some(b) = io.get_ref().and_then(|i| i.downcast_ref::<BodyError>())
            {
                return Some(b);
            }
            cur = e.source();
        }
        None
    }
}

/// A body read within its declared size; see [`Response::blob_reader`].
pub struct BlobReader {
    inner: Box<dyn Read + Send>,
    declared: u64,
    read: u64,
    exact: bool,
    timeout: Duration,
}

impl BlobReader {
    /// Reads `inner` as a body of `declared` bytes; `exact` makes an early end an error
    /// (blobs) rather than the end (bodies read up to a limit).
    pub(super) fn new(
        inner: Box<dyn Read + Send>,
        declared: u64,
        exact: bool,
        timeout: Duration,
    ) -> BlobReader {
        BlobReader {
            inner,
            declared,
            read: 0,
            exact,
            timeout,
        }
    }

    fn fail(&self, e: BodyError) -> std::io::Error {
        std::io::Error::other(e)
    }
}

impl Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if is_cancelled() {
            return Err(self.fail(BodyError::Cancelled));
        }
        let left = self.declared - self.read;
        // at the declared size, one more byte tells an exact body from a longer one
        let want = if left == 0 {
            1
        } else {
            buf.len().min(usize::try_from(left).unwrap_or(usize::MAX))
        };
        let mut probe = [0u8; 1];
        let target: &mut [u8] = if left == 0 {
            &mut probe
        } else {
            &mut buf[..want]
        };
        let n = match self.inner.read(target) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => return Err(e),
            Err(e) => {
                let timed_out = e.kind() == std::io::ErrorKind::TimedOut
                    || e.get_ref()
                        .and_then(|i| i.downcast_ref::<ureq::Error>())
                        .is_some_and(|u| matches!(u, ureq::Error::Timeout(_)));
                return Err(self.fail(if timed_out {
                    BodyError::Stalled(self.timeout.as_secs())
                } else {
                    BodyError::Network(crate::errors::escape_remote(&e.to_string()))
                }));
            }
        };
        if left == 0 {
            if n > 0 {
                return Err(self.fail(BodyError::TooLong {
                    declared: self.declared,
                }));
            }
            return Ok(0);
        }
        if n == 0 {
            if self.exact {
                return Err(self.fail(BodyError::Truncated {
                    got: self.read,
                    declared: self.declared,
                }));
            }
            return Ok(0);
        }
        self.read += n as u64;
        Ok(n)
    }
}
