//! The `log` logger the binary installs: library warnings and errors reach stderr as
//! `WARNING: …` / `ERROR: …` lines, escaped like every other message, and above the tty
//! progress display rather than through it.

use super::escape::escape;
use std::sync::Mutex;

/// Where lines go while a tty progress display is drawn.
static TTY: Mutex<Option<indicatif::MultiProgress>> = Mutex::new(None);

struct Logger {
    level: log::LevelFilter,
}

impl log::Log for Logger {
    fn enabled(&self, meta: &log::Metadata<'_>) -> bool {
        meta.level() <= self.level
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let label = match record.level() {
            log::Level::Error => "ERROR",
            log::Level::Warn => "WARNING",
            log::Level::Info => "INFO",
            log::Level::Debug => "DEBUG",
            log::Level::Trace => "TRACE",
        };
        let line = format!("{label}: {}", escape(&record.args().to_string()));
        print_line(&line);
    }

    fn flush(&self) {}
}

/// Print one (already escaped) line to stderr, above the tty display if one is drawn.
pub fn print_line(line: &str) {
    let tty = TTY.lock().ok().and_then(|t| t.clone());
    match tty {
        Some(multi) => {
            let _ = multi.println(line);
        }
        None => eprintln!("{line}"),
    }
}

/// Draw log lines through `multi` while it shows progress (`None` when it is done).
pub fn set_tty(multi: Option<indicatif::MultiProgress>) {
    if let Ok(mut t) = TTY.lock() {
        *t = multi;
    }
}

/// Install the logger: warnings and errors by default, `KILN_LOG=info|debug|trace|off` to
/// change that.
pub fn install() {
    let level = std::env::var("KILN_LOG")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(log::LevelFilter::Warn);
    static LOGGER: std::sync::OnceLock<Logger> = std::sync::OnceLock::new();
    let logger = LOGGER.get_or_init(|| Logger { level });
    if log::set_logger(logger).is_ok() {
        log::set_max_level(logger.level);
    }
}
