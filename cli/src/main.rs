//! `sanstorrent`: the command-line BitTorrent client.
//!
//! Exit codes: 0 success, 1 failure (with a one-line `error: ...` reason on stderr), 2 usage
//! error (clap's).

mod args;
mod create;
mod fmt;
mod hash;
mod info;

use std::process::ExitCode;

use clap::Parser;

use args::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Info(a) => info::run(&a),
        Command::Create(a) => create::run(&a),
        Command::Download(_) => Err("download is not implemented yet".to_string()),
        Command::Seed(_) => Err("seed is not implemented yet".to_string()),
        Command::Demo(_) => Err("demo is not implemented yet".to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(reason) => {
            eprintln!("error: {reason}");
            ExitCode::FAILURE
        }
    }
}
