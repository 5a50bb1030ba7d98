//! A transfer progress bar on stderr: percentage, bytes and MB/s, redrawn in place at most
//! ten times a second when stderr is a terminal. The formatting functions are pure.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Shortest time between two redraws.
pub const REDRAW_INTERVAL: Duration = Duration::from_millis(100);

/// Width of the bar between the brackets.
const BAR_WIDTH: usize = 20;

/// A byte count in decimal units: `512 B`, `1.5 kB`, `3.1 MB`, `2.00 GB`.
pub fn format_bytes(n: u64) -> String {
    const UNITS: [(&str, f64); 4] = [("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)];
    let x = n as f64;
    for (unit, size) in UNITS {
        if x >= size {
            let v = x / size;
            return if v < 10.0 && unit != "kB" {
                format!("{v:.2} {unit}")
            } else {
                format!("{v:.1} {unit}")
            };
        }
    }
    format!("{n} B")
}

/// The average rate in MB/s (10^6 bytes per second); `-- MB/s` before any time has passed.
pub fn format_rate(bytes: u64, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    if secs < 0.001 {
        return "-- MB/s".into();
    }
    format!("{:.1} MB/s", bytes as f64 / secs / 1e6)
}

/// Share of `total` done, in percent (100 for an empty total).
pub fn percent(done: u64, total: u64) -> f64 {
    if total == 0 {
        100.0
    } else {
        (done.min(total) as f64 / total as f64) * 100.0
    }
}

/// One line of the bar: `label  42.0% [########------------] 1.32 MB / 3.15 MB  12.5 MB/s`.
pub fn format_line(label: &str, done: u64, total: u64, elapsed: Duration) -> String {
    let pct = percent(done, total);
    let filled = ((pct / 100.0) * BAR_WIDTH as f64).floor() as usize;
    let bar: String = "#".repeat(filled) + &"-".repeat(BAR_WIDTH - filled.min(BAR_WIDTH));
    format!(
        "{label} {pct:5.1}% [{bar}] {} / {}  {}",
        format_bytes(done),
        format_bytes(total),
        format_rate(done, elapsed)
    )
}

/// The closing line: `sent report.pdf to bob: 3.15 MB in 1.2 s (2.6 MB/s)`.
pub fn format_summary(what: &str, bytes: u64, elapsed: Duration) -> String {
    format!(
        "{what}: {} in {:.1} s ({})",
        format_bytes(bytes),
        elapsed.as_secs_f64(),
        format_rate(bytes, elapsed)
    )
}

/// Whether a redraw is due at `now` given the last one.
pub fn redraw_due(last: Option<Instant>, now: Instant) -> bool {
    last.is_none_or(|t| now.saturating_duration_since(t) >= REDRAW_INTERVAL)
}

/// A progress display for one transfer.
#[derive(Debug)]
pub struct Progress {
    label: String,
    total: u64,
    done: u64,
    start: Instant,
    last_draw: Option<Instant>,
    tty: bool,
}

impl Progress {
    /// A display for `total` bytes; it draws only if stderr is a terminal.
    pub fn new(label: impl Into<String>, total: u64) -> Progress {
        Progress::with_terminal(label, total, std::io::stderr().is_terminal())
    }

    /// A display that draws if `tty`.
    pub fn with_terminal(label: impl Into<String>, total: u64, tty: bool) -> Progress {
        Progress {
            label: label.into(),
            total,
            done: 0,
            start: Instant::now(),
            last_draw: None,
            tty,
        }
    }

    /// Time since the display was made.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// Records `done` bytes and redraws if due.
    pub fn set(&mut self, done: u64) {
        self.done = done;
        let now = Instant::now();
        if self.tty && redraw_due(self.last_draw, now) {
            self.last_draw = Some(now);
            self.draw();
        }
    }

    fn draw(&self) {
        let line = format_line(&self.label, self.done, self.total, self.elapsed());
        let mut err = std::io::stderr().lock();
        // `\x1b[K` clears what a longer earlier line left behind.
        let _ = write!(err, "\r{line}\x1b[K");
        let _ = err.flush();
    }

    /// Ends the display after success: the bar's last state (on a terminal), then `summary`
    /// (see [`format_summary`]) on its own line.
    pub fn finish(&mut self, summary: &str) {
        if self.tty {
            self.draw();
            eprintln!();
        }
        eprintln!("{summary}");
    }

    /// Ends the display after a failure, leaving the cursor on a fresh line.
    pub fn abandon(&mut self) {
        if self.tty && self.last_draw.is_some() {
            eprintln!();
        }
        self.tty = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes() {
        assert_eq!(format_bytes(0), "0 B");
        assert_eq!(format_bytes(999), "999 B");
        assert_eq!(format_bytes(1_500), "1.5 kB");
        assert_eq!(format_bytes(3 * 1024 * 1024), "3.15 MB");
        assert_eq!(format_bytes(25_000_000), "25.0 MB");
        assert_eq!(format_bytes(2_000_000_000), "2.00 GB");
    }

    #[test]
    fn rates() {
        assert_eq!(format_rate(10_000_000, Duration::from_secs(2)), "5.0 MB/s");
        assert_eq!(format_rate(1_000, Duration::ZERO), "-- MB/s");
    }

    #[test]
    fn lines() {
        assert_eq!(
            format_line("a.bin", 0, 1_000_000, Duration::from_secs(1)),
            "a.bin   0.0% [--------------------] 0 B / 1.00 MB  0.0 MB/s"
        );
        assert_eq!(
            format_line("a.bin", 500_000, 1_000_000, Duration::from_millis(250)),
            "a.bin  50.0% [##########----------] 500.0 kB / 1.00 MB  2.0 MB/s"
        );
        assert_eq!(
            format_line("a.bin", 1_000_000, 1_000_000, Duration::from_secs(1)),
            "a.bin 100.0% [####################] 1.00 MB / 1.00 MB  1.0 MB/s"
        );
        // An empty file is complete; more than announced does not overflow the bar.
        assert!(format_line("e", 0, 0, Duration::ZERO).contains("100.0% [####################]"));
        assert!(format_line("o", 9, 4, Duration::ZERO).contains("100.0%"));
    }

    #[test]
    fn summary() {
        assert_eq!(
            format_summary("sent a.bin to bob", 3_000_000, Duration::from_millis(1500)),
            "sent a.bin to bob: 3.00 MB in 1.5 s (2.0 MB/s)"
        );
    }

    #[test]
    fn redraws_at_most_ten_times_a_second() {
        let t = Instant::now();
        assert!(redraw_due(None, t));
        assert!(!redraw_due(Some(t), t + Duration::from_millis(99)));
        assert!(redraw_due(Some(t), t + Duration::from_millis(100)));
        let mut p = Progress::with_terminal("x", 10, false);
        p.set(5);
        assert!(p.last_draw.is_none(), "never draws off a terminal");
    }
}
