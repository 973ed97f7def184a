//! kiln's `print!`/`println!`/`eprint!`/`eprintln!`: the std macros panic when the reader of
//! stdout (or stderr) has gone (`kiln images | head -1`); these end kiln as that ends a docker
//! command instead, killed by SIGPIPE, quietly. Declared first in `main.rs`, they replace the
//! std macros in every module of the binary.

use std::io::Write;

macro_rules! print {
    ($($t:tt)*) => { $crate::out::stdout(format_args!($($t)*)) };
}

macro_rules! println {
    () => { $crate::out::stdout(format_args!("\n")) };
    ($($t:tt)*) => { $crate::out::stdout(format_args!("{}\n", format_args!($($t)*))) };
}

macro_rules! eprint {
    ($($t:tt)*) => { $crate::out::stderr(format_args!($($t)*)) };
}

macro_rules! eprintln {
    () => { $crate::out::stderr(format_args!("\n")) };
    ($($t:tt)*) => { $crate::out::stderr(format_args!("{}\n", format_args!($($t)*))) };
}

/// Write to stdout; a closed pipe ends kiln (see the module documentation).
pub fn stdout(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.flush()) {
        gone(e);
    }
}

/// Write to stderr; a closed pipe ends kiln.
pub fn stderr(args: std::fmt::Arguments<'_>) {
    if let Err(e) = std::io::stderr().lock().write_fmt(args) {
        gone(e);
    }
}

/// The reader is gone: die of SIGPIPE as a Go program does. Other errors (a full disk) are
/// not the reader going away: nothing is left to report them on but the status.
fn gone(e: std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        broken_pipe();
    }
    std::process::exit(1)
}

/// Did `e` come from writing to a reader that has gone (`kiln save IMG | false`)?
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// End as a program whose reader has gone: killed by SIGPIPE, quietly.
pub fn broken_pipe() -> ! {
    // SAFETY: restoring the default disposition and raising a signal at ourselves.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        libc::raise(libc::SIGPIPE);
    }
    std::process::exit(141)
}
