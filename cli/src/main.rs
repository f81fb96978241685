//! `sanstorrent`: the command-line BitTorrent client.

use clap::Parser;

/// A Sans-IO BitTorrent client.
#[derive(Parser, Debug)]
#[command(name = "sanstorrent", version, about)]
struct Cli {}

fn main() {
    let _cli = Cli::parse();
}
