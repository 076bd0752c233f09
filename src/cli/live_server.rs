//! The HTTP server behind `outerloop watch`: hyper's HTTP/1 on a one-thread tokio
//! runtime. Each connection is a task, not a thread, so idle, stalled or pipelining
//! clients cost memory only and never stop the server answering others; the number of
//! open connections is capped (the rest wait in the listen backlog), headers have a size
//! limit and a read timeout, every connection has a deadline, and no request body is
//! ever read (a declared `Content-Length` allocates nothing). Only GET and HEAD are
//! answered; any other method gets 405 with `Allow: GET, HEAD`.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{ALLOW, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};

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

/// The bounds every client is held to.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections served at once; further clients wait in the listen backlog.
    pub max_connections: usize,
    /// A connection is closed this long after it was accepted, whatever it is doing (a
    /// browser simply reconnects).
    pub connection_deadline: Duration,
    /// The longest a client may take to send a request's headers.
    pub header_timeout: Duration,
    /// The largest request head (request line and headers), in bytes.
    pub max_header_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            // A task and a small buffer each: enough that idle clients do not lock others
            // out, few enough to stay under the usual limit of 1,024 open files.
            max_connections: 512,
            connection_deadline: Duration::from_secs(30),
            header_timeout: Duration::from_secs(10),
            max_header_bytes: 16 << 10,
        }
    }
}

/// Serve `site` on `listener` until `stop_after` has passed (forever without one).
/// Runs on the calling thread only.
pub fn serve(
    listener: std::net::TcpListener,
    site: Arc<dyn Site>,
    limits: Limits,
    stop_after: Option<Duration>,
) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_io().enable_time().build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
        let end = stop_after.map(|d| tokio::time::Instant::now() + d);
        loop {
            let next = async {
                let slot = slots.clone().acquire_owned().await.expect("the semaphore is never closed");
                (slot, listener.accept().await)
            };
            let (slot, accepted) = match end {
                Some(end) => match tokio::time::timeout_at(end, next).await {
                    Ok(got) => got,
                    Err(_) => return Ok(()),
                },
                None => next.await,
            };
            let stream = match accepted {
                Ok((stream, _)) => stream,
                // A client gone before it was accepted, or no file descriptor left: not the
                // server's end. Pause so a persistent error does not spin the thread.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let site = site.clone();
            tokio::spawn(async move {
                connection(stream, site, limits).await;
                drop(slot);
            });
        }
    })
}

/// Serve one connection (a TCP stream, or any byte stream: the fuzz target feeds an
/// in-memory pipe) until the client closes it, breaks the protocol, exceeds a limit or
/// reaches the deadline.
pub async fn connection<IO>(io: IO, site: Arc<dyn Site>, limits: Limits)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let response = respond(site.as_ref(), request.method(), request.uri().path());
        async move { Ok::<_, Infallible>(response) }
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    // A client that closes its sending side after its requests still gets the replies.
    http.half_close(true)
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(limits.max_header_bytes.max(8192));
    let served = http.serve_connection(TokioIo::new(io), service);
    // Protocol errors, resets and the deadline all end this connection only.
    let _ = tokio::time::timeout(limits.connection_deadline, served).await;
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
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

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

    /// Send `request` down an in-memory pipe, close it, return everything answered.
    fn exchange(request: &[u8]) -> String {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let (mut client, server) = tokio::io::duplex(1 << 16);
            let served = tokio::spawn(connection(server, Arc::new(Echo), Limits::default()));
            // The server may close first (an oversized head): what it answered still counts.
            let _ = client.write_all(request).await;
            let _ = client.shutdown().await;
            let mut reply = Vec::new();
            client.read_to_end(&mut reply).await.unwrap();
            served.await.unwrap();
            String::from_utf8_lossy(&reply).into_owned()
        })
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
