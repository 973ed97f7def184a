//! What a push reads: a [`BlobSource`] opened afresh for each attempt, read on a blocking
//! thread in pieces that are handed to the HTTP body as they come (never whole in memory).

use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use oci::Digest;
use tokio::sync::mpsc;

use crate::progress::Progress;

/// A blob to push, readable from its start as often as an upload is attempted.
pub trait BlobSource: Send + Sync {
    /// A reader of the blob from its first byte.
    fn open(&self) -> io::Result<Box<dyn Read + Send>>;
}

/// A file.
impl BlobSource for PathBuf {
    fn open(&self) -> io::Result<Box<dyn Read + Send>> {
        Ok(Box::new(std::fs::File::open(self)?))
    }
}

/// Bytes in memory (manifests, configs, tests).
impl BlobSource for Bytes {
    fn open(&self) -> io::Result<Box<dyn Read + Send>> {
        Ok(Box::new(io::Cursor::new(self.clone())))
    }
}

/// The pieces a read is split into.
const PIECE: u64 = 256 << 10;

/// Why the source could not give the blob its descriptor describes.
#[derive(Debug)]
pub(crate) enum SourceError {
    Io(io::Error),
    /// It ended after this many bytes.
    Short(u64),
}

/// A source being read on a blocking thread, its pieces waiting in a bounded channel.
pub(crate) struct Pump {
    rx: Arc<tokio::sync::Mutex<mpsc::Receiver<Bytes>>>,
    error: Arc<Mutex<Option<SourceError>>>,
}

impl Pump {
    /// Start reading `size` bytes of `source`; pieces never cross a multiple of `chunk`.
    pub(crate) fn start(
        source: Arc<dyn BlobSource>,
        size: u64,
        chunk: Option<u64>,
        digest: Digest,
        progress: Arc<dyn Progress>,
    ) -> Pump {
        let (tx, rx) = mpsc::channel::<Bytes>(8);
        let error = Arc::new(Mutex::new(None));
        let err = error.clone();
        tokio::task::spawn_blocking(move || {
            let fail = |e: SourceError| *err.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
            let mut r = match source.open() {
                Ok(r) => r,
                Err(e) => return fail(SourceError::Io(e)),
            };
            let mut pos = 0u64;
            while pos < size {
                let to_boundary = chunk.map(|c| c - pos % c).unwrap_or(u64::MAX);
                let n = PIECE.min(size - pos).min(to_boundary) as usize;
                let mut buf = vec![0u8; n];
                let mut got = 0;
                while got < n {
                    match r.read(&mut buf[got..]) {
                        Ok(0) => return fail(SourceError::Short(pos + got as u64)),
                        Ok(k) => got += k,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return fail(SourceError::Io(e)),
                    }
                }
                pos += n as u64;
                progress.update(&digest, pos, size);
                if tx.blocking_send(Bytes::from(buf)).is_err() {
                    return;
                }
            }
        });
        Pump {
            rx: Arc::new(tokio::sync::Mutex::new(rx)),
            error,
        }
    }

    /// A request body of the next `len` bytes.
    pub(crate) fn body(&self, len: u64) -> reqwest::Body {
        let rx = self.rx.clone();
        let stream = futures_util::stream::unfold((rx, len), |(rx, left)| async move {
            if left == 0 {
                return None;
            }
            let next = rx.lock().await.recv().await;
            match next {
                Some(b) => {
                    let n = b.len() as u64;
                    Some((Ok::<Bytes, io::Error>(b), (rx, left.saturating_sub(n))))
                }
                None => Some((
                    Err(io::Error::other("the blob's source ended early")),
                    (rx, 0),
                )),
            }
        });
        reqwest::Body::wrap_stream(stream)
    }

    /// The source's failure, if it failed.
    pub(crate) fn take_error(&self) -> Option<SourceError> {
        self.error.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}
