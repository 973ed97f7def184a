//! Container output: the sink trait and the reader threads that feed it line by line.

use std::io::Read;

/// Receives the container's output. Called from one reader thread per stream.
pub trait OutputSink: Send + Sync {
    /// A chunk of `stream` (1 = stdout, 2 = stderr): a whole line including its `\n` when possible;
    /// a partial line only at the end of the stream or when a line exceeds [`MAX_LINE`].
    fn output(&self, stream: u8, data: &[u8]);
}

/// Where the container's stdout/stderr go.
pub enum Output<'a> {
    /// Straight to the caller's own stdout/stderr (for `kiln run`).
    Inherit,
    /// Through pipes to a sink.
    Sink(&'a dyn OutputSink),
}

/// A line longer than this is passed on in pieces of this size.
pub const MAX_LINE: usize = 64 * 1024;

/// Read `reader` to the end, passing whole lines to `sink`.
pub fn pump(mut reader: impl Read, stream: u8, sink: &dyn OutputSink) {
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        pending.extend_from_slice(&buf[..n]);
        let mut start = 0;
        while let Some(pos) = pending[start..].iter().position(|b| *b == b'\n') {
            sink.output(stream, &pending[start..start + pos + 1]);
            start += pos + 1;
        }
        while pending.len() - start >= MAX_LINE {
            sink.output(stream, &pending[start..start + MAX_LINE]);
            start += MAX_LINE;
        }
        pending.drain(..start);
    }
    if !pending.is_empty() {
        sink.output(stream, &pending);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    struct Collect(Mutex<Vec<(u8, Vec<u8>)>>);
    impl OutputSink for Collect {
        fn output(&self, stream: u8, data: &[u8]) {
            self.0.lock().unwrap().push((stream, data.to_vec()));
        }
    }

    /// A reader returning its data in fixed small pieces.
    struct Trickle(Vec<u8>, usize);
    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.1.min(self.0.len()).min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0.drain(..n);
            Ok(n)
        }
    }

    #[test]
    fn pump_splits_into_lines_and_flushes_the_tail() {
        let sink = Collect(Mutex::new(Vec::new()));
        pump(Trickle(b"ab\ncd\n\nef".to_vec(), 3), 2, &sink);
        let got = sink.0.into_inner().unwrap();
        let want: Vec<(u8, Vec<u8>)> = vec![
            (2, b"ab\n".to_vec()),
            (2, b"cd\n".to_vec()),
            (2, b"\n".to_vec()),
            (2, b"ef".to_vec()),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn pump_cuts_overlong_lines() {
        let sink = Collect(Mutex::new(Vec::new()));
        let data = vec![b'x'; MAX_LINE * 2 + 5];
        pump(Trickle(data, 10_000), 1, &sink);
        let got = sink.0.into_inner().unwrap();
        let sizes: Vec<usize> = got.iter().map(|(_, d)| d.len()).collect();
        assert_eq!(sizes, vec![MAX_LINE, MAX_LINE, 5]);
    }
}
