//! Two-stage writing: one thread produces a byte stream (walking a tree, reading files, framing
//! tar entries), another consumes it (hashing, compressing, writing a blob), so a layer's bytes
//! cost the larger of the two halves instead of their sum. The bytes reaching the sink are
//! exactly those produced, in order: output does not depend on the threads.

use std::io::{self, Write};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use crate::error::{stream_err, Error, Result};

/// Size of the chunks handed from the producer to the consumer.
const CHUNK: usize = 1 << 20;
/// Chunks in flight (bounds the memory to `(DEPTH + 2) * CHUNK`).
const DEPTH: usize = 4;

/// Run `produce` with a writer whose bytes a second thread writes into `sink` (and flushes).
/// The first error wins: the sink's (a full disk, say) over the producer's, which then only
/// sees a closed pipe.
pub(crate) fn pipelined<W, T>(
    sink: &mut W,
    what: &str,
    produce: impl FnOnce(&mut dyn Write) -> Result<T>,
) -> Result<T>
where
    W: Write + Send,
{
    let (full_tx, full_rx) = sync_channel::<Vec<u8>>(DEPTH);
    let (empty_tx, empty_rx) = sync_channel::<Vec<u8>>(DEPTH + 2);
    std::thread::scope(|scope| {
        let consumer = scope.spawn(move || consume(sink, full_rx, empty_tx));
        let mut w = ChunkWriter {
            buf: Vec::with_capacity(CHUNK),
            full: Some(full_tx),
            empty: empty_rx,
        };
        let produced = produce(&mut w).and_then(|t| {
            w.send()
                .map_err(stream_err(format!("writing {what}")))
                .map(|()| t)
        });
        // Closing the channel ends the consumer.
        w.full = None;
        let consumed = consumer
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("layer writer thread panicked")));
        match (produced, consumed) {
            (_, Err(e)) => Err(Error::Stream {
                context: format!("writing {what}"),
                source: e,
            }),
            (Err(e), Ok(())) => Err(e),
            (Ok(t), Ok(())) => Ok(t),
        }
    })
}

fn consume<W: Write>(
    sink: &mut W,
    full: Receiver<Vec<u8>>,
    empty: SyncSender<Vec<u8>>,
) -> io::Result<()> {
    for mut chunk in full {
        sink.write_all(&chunk)?;
        chunk.clear();
        // The producer may have stopped taking buffers back; dropping this one is fine.
        let _ = empty.try_send(chunk);
    }
    sink.flush()
}

struct ChunkWriter {
    buf: Vec<u8>,
    /// `None` once closed.
    full: Option<SyncSender<Vec<u8>>>,
    empty: Receiver<Vec<u8>>,
}

impl ChunkWriter {
    /// Hand the current chunk to the consumer (nothing if it is empty).
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let next = self
            .empty
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(CHUNK));
        let chunk = std::mem::replace(&mut self.buf, next);
        let closed = || io::Error::new(io::ErrorKind::BrokenPipe, "layer writer stopped");
        self.full
            .as_ref()
            .ok_or_else(closed)?
            .send(chunk)
            .map_err(|_| closed())
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = CHUNK - self.buf.len();
        let n = data.len().min(room);
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        // The consumer flushes the sink at the end; a mid-stream flush only has to keep order,
        // which the channel does.
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Failing {
        after: usize,
        seen: usize,
    }

    impl Write for Failing {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            if self.seen + b.len() > self.after {
                return Err(io::Error::new(io::ErrorKind::StorageFull, "disk full"));
            }
            self.seen += b.len();
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn bytes_arrive_in_order_whatever_the_write_sizes() {
        let data: Vec<u8> = (0..(5 * CHUNK + 12345))
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        let mut out = Vec::new();
        let n = pipelined(&mut out, "test", |w| {
            let mut rest = &data[..];
            let mut step = 1;
            while !rest.is_empty() {
                let k = step.min(rest.len());
                w.write_all(&rest[..k]).unwrap();
                rest = &rest[k..];
                step = step * 3 % 700_001 + 1;
            }
            Ok(data.len())
        })
        .unwrap();
        assert_eq!(n, data.len());
        assert_eq!(out, data);
    }

    #[test]
    fn the_sinks_error_is_the_one_reported() {
        let mut sink = Failing {
            after: 3 * CHUNK,
            seen: 0,
        };
        let err = pipelined(&mut sink, "layer x", |w| {
            for _ in 0..20 {
                w.write_all(&vec![1u8; CHUNK])
                    .map_err(stream_err("producing"))?;
            }
            Ok(())
        })
        .unwrap_err();
        let text = format!("{err}: {:?}", std::error::Error::source(&err));
        assert!(text.contains("layer x"), "{text}");
        assert!(text.contains("disk full"), "{text}");
    }

    #[test]
    fn the_producers_error_is_kept_when_the_sink_is_fine() {
        let mut out = Vec::new();
        let err = pipelined(&mut out, "layer y", |w| -> Result<()> {
            w.write_all(b"abc").unwrap();
            Err(Error::Unsupported("source vanished".into()))
        })
        .unwrap_err();
        assert!(err.to_string().contains("source vanished"), "{err}");
    }
}
