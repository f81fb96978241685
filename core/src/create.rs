//! Building a .torrent from files and their piece hashes.
