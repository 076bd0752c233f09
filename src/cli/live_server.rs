//! The HTTP server behind `outerloop watch`: hyper's HTTP/1 on a one-thread tokio
//! runtime through [`crate::http_server`]. Each connection is a task, not a thread, so
//! idle, stalled or pipelining clients cost memory only and never stop the server
//! answering others; the number of open connections is capped (the rest wait in the
//! listen backlog), headers have a size limit and a read timeout, every connection has a
//! deadline ([`Limits::default`] are the live view's), and no request body is ever read
//! (a declared `Content-Length` allocates nothing). Only GET and HEAD are
//! answered; any other method gets 405 with `Allow: GET, HEAD`.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{ALLOW, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::http_server;
pub use crate::http_server::Limits;

/// What one path of the site answers.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The HTTP status (200, 404).
    pub status: StatusCode,
    /// The `Content-Type` header.
    pub content_type: &'static str,
    /// The body (not sent for HEAD).
    pub body: Bytes,
}

impl Reply {
    /// A 404 for a path the site does not have.
    pub fn not_found() -> Self {
        Reply { status: StatusCode::NOT_FOUND, content_type: "text/plain", body: Bytes::from_static(b"not found") }
    }
}

/// The content a server serves: a reply for each path.
pub trait Site: Send + Sync + 'static {
    /// The reply to a GET or HEAD of `path` (the request target without its query).
    fn reply(&self, path: &str) -> Reply;
}

/// Serve `site` on `listener` until `stop_after` has passed (forever without one).
/// Runs on the calling thread only.
pub fn serve(
    listener: std::net::TcpListener,
    site: Arc<dyn Site>,
    limits: Limits,
    stop_after: Option<Duration>,
) -> std::io::Result<()> {
    // The live view never hands work to the blocking pool.
    http_server::serve(listener, limits, 1, stop_after, handler(site))
}

/// Serve one connection (a TCP stream, or any byte stream: the fuzz target feeds an
/// in-memory pipe) until the client closes it, breaks the protocol, exceeds a limit or
/// reaches the deadline.
pub async fn connection<IO>(io: IO, site: Arc<dyn Site>, limits: Limits)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    http_server::connection(io, limits, handler(site)).await;
}

/// Each request's response, answered at once (no request body is ever read).
fn handler(
    site: Arc<dyn Site>,
) -> impl Fn(Request<Incoming>) -> std::future::Ready<Response<Full<Bytes>>> + Clone + Send + 'static {
    move |request| std::future::ready(respond(site.as_ref(), request.method(), request.uri().path()))
}

/// The response to `method path`.
fn respond(site: &dyn Site, method: &Method, path: &str) -> Response<Full<Bytes>> {
    let mut response = if matches!(*method, Method::GET | Method::HEAD) {
        let reply = site.reply(path);
        let mut response = Response::new(Full::new(reply.body));
        *response.status_mut() = reply.status;
        response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(reply.content_type));
        response
    } else {
        // The live view only reads: any other method is refused, saying what is allowed.
        let mut response = Response::new(Full::new(Bytes::from_static(b"method not allowed")));
        *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
        response.headers_mut().insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        response
    };
    // Nothing here is a secret, but nothing should be cached either: the page is live.
    response.headers_mut().insert(hyper::header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Echo;

    impl Site for Echo {
        fn reply(&self, path: &str) -> Reply {
            if path == "/" {
                Reply { status: StatusCode::OK, content_type: "text/plain", body: Bytes::from_static(b"home") }
            } else {
                Reply::not_found()
            }
        }
    }

    /// Everything the `Echo` site answers to `request` down an in-memory pipe.
    fn exchange(request: &[u8]) -> String {
        http_server::exchange(request, |io| connection(io, Arc::new(Echo), Limits::default()))
    }

    #[test]
    fn get_head_and_other_methods() {
        let get = exchange(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(get.starts_with("HTTP/1.1 200") && get.ends_with("home"), "{get}");
        let head = exchange(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(head.starts_with("HTTP/1.1 200") && !head.ends_with("home"), "{head}");
        assert!(exchange(b"GET /x HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404"));
        let post = exchange(b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc");
        assert!(post.starts_with("HTTP/1.1 405") && post.contains("allow: GET, HEAD"), "{post}");
    }

    #[test]
    fn a_huge_declared_body_allocates_nothing_and_pipelined_requests_are_each_answered() {
        let huge = exchange(b"GET / HTTP/1.1\r\nContent-Length: 999999999999999999\r\n\r\n");
        assert!(huge.starts_with("HTTP/1.1 200"), "{huge}");
        let two = exchange(b"GET / HTTP/1.1\r\n\r\nGET /x HTTP/1.1\r\n\r\n");
        assert_eq!(two.matches("HTTP/1.1 ").count(), 2, "{two}");
    }

    #[test]
    fn an_oversized_head_is_refused() {
        let mut request = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..2000 {
            request.extend(format!("X-Padding-{i}: {}\r\n", "a".repeat(20)).bytes());
        }
        request.extend(b"\r\n");
        let reply = exchange(&request);
        assert!(!reply.starts_with("HTTP/1.1 200"), "{reply}");
    }
}
