//! `--ca-cert FILE` (download, seed, daemon): PEM files of root certificates trusted for
//! HTTPS trackers and web seeds besides the bundled Mozilla roots.

use std::fs::File;
use std::io::Read;
use std::path::PathBuf;

use sanstorrent_runtime_common::roots_from_pem;

use crate::Exit;

/// The most bytes read from one `--ca-cert` file (a bundle of every public root is ~250 KB).
const MAX_PEM_FILE: u64 = 4 * 1024 * 1024;

/// The DER of every certificate in `files`, in order; a file that cannot be read, is too
/// large or holds no usable certificate fails the command, naming the file.
pub(crate) fn read(files: &[PathBuf]) -> Result<Vec<Vec<u8>>, Exit> {
    let mut roots = Vec::new();
    for path in files {
        let fail = |why: String| Exit::Fail(format!("--ca-cert {}: {why}", path.display()));
        let mut text = Vec::new();
        File::open(path)
            .and_then(|f| f.take(MAX_PEM_FILE + 1).read_to_end(&mut text))
            .map_err(|e| fail(e.to_string()))?;
        if text.len() as u64 > MAX_PEM_FILE {
            return Err(fail(format!("larger than {MAX_PEM_FILE} bytes")));
        }
        roots.extend(roots_from_pem(&text).map_err(|e| fail(e.to_string()))?);
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str, contents: &[u8]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("sanstorrent-certs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    #[test]
    fn unreadable_empty_and_huge_files_fail_naming_the_file() {
        assert!(read(&[]).unwrap().is_empty());
        let missing = PathBuf::from("/nonexistent/ca.pem");
        let Err(Exit::Fail(why)) = read(&[missing]) else {
            panic!("a missing file was accepted")
        };
        assert!(why.starts_with("--ca-cert /nonexistent/ca.pem: "), "{why}");
        let empty = temp("empty.pem", b"");
        let Err(Exit::Fail(why)) = read(&[empty]) else {
            panic!("an empty file was accepted")
        };
        assert!(why.ends_with("no CERTIFICATE section in it"), "{why}");
        let huge = temp("huge.pem", &vec![b'a'; MAX_PEM_FILE as usize + 1]);
        let Err(Exit::Fail(why)) = read(&[huge]) else {
            panic!("a huge file was accepted")
        };
        assert!(why.contains("larger than"), "{why}");
    }
}
