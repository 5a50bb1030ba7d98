//! `--debug`: log lines on stderr through `tracing-subscriber`.

use tracing_subscriber::filter::LevelFilter;

/// The log level of a `--debug` value: 0 none, 1 error, 2 warn, 3 debug.
pub fn level(debug: u8) -> LevelFilter {
    match debug {
        0 => LevelFilter::OFF,
        1 => LevelFilter::ERROR,
        2 => LevelFilter::WARN,
        _ => LevelFilter::DEBUG,
    }
}

/// Installs the subscriber for `debug` (nothing for 0). `RUST_LOG`, when set, refines the
/// filter.
pub fn init(debug: u8) {
    if debug == 0 {
        return;
    }
    let filter = tracing_subscriber::EnvFilter::builder()
        .with_default_directive(level(debug).into())
        .from_env_lossy();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

#[cfg(test)]
mod tests {
    #[test]
    fn levels() {
        use tracing_subscriber::filter::LevelFilter;
        assert_eq!(super::level(0), LevelFilter::OFF);
        assert_eq!(super::level(1), LevelFilter::ERROR);
        assert_eq!(super::level(2), LevelFilter::WARN);
        assert_eq!(super::level(3), LevelFilter::DEBUG);
    }
}
