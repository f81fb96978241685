//! A stream's `Content-Type`, from its file name's extension: the media players read and a
//! few common companions. Nothing a browser would run (HTML, SVG, JavaScript) is given its own
//! type: torrent content is served as data, never as a page of the daemon's origin.

/// The type of a file named `name` (`application/octet-stream` when unknown).
pub(crate) fn content_type(name: &str) -> &'static str {
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "mp4" | "m4v" => "video/mp4",
        "mkv" => "video/x-matroska",
        "webm" => "video/webm",
        "avi" => "video/x-msvideo",
        "mov" => "video/quicktime",
        "ts" | "m2ts" => "video/mp2t",
        "mpg" | "mpeg" => "video/mpeg",
        "ogv" => "video/ogg",
        "mp3" => "audio/mpeg",
        "m4a" => "audio/mp4",
        "aac" => "audio/aac",
        "flac" => "audio/flac",
        "ogg" | "oga" | "opus" => "audio/ogg",
        "wav" => "audio/wav",
        "srt" => "application/x-subrip",
        "vtt" => "text/vtt; charset=utf-8",
        "txt" | "nfo" => "text/plain; charset=utf-8",
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "pdf" => "application/pdf",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_by_extension() {
        assert_eq!(content_type("Movie.MKV"), "video/x-matroska");
        assert_eq!(content_type("dir.v1/clip.mp4"), "video/mp4");
        assert_eq!(content_type("song.flac"), "audio/flac");
        assert_eq!(content_type("README"), "application/octet-stream");
        assert_eq!(content_type("page.html"), "application/octet-stream");
        assert_eq!(content_type("image.svg"), "application/octet-stream");
        assert_eq!(content_type(".mp4"), "video/mp4");
    }
}
