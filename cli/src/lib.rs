//! `sanstorrent`: the command-line BitTorrent client. The binary (`main.rs`) only calls
//! [`main`]; the library target exists so that `fuzz/` can reach the daemon's request parsers
//! ([`fuzzing`], behind the `fuzzing` feature).
//!
//! Exit codes: 0 success, 1 failure (with a one-line `error: ...` reason on stderr), 2 usage
//! error (clap's), 130 interrupted by Ctrl+C or SIGTERM (state saved).

mod args;
mod certs;
mod create;
mod daemon;
mod demo;
mod fmt;
mod hash;
mod info;
mod net;
mod progress;
mod run;
mod select;
mod signals;

/// The daemon's cargo-fuzz target bodies (`fuzz/`).
#[cfg(any(test, feature = "fuzzing"))]
pub use daemon::fuzzing;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use args::{Cli, Command};

/// How a command ended, other than success.
#[derive(Debug)]
pub(crate) enum Exit {
    /// A failure with a one-line reason (exit 1).
    Fail(String),
    /// A usage mistake clap could not see (exit 2, with the usage text).
    Usage(String),
    /// Ctrl+C or SIGTERM: stopped gracefully, state saved (exit 130).
    Interrupted,
}

impl From<String> for Exit {
    fn from(reason: String) -> Self {
        Self::Fail(reason)
    }
}

/// Parses the command line, runs the command and gives the process's exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let quiet = match &cli.command {
        Command::Download(a) => a.quiet,
        Command::Seed(a) => a.quiet,
        Command::Demo(a) => a.quiet,
        Command::Daemon(a) => a.quiet,
        Command::Info(_) | Command::Create(_) => false,
    };
    init_logging(quiet);
    let result = match cli.command {
        Command::Info(a) => info::run(&a).map_err(Exit::Fail),
        Command::Create(a) => create::run(&a).map_err(Exit::Fail),
        Command::Download(a) => run::download(&a),
        Command::Seed(a) => run::seed(&a),
        Command::Demo(a) => demo::run(&a),
        Command::Daemon(a) => daemon::run(&a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Exit::Fail(reason)) => {
            eprintln!("error: {reason}");
            ExitCode::FAILURE
        }
        Err(Exit::Usage(reason)) => Cli::command()
            .error(clap::error::ErrorKind::ValueValidation, reason)
            .exit(),
        Err(Exit::Interrupted) => ExitCode::from(signals::INTERRUPTED),
    }
}

/// Logs to stderr (above the progress bars) at the level `RUST_LOG` asks for (`warn`, or
/// per target: `info,sanstorrent_core=debug`); by default warnings, or only errors with
/// `--quiet`. An unparsable `RUST_LOG` falls back to the default.
fn init_logging(quiet: bool) {
    let default = if quiet { "error" } else { "warn" };
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|spec| spec.parse::<Targets>().ok())
        .unwrap_or_else(|| default.parse().expect("a level is a valid filter"));
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(|| progress::LogWriter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .without_time()
        .with_target(false);
    let _ = tracing_subscriber::registry()
        .with(fmt)
        .with(filter)
        .try_init();
}
