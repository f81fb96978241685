//! .torrent files: parsing, validation, safe file paths.

mod path;

pub use path::{PathError, RelativePath};
