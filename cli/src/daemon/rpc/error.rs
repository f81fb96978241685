//! Errors a method answers with: Transmission's codes (JSON-RPC's standard ones below zero,
//! its own above), a fixed message per code, and a detail saying what exactly was wrong.

use crate::daemon::backend::BackendError;

/// A method's failure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MethodError {
    /// Transmission's code.
    pub(crate) code: i64,
    /// What exactly went wrong, for people.
    pub(crate) detail: Option<String>,
}

/// The body is not JSON.
pub(crate) const PARSE_ERROR: i64 = -32700;
/// The JSON is not a request.
pub(crate) const INVALID_REQUEST: i64 = -32600;
/// No such method.
pub(crate) const METHOD_NOT_FOUND: i64 = -32601;
/// A parameter is missing or of the wrong type.
pub(crate) const INVALID_PARAMS: i64 = -32602;
/// Tracker list edits that cannot be applied.
pub(crate) const INVALID_TRACKER_LIST: i64 = 2;
/// A path that must be absolute is not.
pub(crate) const PATH_NOT_ABSOLUTE: i64 = 3;
/// The file system or the client failed.
pub(crate) const SYSTEM_ERROR: i64 = 5;
/// A file index past the torrent's files.
pub(crate) const FILE_IDX_OOR: i64 = 6;
/// Fetching a URL failed.
pub(crate) const HTTP_ERROR: i64 = 8;
/// The .torrent cannot be read.
pub(crate) const CORRUPT_TORRENT: i64 = 9;
/// No blocklist could be read.
pub(crate) const INVALID_BLOCKLIST_DATA: i64 = 10;

impl MethodError {
    /// An error with `code` and a detail.
    pub(crate) fn new(code: i64, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: Some(detail.into()),
        }
    }

    /// The body is not JSON.
    pub(crate) fn parse(why: &str) -> Self {
        Self::new(PARSE_ERROR, why)
    }

    /// The JSON is not a request.
    pub(crate) fn invalid_request(why: &str) -> Self {
        Self::new(INVALID_REQUEST, why)
    }

    /// A parameter is missing or wrong.
    pub(crate) fn invalid_params(why: impl Into<String>) -> Self {
        Self::new(INVALID_PARAMS, why)
    }

    /// No such method.
    pub(crate) fn method_not_found(method: &str) -> Self {
        Self::new(METHOD_NOT_FOUND, format!("no method `{method}`"))
    }

    /// The fixed message of the code (JSON-RPC's `message`).
    pub(crate) fn message(&self) -> &'static str {
        match self.code {
            PARSE_ERROR => "Parse error",
            INVALID_REQUEST => "Invalid Request",
            METHOD_NOT_FOUND => "Method not found",
            INVALID_PARAMS => "Invalid params",
            1 => "error setting announce list",
            INVALID_TRACKER_LIST => "Invalid tracker list",
            PATH_NOT_ABSOLUTE => "path is not absolute",
            4 => "unrecognized info",
            SYSTEM_ERROR => "system error",
            FILE_IDX_OOR => "file index out of range",
            7 => "piece index out of range",
            HTTP_ERROR => "HTTP error from backend service",
            CORRUPT_TORRENT => "invalid or corrupt torrent file",
            INVALID_BLOCKLIST_DATA => "couldn't parse any valid blocklist rules",
            _ => "Internal error",
        }
    }

    /// The legacy form's `result` string: the message, and the detail when there is one.
    pub(crate) fn legacy_text(&self) -> String {
        match (self.code, &self.detail) {
            (METHOD_NOT_FOUND, _) => "method name not recognized".into(),
            (_, Some(detail)) => format!("{}: {detail}", self.message()),
            (_, None) => self.message().into(),
        }
    }
}

impl From<BackendError> for MethodError {
    fn from(error: BackendError) -> Self {
        let code = match &error {
            BackendError::Corrupt(_) => CORRUPT_TORRENT,
            BackendError::FileIndex(_) => FILE_IDX_OOR,
            BackendError::Http(_) => HTTP_ERROR,
            BackendError::Invalid(_) | BackendError::Name(_) => INVALID_PARAMS,
            BackendError::Unsupported(_) | BackendError::System(_) => SYSTEM_ERROR,
        };
        Self::new(code, error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::backend::NameError;

    #[test]
    fn a_refused_name_is_invalid_params_saying_why() {
        let e = MethodError::from(BackendError::Name(NameError::TooLong(2048)));
        assert_eq!(e.code, INVALID_PARAMS);
        assert_eq!(
            e.legacy_text(),
            "Invalid params: invalid name: the name is 2048 bytes long, more than 1024"
        );
    }
}
