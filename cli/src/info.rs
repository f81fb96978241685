//! `sanstorrent info`: what a .torrent file or a magnet link describes.

use std::fmt::Write as _;
use std::fs::File;
use std::io::Read;
use std::path::Path;

use sanstorrent_core::magnet::MagnetLink;
use sanstorrent_core::metainfo::{MetaVersion, Metainfo};

use crate::args::InfoArgs;
use crate::fmt::{size, unix_time};

/// The largest .torrent read (real ones are well under 10 MiB even with 100 000 pieces).
pub(crate) const MAX_TORRENT_FILE: u64 = 64 * 1024 * 1024;

/// Prints the description; the error is a one-line reason.
pub(crate) fn run(args: &InfoArgs) -> Result<(), String> {
    let text = if is_magnet(&args.source) {
        let link = MagnetLink::parse(&args.source).map_err(|e| format!("magnet link: {e}"))?;
        describe_magnet(&link)
    } else {
        let path = Path::new(&args.source);
        let bytes = read_torrent(path)?;
        let m = Metainfo::from_bytes(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        describe(&m)
    };
    crate::fmt::emit(&text);
    Ok(())
}

/// Whether a command-line source is a magnet link rather than a file path.
pub(crate) fn is_magnet(source: &str) -> bool {
    source
        .get(..7)
        .is_some_and(|p| p.eq_ignore_ascii_case("magnet:"))
}

/// Reads a .torrent file, refusing anything larger than [`MAX_TORRENT_FILE`].
pub(crate) fn read_torrent(path: &Path) -> Result<Vec<u8>, String> {
    let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(MAX_TORRENT_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if bytes.len() as u64 > MAX_TORRENT_FILE {
        return Err(format!(
            "{}: larger than {} bytes: not a .torrent",
            path.display(),
            MAX_TORRENT_FILE
        ));
    }
    Ok(bytes)
}

/// The `info` text of a parsed torrent.
pub(crate) fn describe(m: &Metainfo) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "name:          {}", m.name());
    let _ = writeln!(o, "info-hash:     {}", m.info_hash().to_hex());
    if let Some(v2) = m.info_hashes().v2 {
        let _ = writeln!(o, "info-hash v2:  {}", v2.to_hex());
    }
    let _ = writeln!(
        o,
        "piece size:    {} ({})",
        m.piece_length(),
        size(u64::from(m.piece_length()))
    );
    let _ = writeln!(o, "piece count:   {}", m.piece_count());
    let _ = writeln!(
        o,
        "total size:    {} ({})",
        m.total_length(),
        size(m.total_length())
    );
    let _ = writeln!(
        o,
        "private:       {}",
        if m.is_private() { "yes" } else { "no" }
    );
    let version = match m.version() {
        MetaVersion::Hybrid => "hybrid v1+v2 (downloaded as v1)",
        MetaVersion::V2 => "v2 only",
        _ => "v1",
    };
    let _ = writeln!(o, "version:       {version}");
    if let Some(c) = m.comment() {
        let _ = writeln!(o, "comment:       {}", one_line(c));
    }
    if let Some(c) = m.created_by() {
        let _ = writeln!(o, "created by:    {}", one_line(c));
    }
    if let Some(d) = m.creation_date() {
        let _ = writeln!(o, "creation date: {}", unix_time(d));
    }
    let _ = writeln!(
        o,
        "trackers:      {}",
        m.trackers().iter().flatten().count()
    );
    for (tier, urls) in m.trackers().iter().enumerate() {
        for url in urls {
            let _ = writeln!(o, "  tier {tier}: {}", one_line(url));
        }
    }
    if !m.url_list().is_empty() {
        let _ = writeln!(o, "web seeds:     {}", m.url_list().len());
        for url in m.url_list() {
            let _ = writeln!(o, "  {}", one_line(url));
        }
    }
    if !m.http_seeds().is_empty() {
        let _ = writeln!(o, "http seeds:    {}", m.http_seeds().len());
        for url in m.http_seeds() {
            let _ = writeln!(o, "  {}", one_line(url));
        }
    }
    let _ = writeln!(o, "files:         {}", m.files().len());
    // Numbered as `download --only` and Transmission number them: padding files left out.
    let mut index = 0usize;
    for f in m.files() {
        let number = if f.padding {
            String::new()
        } else {
            index += 1;
            (index - 1).to_string()
        };
        let note = match (&f.symlink, f.padding) {
            (Some(target), _) => format!("  -> {}", one_line(&target.to_string())),
            (None, true) => "  (padding)".to_owned(),
            (None, false) => String::new(),
        };
        let _ = writeln!(
            o,
            "  {number:>5}  {:>14}  {}{note}",
            f.length,
            one_line(&f.path.to_string())
        );
    }
    if !m.warnings().is_empty() {
        let _ = writeln!(o, "warnings:      {}", m.warnings().len());
        for w in m.warnings() {
            let _ = writeln!(o, "  {}", one_line(&w.to_string()));
        }
    }
    o
}

