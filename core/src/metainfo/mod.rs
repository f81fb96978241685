//! .torrent files: parsing, validation, safe file paths.
