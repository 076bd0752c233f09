//! HTTP/1 serving on a one-thread tokio runtime: a connection cap, header limits,
//! deadlines. The scaffolding both of the crate's servers share (the live view's,
//! `cli/live_server.rs`, and the model's, `lm/server.rs`): hyper's HTTP/1 with each
//! connection a task, not a thread, so idle, stalled or pipelining clients cost memory
//! only and never stop the server answering others; the number of open connections is
//! capped (the rest wait in the listen backlog), headers have a size limit and a read
//! timeout, and every connection has a deadline. What a request gets is the handler's
//! business, including whether its body is ever read.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};

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
    /// The live view's bounds (`outerloop watch`); the model server changes what differs.
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

/// Serve `handler` on `listener` until `stop_after` has passed (forever without one).
/// Runs the runtime on the calling thread, and whatever the handler hands to
/// `tokio::task::spawn_blocking` on at most `blocking_threads` more.
pub fn serve<H, Fut>(
    listener: std::net::TcpListener,
    limits: Limits,
    blocking_threads: usize,
    stop_after: Option<Duration>,
    handler: H,
) -> std::io::Result<()>
where
    H: Fn(Request<Incoming>) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    listener.set_nonblocking(true)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .max_blocking_threads(blocking_threads.max(1))
        .build()?;
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
            let handler = handler.clone();
            tokio::spawn(async move {
                connection(stream, limits, handler).await;
                drop(slot);
            });
        }
    })
}

/// Serve one connection (a TCP stream, or any byte stream: tests and the fuzz target
/// feed an in-memory pipe) until the client closes it, breaks the protocol, exceeds a
/// limit or reaches the deadline.
pub async fn connection<IO, H, Fut>(io: IO, limits: Limits, handler: H)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    H: Fn(Request<Incoming>) -> Fut + Send + 'static,
    Fut: Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let response = handler(request);
        async move { Ok::<_, Infallible>(response.await) }
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

/// Send `request` to `serve` down an in-memory pipe, close it, return everything
/// answered once the server is done (the servers' unit tests).
#[cfg(test)]
pub(crate) fn exchange<S, Fut>(request: &[u8], serve: S) -> String
where
    S: FnOnce(tokio::io::DuplexStream) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let served = tokio::spawn(serve(server));
        // The server may close first (an oversized head): what it answered still counts.
        let _ = client.write_all(request).await;
        let _ = client.shutdown().await;
        let mut reply = Vec::new();
        client.read_to_end(&mut reply).await.unwrap();
        served.await.unwrap();
        String::from_utf8_lossy(&reply).into_owned()
    })
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;

    async fn path_echo(request: Request<Incoming>) -> Response<Full<Bytes>> {
        Response::new(Full::new(Bytes::from(request.uri().path().to_string())))
    }

    #[test]
    fn serves_the_handler_and_returns_at_the_stop_time() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let stop_after = Duration::from_millis(1500);
        let started = std::time::Instant::now();
        let server = std::thread::spawn(move || serve(listener, Limits::default(), 1, Some(stop_after), path_echo));
        let mut client = std::net::TcpStream::connect(address).unwrap();
        client.write_all(b"GET /hello HTTP/1.1\r\nConnection: close\r\n\r\n").unwrap();
        let mut reply = String::new();
        client.read_to_string(&mut reply).unwrap();
        assert!(reply.starts_with("HTTP/1.1 200") && reply.ends_with("/hello"), "{reply}");
        server.join().unwrap().unwrap();
        assert!(started.elapsed() >= stop_after);
    }

    #[test]
    fn a_connection_ends_at_its_deadline() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            // A client that opens a connection and never sends a byte.
            let (_client, server) = tokio::io::duplex(1 << 10);
            let limits = Limits { connection_deadline: Duration::from_millis(100), ..Limits::default() };
            let served = tokio::time::timeout(Duration::from_secs(5), connection(server, limits, path_echo));
            assert!(served.await.is_ok(), "the connection outlived its deadline");
        });
    }

    #[test]
    fn pipelined_requests_are_each_answered_and_half_close_keeps_the_replies() {
        let reply = exchange(b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n", |io| {
            connection(io, Limits::default(), path_echo)
        });
        assert_eq!(reply.matches("HTTP/1.1 200").count(), 2, "{reply}");
        assert!(reply.ends_with("/b"), "{reply}");
    }
}
