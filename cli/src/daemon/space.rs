//! Free and total space of the file system holding a directory (`statvfs`).

use std::io;
use std::path::Path;

use super::backend::Space;

/// The space where `path` lies (the nearest existing ancestor, for a directory not made yet).
pub(crate) fn of(path: &Path) -> io::Result<Space> {
    let existing = path
        .ancestors()
        .find(|p| p.exists())
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no existing ancestor"))?;
    let stat = rustix::fs::statvfs(existing)?;
    let unit = stat.f_frsize.max(1);
    Ok(Space {
        free: stat.f_bavail.saturating_mul(unit),
        total: stat.f_blocks.saturating_mul(unit),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_temp_dir_has_space() {
        let space = super::of(&std::env::temp_dir().join("not/made/yet")).unwrap();
        assert!(space.total >= space.free && space.total > 0);
    }
}
