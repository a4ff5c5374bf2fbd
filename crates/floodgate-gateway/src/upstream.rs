//! The model API behind the gateway: its address, and forwarding one request with its
//! body streamed both ways over a keep-alive connection from the [`Pool`].

use crate::body::{Cutoff, UpstreamBody};
use crate::client::{Pool, ResponseBody, Rewrite, SendError};
use crate::error::GatewayError;
use axum::http::uri::{Authority, PathAndQuery, Scheme};
use axum::http::{header, request, HeaderMap, HeaderName, HeaderValue, Request, Response, Uri};
use bytes::Bytes;
use std::time::Duration;

/// The pool every request goes through.
pub(crate) type UpstreamClient = Pool;

/// A pool keeping connections to the upstream open for reuse.
pub(crate) fn client() -> UpstreamClient {
    Pool::default()
}

/// Where requests go: the host and path prefix of `server.upstream`.
#[derive(Debug, Clone)]
pub(crate) struct Upstream {
    /// Host and port (the client speaks plain HTTP to the model API beside it).
    authority: Authority,
    /// The `Host` header line of every request, made once.
    host: Bytes,
    /// A path the request's path is appended to; empty for none.
    prefix: String,
}

/// Why `server.upstream` cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("upstream '{0}' must be an absolute http:// URL")]
pub struct BadUpstream(pub String);

impl Upstream {
    /// Parses `http://host:port[/prefix]`.
    pub(crate) fn parse(url: &str) -> Result<Self, BadUpstream> {
        let bad = || BadUpstream(url.to_owned());
        let uri: Uri = url.parse().map_err(|_| bad())?;
        let scheme = uri.scheme().cloned().ok_or_else(bad)?;
        if scheme != Scheme::HTTP {
            return Err(bad());
        }
        let authority = uri.authority().cloned().ok_or_else(bad)?;
        HeaderValue::from_str(authority.as_str()).map_err(|_| bad())?;
        let host = Bytes::from(format!("host: {authority}\r\n"));
        let prefix = uri.path().trim_end_matches('/').to_owned();
        Ok(Self {
            authority,
            host,
            prefix,
        })
    }

    /// The origin-form target (path and query) upstream of a request for
    /// `path_and_query`.
    fn uri(&self, path_and_query: Option<&PathAndQuery>) -> Result<Uri, GatewayError> {
        let pq = match (path_and_query, self.prefix.is_empty()) {
            // Shares the request's bytes: no copy on the common path.
            (Some(pq), true) => pq.clone(),
            (None, true) => PathAndQuery::from_static("/"),
            (pq, false) => {
                let pq = pq.map_or("/", PathAndQuery::as_str);
                format!("{}{pq}", self.prefix)
                    .parse()
                    .map_err(|e| GatewayError::UpstreamUnavailable(format!("bad URI: {e}")))?
            }
        };
        Ok(Uri::from(pq))
    }
}

/// Headers that describe one connection, not the request, and so are not forwarded.
static HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// Whether `name` is one of [`HOP_BY_HOP`]; a match on the text rejects most names by
/// their length alone.
fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
    )
}

/// Removes hop-by-hop headers, including any the `Connection` header names.
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Most messages carry none: one pass over their few names is cheaper than a lookup
    // of each of the eight.
    if !headers.keys().any(is_hop_by_hop) {
        return;
    }
    if headers.contains_key(header::CONNECTION) {
        let named: Vec<HeaderName> = headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
            .collect();
        for name in named {
            headers.remove(name);
        }
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
}

/// Sends the request upstream and waits at most `timeout` for the response head. Its
/// headers go as they came but for the hop-by-hop ones, `Host` (the upstream's),
/// `Expect` (the gateway's own server answered it) and those `keeps` leaves out; the
/// `identity` lines are added. The answer's header map has `room` for the headers the
/// gateway adds to it.
#[allow(clippy::too_many_arguments)] // one call site, every argument its own
pub(crate) async fn forward(
    client: &UpstreamClient,
    upstream: &Upstream,
    timeout: Duration,
    mut parts: request::Parts,
    body: UpstreamBody,
    cutoff: Option<Cutoff>,
    keeps: &(dyn Fn(&HeaderName) -> bool + Sync),
    identity: &[u8],
    room: usize,
) -> Result<Response<ResponseBody>, GatewayError> {
    parts.uri = upstream.uri(parts.uri.path_and_query())?;
    strip_hop_by_hop(&mut parts.headers);
    let keeps = |name: &HeaderName| *name != header::HOST && *name != header::EXPECT && keeps(name);
    let rewrite = Rewrite {
        keeps: &keeps,
        adds: [&upstream.host, identity],
        room,
    };
    let request = Request::from_parts(parts, body);
    let sent = client.send(&upstream.authority, request, &rewrite);
    let result = tokio::time::timeout(timeout, sent).await;
    let mut response = match result {
        Err(_) => {
            let ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
            return Err(GatewayError::UpstreamTimeout(ms));
        }
        Ok(Err(e)) => {
            if let Some(cut) = cutoff.as_ref().and_then(Cutoff::cut) {
                tracing::debug!(error = ?e, "request body stopped at a limit");
                return Err(cut.error());
            }
            let what = match e {
                SendError::Connect(_) => "connection failed",
                SendError::Request(_) => "the connection broke before a response",
            };
            tracing::warn!(error = ?e, "upstream request failed");
            return Err(GatewayError::UpstreamUnavailable(what.to_owned()));
        }
        Ok(Ok(response)) => response,
    };
    strip_hop_by_hop(response.headers_mut());
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn upstream_urls() {
        let up = Upstream::parse("http://127.0.0.1:9000").unwrap();
        let pq = PathAndQuery::from_static("/api/v1/txt2img?x=1");
        assert_eq!(
            up.uri(Some(&pq)).unwrap().to_string(),
            "/api/v1/txt2img?x=1"
        );
        assert_eq!(&up.host[..], b"host: 127.0.0.1:9000\r\n");
        let prefixed = Upstream::parse("http://h:1/base/").unwrap();
        assert_eq!(
            prefixed.uri(Some(&pq)).unwrap().to_string(),
            "/base/api/v1/txt2img?x=1"
        );
        assert_eq!(prefixed.uri(None).unwrap().to_string(), "/base/");
        assert!(Upstream::parse("https://h").is_err());
        assert!(Upstream::parse("h:1").is_err());
        assert!(Upstream::parse("/only/a/path").is_err());
    }

    #[test]
    fn the_quick_check_knows_every_hop_by_hop_header() {
        for name in &HOP_BY_HOP {
            assert!(is_hop_by_hop(name), "{name}");
        }
        assert!(!is_hop_by_hop(&header::CONTENT_TYPE));
        assert!(!is_hop_by_hop(&HeaderName::from_static("x-connection")));
    }

    #[test]
    fn hop_by_hop_headers_stay_behind() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("close, x-private"),
        );
        h.insert("x-private", HeaderValue::from_static("1"));
        h.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key(header::CONTENT_TYPE));
    }
}
