//! A writer that hands its bytes to a thread of its own: hashing and writing a stream then
//! overlap with producing it (the diff id beside the tar, the layer digest beside gzip).

use std::io::{self, Write};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

/// Bytes per hand-over.
const CHUNK: usize = 1 << 20;
/// Chunks queued before the producer waits: bounds the memory.
const QUEUED: usize = 4;

/// Writes into `W` on a background thread; [`ThreadedSink::finish`] returns it.
pub struct ThreadedSink<W: Write + Send + 'static> {
    buf: Vec<u8>,
    tx: Option<SyncSender<Vec<u8>>>,
    /// chunks written and emptied, to fill again: fresh ones would cost a page fault a page
    spare: Receiver<Vec<u8>>,
    handle: Option<JoinHandle<io::Result<W>>>,
}

impl<W: Write + Send + 'static> ThreadedSink<W> {
    /// Starts the thread that writes into `inner`.
    pub fn spawn(inner: W) -> Self {
        let (tx, rx) = sync_channel::<Vec<u8>>(QUEUED);
        let (spare_tx, spare) = sync_channel::<Vec<u8>>(QUEUED);
        let handle = std::thread::spawn(move || {
            let mut inner = inner;
            for mut chunk in rx {
                inner.write_all(&chunk)?;
                chunk.clear();
                // when the producer has enough, the chunk is dropped
                let _ = spare_tx.try_send(chunk);
            }
            inner.flush()?;
            Ok(inner)
        });
        ThreadedSink {
            buf: Vec::with_capacity(CHUNK),
            tx: Some(tx),
            spare,
            handle: Some(handle),
        }
    }

    fn send(&mut self) -> io::Result<()> {
        let next = self
            .spare
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(CHUNK));
        let chunk = std::mem::replace(&mut self.buf, next);
        let sent = self.tx.as_ref().map(|tx| tx.send(chunk));
        match sent {
            Some(Ok(())) => Ok(()),
            // the thread stopped on an error: report it
            _ => Err(self
                .join()
                .err()
                .unwrap_or_else(|| io::Error::other("writer stopped"))),
        }
    }

    fn join(&mut self) -> io::Result<W> {
        self.tx = None;
        match self.handle.take() {
            Some(h) => h
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("writer thread panicked"))),
            None => Err(io::Error::other("writer already finished")),
        }
    }

    /// Sends what is buffered, waits for the thread, and returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        if !self.buf.is_empty() {
            self.send()?;
        }
        self.join()
    }
}

impl<W: Write + Send + 'static> Write for ThreadedSink<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(&buf[..n]);
        if self.buf.len() == CHUNK {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_arrive_in_order_and_errors_come_back() {
        let data: Vec<u8> = (0..5_000_000u32).map(|i| (i % 251) as u8).collect();
        let mut s = ThreadedSink::spawn(Vec::new());
        for c in data.chunks(77_777) {
            s.write_all(c).unwrap();
        }
        assert_eq!(s.finish().unwrap(), data);

        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::new(io::ErrorKind::StorageFull, "disk full"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut s = ThreadedSink::spawn(Full);
        let err = (0..10)
            .find_map(|_| s.write_all(&data).err())
            .expect("the error comes back");
        assert_eq!(err.to_string(), "disk full");
    }
}
