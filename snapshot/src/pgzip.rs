//! Parallel gzip: the input is cut into fixed 1 MiB blocks, each compressed on its own
//! (raw deflate ending with a sync flush, so blocks concatenate into one valid deflate
//! stream), and written in order. Block boundaries do not depend on the number of worker
//! threads, so the output is the same bytes on every machine.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use flate2::{Compress, Crc, FlushCompress};

/// Uncompressed bytes per independently compressed block.
const BLOCK: usize = 1 << 20;

/// gzip header: magic, deflate, no flags, mtime 0, no extra flags, OS "unknown".
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// A final, empty fixed-Huffman deflate block: ends the stream after sync-flushed blocks.
const FINAL_BLOCK: [u8; 2] = [0x03, 0x00];

type Job = (u64, Vec<u8>);
type Done = (u64, io::Result<Vec<u8>>);

/// Compress one block as raw deflate ending on a byte boundary (sync flush).
fn deflate_block(data: &[u8], level: u32) -> io::Result<Vec<u8>> {
    let mut c = Compress::new(flate2::Compression::new(level), false);
    let mut out = Vec::with_capacity(data.len() / 2 + 1024);
    loop {
        let consumed = c.total_in() as usize;
        c.compress_vec(&data[consumed..], &mut out, FlushCompress::Sync)
            .map_err(io::Error::other)?;
        if c.total_in() as usize == data.len() && out.len() < out.capacity() {
            return Ok(out);
        }
        out.reserve(64 * 1024);
    }
}

/// A gzip writer that compresses blocks on `workers` threads.
pub(crate) struct ParGzEncoder<W: Write> {
    inner: Option<W>,
    buf: Vec<u8>,
    crc: Crc,
    next_seq: u64,
    next_out: u64,
    in_flight: usize,
    max_in_flight: usize,
    ready: BTreeMap<u64, Vec<u8>>,
    jobs: Option<Sender<Job>>,
    done: Receiver<Done>,
    workers: Vec<JoinHandle<()>>,
    wrote_header: bool,
}

impl<W: Write> ParGzEncoder<W> {
    /// A new encoder at `level` with `workers` compression threads (at least one).
    pub(crate) fn new(inner: W, level: u32, workers: usize) -> Self {
        let workers = workers.max(1);
        let (job_tx, job_rx) = mpsc::channel::<Job>();
        let (done_tx, done_rx) = mpsc::channel::<Done>();
        let job_rx = Arc::new(Mutex::new(job_rx));
        let handles = (0..workers)
            .map(|_| {
                let rx = Arc::clone(&job_rx);
                let tx = done_tx.clone();
                std::thread::spawn(move || loop {
                    let job = match rx.lock() {
                        Ok(g) => g.recv(),
                        Err(_) => return,
                    };
                    let Ok((seq, data)) = job else { return };
                    if tx.send((seq, deflate_block(&data, level))).is_err() {
                        return;
                    }
                })
            })
            .collect();
        ParGzEncoder {
            inner: Some(inner),
            buf: Vec::with_capacity(BLOCK),
            crc: Crc::new(),
            next_seq: 0,
            next_out: 0,
            in_flight: 0,
            max_in_flight: workers * 2,
            ready: BTreeMap::new(),
            jobs: Some(job_tx),
            done: done_rx,
            workers: handles,
            wrote_header: false,
        }
    }

    fn out(&mut self) -> io::Result<&mut W> {
        self.inner
            .as_mut()
            .ok_or_else(|| io::Error::other("gzip encoder already finished"))
    }

    fn submit(&mut self, block: Vec<u8>) -> io::Result<()> {
        while self.in_flight >= self.max_in_flight {
            self.wait_one()?;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let sent = match &self.jobs {
            Some(tx) => tx.send((seq, block)).is_ok(),
            None => false,
        };
        if !sent {
            return Err(io::Error::other("gzip workers stopped"));
        }
        self.in_flight += 1;
        Ok(())
    }

    /// Receive one finished block and write every block that is now in order.
    fn wait_one(&mut self) -> io::Result<()> {
        let (seq, res) = self
            .done
            .recv()
            .map_err(|_| io::Error::other("gzip worker died"))?;
        self.in_flight -= 1;
        self.ready.insert(seq, res?);
        while let Some(block) = self.ready.remove(&self.next_out) {
            self.out()?.write_all(&block)?;
            self.next_out += 1;
        }
        Ok(())
    }

    fn header(&mut self) -> io::Result<()> {
        if !self.wrote_header {
            self.out()?.write_all(&HEADER)?;
            self.wrote_header = true;
        }
        Ok(())
    }

    /// Compress what is left, write the trailer and return the inner writer.
    pub(crate) fn finish(mut self) -> io::Result<W> {
        self.header()?;
        if !self.buf.is_empty() {
            let block = std::mem::take(&mut self.buf);
            self.submit(block)?;
        }
        while self.in_flight > 0 {
            self.wait_one()?;
        }
        let (sum, amount) = (self.crc.sum(), self.crc.amount());
        let mut w = self
            .inner
            .take()
            .ok_or_else(|| io::Error::other("gzip encoder already finished"))?;
        w.write_all(&FINAL_BLOCK)?;
        w.write_all(&sum.to_le_bytes())?;
        w.write_all(&amount.to_le_bytes())?;
        Ok(w)
    }
}

impl<W: Write> Write for ParGzEncoder<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.header()?;
        let n = data.len().min(BLOCK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        self.crc.update(&data[..n]);
        if self.buf.len() == BLOCK {
            let block = std::mem::replace(&mut self.buf, Vec::with_capacity(BLOCK));
            self.submit(block)?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        // Blocks are fixed-size for determinism; only finished blocks can be flushed.
        match self.inner.as_mut() {
            Some(w) => w.flush(),
            None => Ok(()),
        }
    }
}

impl<W: Write> Drop for ParGzEncoder<W> {
    fn drop(&mut self) {
        self.jobs = None; // workers see the closed channel and exit
        for h in self.workers.drain(..) {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn sample(len: usize) -> Vec<u8> {
        (0..len as u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 27) as u8 + (i % 7) as u8)
            .collect()
    }

    fn encode(data: &[u8], workers: usize, chunk: usize) -> Vec<u8> {
        let mut e = ParGzEncoder::new(Vec::new(), 2, workers);
        for c in data.chunks(chunk.max(1)) {
            e.write_all(c).unwrap();
        }
        e.finish().unwrap()
    }

    #[test]
    fn decodes_and_is_independent_of_workers_and_write_sizes() {
        for len in [0, 1, BLOCK - 1, BLOCK, BLOCK + 1, 5 * BLOCK + 12345] {
            let data = sample(len);
            let one = encode(&data, 1, 1 << 16);
            assert_eq!(one, encode(&data, 3, 777), "len {len}");
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&one[..])
                .read_to_end(&mut out)
                .unwrap();
            assert_eq!(out, data, "len {len}");
        }
    }

    #[test]
    fn gzip_tool_accepts_the_stream() {
        let data = sample(3 * BLOCK + 99);
        let gz = encode(&data, 2, 4096);
        let Ok(mut child) = std::process::Command::new("gzip")
            .arg("-dc")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
        else {
            return; // no gzip binary here
        };
        let mut stdin = child.stdin.take().unwrap();
        let writer = std::thread::spawn(move || stdin.write_all(&gz));
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap().unwrap();
        assert!(out.status.success());
        assert_eq!(out.stdout, data);
    }
}
