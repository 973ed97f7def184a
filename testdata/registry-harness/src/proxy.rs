//! A TCP proxy in front of a real registry that breaks connections: the first `cuts`
//! connections whose answers pass `cut_after` bytes are closed right there, as a flaky
//! network would. Everything else passes through untouched.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// The running proxy; stops accepting when dropped.
pub struct CuttingProxy {
    port: u16,
    stop: Arc<AtomicBool>,
    cuts_left: Arc<AtomicU32>,
    thread: Option<JoinHandle<()>>,
}

impl CuttingProxy {
    /// Forward 127.0.0.1:(a free port) to 127.0.0.1:`target`.
    pub fn start(target: u16, cut_after: u64, cuts: u32) -> CuttingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let port = listener.local_addr().expect("an address").port();
        listener.set_nonblocking(true).expect("non-blocking accept");
        let stop = Arc::new(AtomicBool::new(false));
        let cuts_left = Arc::new(AtomicU32::new(cuts));
        let (s, c) = (stop.clone(), cuts_left.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let c = c.clone();
                        std::thread::spawn(move || relay(client, target, cut_after, c));
                    }
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(5)),
                }
            }
        });
        CuttingProxy {
            port,
            stop,
            cuts_left,
            thread: Some(thread),
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// How many cuts are still to come.
    pub fn cuts_left(&self) -> u32 {
        self.cuts_left.load(Ordering::SeqCst)
    }
}

impl Drop for CuttingProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn relay(client: TcpStream, target: u16, cut_after: u64, cuts: Arc<AtomicU32>) {
    let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
        return;
    };
    let _ = client.set_nonblocking(false);
    let (mut c_in, mut s_out) = match (client.try_clone(), server.try_clone()) {
        (Ok(a), Ok(b)) => (a, b),
        _ => return,
    };
    // Requests pass through as they are.
    let up = std::thread::spawn(move || {
        let _ = std::io::copy(&mut c_in, &mut s_out);
        let _ = s_out.shutdown(Shutdown::Write);
    });
    let (mut s_in, mut c_out) = (server, client);
    let mut sent = 0u64;
    let mut cut_here = false;
    let mut buf = vec![0u8; 16 << 10];
    loop {
        let n = match s_in.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut n = n;
        if !cut_here && sent + n as u64 > cut_after {
            cut_here = cuts
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |c| c.checked_sub(1))
                .is_ok();
            if cut_here {
                n = (cut_after.saturating_sub(sent)) as usize;
            }
        }
        if c_out.write_all(&buf[..n]).is_err() {
            break;
        }
        sent += n as u64;
        if cut_here {
            break;
        }
    }
    let _ = c_out.shutdown(Shutdown::Both);
    let _ = s_in.shutdown(Shutdown::Both);
    let _ = up.join();
}
