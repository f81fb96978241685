//! A call's parameters: the query string, an urlencoded body or a multipart body (parsed by
//! `multer`), and the files a multipart body uploads.

use std::collections::HashMap;

use hyper::body::Bytes;

use super::Failure;

/// Most multipart parts read from one request.
const MAX_PARTS: usize = 1024;

/// Form fields and uploaded files.
#[derive(Debug, Default)]
pub(crate) struct Form {
    fields: HashMap<String, String>,
    /// Uploaded files (`torrents` parts), in order.
    pub(crate) files: Vec<Bytes>,
}

impl Form {
    /// Fields from an urlencoded string (a query string or a body); later keys win.
    pub(crate) fn add_urlencoded(&mut self, text: &[u8]) {
        for (k, v) in form_urlencoded::parse(text) {
            self.fields.insert(k.into_owned(), v.into_owned());
        }
    }

    /// Fields and files from a multipart body with this `boundary`.
    pub(crate) async fn add_multipart(
        &mut self,
        body: Bytes,
        boundary: &str,
    ) -> Result<(), String> {
        let stream = futures_lite::stream::once(Ok::<_, std::convert::Infallible>(body));
        let mut multipart = multer::Multipart::new(stream, boundary);
        let mut parts = 0;
        while let Some(field) = multipart.next_field().await.map_err(|e| e.to_string())? {
            parts += 1;
            if parts > MAX_PARTS {
                return Err("too many parts".into());
            }
            let name = field.name().unwrap_or("").to_owned();
            let is_file = field.file_name().is_some();
            let bytes = field.bytes().await.map_err(|e| e.to_string())?;
            if is_file || name == "torrents" {
                self.files.push(bytes);
            } else {
                self.fields
                    .insert(name, String::from_utf8_lossy(&bytes).into_owned());
            }
        }
        Ok(())
    }

    /// Sets a field (tests).
    #[cfg(test)]
    pub(crate) fn with(mut self, key: &str, value: &str) -> Self {
        self.fields.insert(key.into(), value.into());
        self
    }

    /// A field.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.fields.get(key).map(String::as_str)
    }

    /// A field that must be there (400 otherwise).
    pub(super) fn required(&self, key: &str) -> Result<&str, Failure> {
        self.get(key)
            .ok_or_else(|| Failure::BadParams(format!("Missing parameter: {key}")))
    }

    /// A `true`/`false` field.
    pub(super) fn bool(&self, key: &str) -> Result<Option<bool>, Failure> {
        match self.get(key) {
            None | Some("") => Ok(None),
            Some(v) if v.eq_ignore_ascii_case("true") || v == "1" => Ok(Some(true)),
            Some(v) if v.eq_ignore_ascii_case("false") || v == "0" => Ok(Some(false)),
            Some(v) => Err(Failure::BadParams(format!("{key}: not a boolean: {v}"))),
        }
    }

    /// An integer field.
    pub(super) fn i64(&self, key: &str) -> Result<Option<i64>, Failure> {
        self.parsed(key, "an integer")
    }

    /// A number field.
    pub(super) fn f64(&self, key: &str) -> Result<Option<f64>, Failure> {
        self.parsed(key, "a number")
    }

    /// A field parsed as `T` (absent or empty: `None`); `what` names `T` in the error.
    fn parsed<T: std::str::FromStr>(&self, key: &str, what: &str) -> Result<Option<T>, Failure> {
        match self.get(key) {
            None | Some("") => Ok(None),
            Some(v) => v
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| Failure::BadParams(format!("{key}: not {what}: {v}"))),
        }
    }

    /// A comma-separated list (tags, categories), trimmed, without empty items.
    pub(super) fn list(&self, key: &str, sep: char) -> Vec<String> {
        self.get(key)
            .unwrap_or("")
            .split(sep)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }
}
