//! Web seed range requests (BEP 19) over kept-alive HTTP/1.1 connections: an idle connection
//! to the same scheme, host and port is reused, and put back after a response that ended by
//! its framing (not by the server closing) without `Connection: close` and with nothing read
//! past its end. A reused connection
//! the server had closed meanwhile is replaced by a fresh one once. Each exchange is bounded
//! by the client's request timeout and the response by the cap core gave.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::sync::{Arc, Mutex};

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use sanstorrent_core::tracker::{HttpResponse, ResponseReader, TrackerUrl};

use crate::http::{HttpClient, HttpClientError, Stream};
use crate::runtime::Runtime;

/// Idle connections kept per host.
const IDLE_PER_HOST: usize = 8;

/// Idle streams by `scheme://host:port`.
type ByHost = HashMap<String, Vec<Box<dyn Stream>>>;

/// Idle kept-alive connections by `scheme://host:port`; cheap to clone (shared).
#[derive(Clone, Default)]
pub(crate) struct IdleConnections {
    idle: Arc<Mutex<ByHost>>,
}

impl fmt::Debug for IdleConnections {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self
            .idle
            .lock()
            .map(|m| m.values().map(Vec::len).sum::<usize>())
            .unwrap_or(0);
        f.debug_struct("IdleConnections").field("idle", &n).finish()
    }
}

impl IdleConnections {
    fn take(&self, key: &str) -> Option<Box<dyn Stream>> {
        self.idle.lock().ok()?.get_mut(key)?.pop()
    }

    fn put(&self, key: String, stream: Box<dyn Stream>) {
        if let Ok(mut idle) = self.idle.lock() {
            let list = idle.entry(key).or_default();
            if list.len() < IDLE_PER_HOST {
                list.push(stream);
            }
        }
    }
}

fn key(url: &TrackerUrl) -> String {
    format!("{:?}://{}:{}", url.scheme(), url.host_str(), url.port())
}

impl<R: Runtime> HttpClient<R> {
    /// Sends a web seed's `request` to `url` on a kept-alive connection (reused if one is
    /// idle) and reads the response, at most `max` bytes, within the request timeout.
    pub async fn fetch_kept_alive(
        &self,
        url: &TrackerUrl,
        request: &[u8],
        max: usize,
    ) -> Result<HttpResponse, HttpClientError> {
        self.timed(self.kept_alive_exchange(url, request, max))
            .await
    }

    async fn kept_alive_exchange(
        &self,
        url: &TrackerUrl,
        request: &[u8],
        max: usize,
    ) -> Result<HttpResponse, HttpClientError> {
        let key = key(url);
        if let Some(stream) = self.idle().take(&key) {
            // The server may have closed it meanwhile: then a fresh connection.
            if let Ok(done) = exchange(stream, request, max).await {
                return Ok(self.keep(key, done));
            }
        }
        let stream = self.open(url).await?;
        let done = exchange(stream, request, max).await?;
        Ok(self.keep(key, done))
    }

    fn keep(
        &self,
        key: String,
        (response, stream): (HttpResponse, Option<Box<dyn Stream>>),
    ) -> HttpResponse {
        let close = response
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case(b"close"));
        if let Some(stream) = stream
            && !close
        {
            self.idle().put(key, stream);
        }
        response
    }
}

/// Writes the request and reads one response; the stream comes back if the response ended by
/// its framing (it can carry another request).
async fn exchange(
    mut stream: Box<dyn Stream>,
    request: &[u8],
    max: usize,
) -> Result<(HttpResponse, Option<Box<dyn Stream>>), HttpClientError> {
    stream
        .write_all(request)
        .await
        .map_err(HttpClientError::Io)?;
    stream.flush().await.map_err(HttpClientError::Io)?;
    let mut reader = ResponseReader::new(max);
    let mut buf = vec![0u8; 64 * 1024];
    let mut any = false;
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => 0,
            Err(e) => return Err(HttpClientError::Io(e)),
        };
        if n == 0 {
            if !any {
                return Err(HttpClientError::Io(io::ErrorKind::UnexpectedEof.into()));
            }
            return Ok((reader.eof().map_err(HttpClientError::Http)?, None));
        }
        any = true;
        if let Some(response) = reader.push(&buf[..n]).map_err(HttpClientError::Http)? {
            // Bytes past the response would be read as the next one: not kept.
            let stream = (!reader.has_surplus()).then_some(stream);
            return Ok((response, stream));
        }
    }
}