fn describe_magnet(link: &MagnetLink) -> String {
    let mut o = String::new();
    let name = link
        .display_name
        .as_deref()
        .map_or("(unknown)".into(), one_line);
    let _ = writeln!(o, "name:          {name}");
    if link.has_v1 {
        let _ = writeln!(o, "info-hash:     {}", link.info_hash.to_hex());
    } else {
        let _ = writeln!(
            o,
            "info-hash:     {} (v2 truncated)",
            link.info_hash.to_hex()
        );
    }
    if let Some(v2) = &link.info_hash_v2 {
        let _ = writeln!(o, "info-hash v2:  {}", sanstorrent_core::id::to_hex(v2));
    }
    let _ = writeln!(
        o,
        "piece size:    unknown until the metadata is fetched from peers"
    );
    let _ = writeln!(o, "piece count:   unknown");
    let _ = writeln!(o, "total size:    unknown");
    let _ = writeln!(o, "private:       unknown");
    let _ = writeln!(o, "trackers:      {}", link.trackers.len());
    for url in &link.trackers {
        let _ = writeln!(o, "  {}", one_line(url));
    }
    if !link.peers.is_empty() {
        let _ = writeln!(o, "peers:         {}", link.peers.len());
        for p in &link.peers {
            let _ = writeln!(o, "  {p}");
        }
    }
    if !link.web_seeds.is_empty() {
        let _ = writeln!(o, "web seeds:     {}", link.web_seeds.len());
        for url in &link.web_seeds {
            let _ = writeln!(o, "  {}", one_line(url));
        }
    }
    if !link.select_only.is_empty() {
        let parts: Vec<String> = link
            .select_only
            .iter()
            .map(|r| format!("{}-{}", r.start(), r.end()))
            .collect();
        let _ = writeln!(o, "select only:   {}", parts.join(","));
    }
    o
}

/// Text from a torrent with control characters escaped, so it cannot forge output lines or
/// send terminal escapes.
fn one_line(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magnets_are_told_apart_from_paths() {
        assert!(is_magnet("magnet:?xt=urn:btih:x"));
        assert!(is_magnet("MAGNET:?xt"));
        assert!(!is_magnet("magnet.torrent"));
        assert!(!is_magnet("m"));
    }

    #[test]
    fn hostile_names_are_shown_as_they_will_be_written() {
        let bytes = [
            &b"d4:infod5:filesld6:lengthi5e4:pathl2:..3:etc6:passwdee"[..],
            b"d4:attr1:l4:pathl3:lnke12:symlink pathl3:etc6:passwdee",
            b"d6:lengthi3e4:pathl6:/abs\\x1:.1:yeee",
            b"4:name1:t12:piece lengthi16384e6:pieces20:",
            &[0; 20],
            b"ee",
        ]
        .concat();
        let text = describe(&Metainfo::from_bytes(&bytes).unwrap());
        assert!(text.contains("  5  t/etc/passwd\n"), "{text}");
        assert!(text.contains("  0  t/lnk  -> t/etc/passwd\n"), "{text}");
        assert!(text.contains("  3  t/absx/y\n"), "{text}");
        assert!(text.contains("component \"..\" dropped"), "{text}");
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(one_line("a\nb\u{1b}[31m"), "a\\nb\\u{1b}[31m");
    }
}
