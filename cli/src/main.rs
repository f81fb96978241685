//! `sanstorrent`: the command-line BitTorrent client (see the library's `main`).

fn main() -> std::process::ExitCode {
    sanstorrent_cli::main()
}
