//! Accepting connections, within bounds. At most `max_connections` are served at once: past
//! that, up to a quarter as many more are taken only to answer their request 503 with
//! `Retry-After` (in its contract's format; probes are still answered) and close, and beyond
//! those new clients wait in the kernel's accept queue until one closes. A flood of clients thus
//! gets prompt refusals and costs a bounded amount of memory (each open connection holds its
//! buffers and task). Each request head must arrive within `header_read_timeout_ms`, which is
//! also how long an idle keep-alive connection is kept, and its body within
//! `body_read_timeout_ms` of being admitted: a client that trickles its headers or body, or
//! opens connections and sends nothing (slowloris), holds neither a connection nor an admission
//! slot for ever.

use std::future::{Future, poll_fn};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use http_body::{Frame, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use serde::{Deserialize, Serialize};
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::{Layer, Service};

/// `connections.*` in the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConnectionSettings {
    /// Connections served at once. Past it, a quarter as many more are answered 503 (with
    /// `Retry-After`) and closed; further clients wait to be accepted. An idle keep-alive
    /// connection holds about 20 KiB.
    pub max_connections: usize,
    /// The longest a request head (request line and headers) may take to arrive, counted
    /// from when the connection is ready for it: also the idle keep-alive timeout.
    pub header_read_timeout_ms: u64,
    /// The longest a request body may take to arrive whole, counted from when the request is
    /// admitted (bodies are at most 64 KiB); then 408 in the contract's error format.
    pub body_read_timeout_ms: u64,
}

impl Default for ConnectionSettings {
    fn default() -> Self {
        Self { max_connections: 4096, header_read_timeout_ms: 30_000, body_read_timeout_ms: 10_000 }
    }
}

impl ConnectionSettings {
    pub fn problems(&self) -> Vec<String> {
        if self.max_connections == 0 || self.header_read_timeout_ms == 0 || self.body_read_timeout_ms == 0 {
            vec![
                "connections.max_connections, connections.header_read_timeout_ms, connections.body_read_timeout_ms: must be at least 1"
                    .to_owned(),
            ]
        } else {
            Vec::new()
        }
    }
}

/// A listener whose accept queue holds up to `backlog` connections (the kernel caps it at
/// `net.core.somaxconn`). The standard library's 128 overflowed in a flood: past it the kernel
/// drops new clients' SYNs, which they resend only after 1, 3 and 7 s, so their requests timed
/// out instead of being answered (served, or refused with 503) when a slot freed.
pub(crate) fn listen(addr: SocketAddr, backlog: usize) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(u32::try_from(backlog).unwrap_or(u32::MAX))
}

/// Serves `app` on `listener` until `shutdown` resolves; then stops accepting and waits for
/// open connections to finish their requests (idle ones close at once).
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    settings: &ConnectionSettings,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(settings.max_connections));
    let refusals = Arc::new(Semaphore::new(settings.max_connections / 4 + 1));
    let head_timeout = Duration::from_millis(settings.header_read_timeout_ms);
    let mut builder = Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(head_timeout);
    let mut refusing = Builder::new(TokioExecutor::new()).http1_only();
    refusing.http1().timer(TokioTimer::new()).header_read_timeout(head_timeout).keep_alive(false);
    let (builder, refusing) = (Arc::new(builder), Arc::new(refusing));
    let graceful = GracefulShutdown::new();
    let mut make_service = app.into_make_service_with_connect_info::<SocketAddr>();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (mut slot, mut over_limit) = tokio::select! {
            slot = next_slot(&slots, &refusals) => slot,
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // A serving slot may have freed while this one waited to accept.
        if over_limit && let Ok(serving) = slots.clone().try_acquire_owned() {
            (slot, over_limit) = (serving, false);
        }
        // Answers are written whole; waiting to coalesce them only adds latency.
        let _ = stream.set_nodelay(true);
        let Ok(()) = poll_fn(|cx| Service::<SocketAddr>::poll_ready(&mut make_service, cx)).await;
        let service = match make_service.call(peer).await {
            Ok(service) => axum::Extension(OverConnectionLimit(over_limit)).layer(service),
            Err(never) => match never {},
        };
        let builder = if over_limit { refusing.clone() } else { builder.clone() };
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            // The first bytes have a deadline too: until they come, hyper waits (for ever) to
            // tell HTTP/1 from HTTP/2 before its head timeout starts.
            if let Ok(Ok(1..)) = tokio::time::timeout(head_timeout, stream.peek(&mut [0u8; 1])).await {
                let connection = builder
                    .serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(service))
                    .into_owned();
                // A client that goes away mid-request, or a head that came too late, ends here.
                let _ = watcher.watch(connection).await;
            }
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Marks every request of a connection taken past `max_connections`: admission refuses it.
#[derive(Clone, Copy)]
pub(crate) struct OverConnectionLimit(pub bool);

/// A serving slot, or else a refusing one (`true`), whichever frees first.
async fn next_slot(slots: &Arc<Semaphore>, refusals: &Arc<Semaphore>) -> (OwnedSemaphorePermit, bool) {
    if let Ok(slot) = slots.clone().try_acquire_owned() {
        return (slot, false);
    }
    tokio::select! {
        biased;
        Ok(slot) = slots.clone().acquire_owned() => (slot, false),
        Ok(slot) = refusals.clone().acquire_owned() => (slot, true),
    }
}

/// A failed accept: the client gave up already (go on), or the process is out of file
/// descriptors or memory (wait a moment rather than spin).
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if !matches!(e.kind(), ConnectionAborted | ConnectionRefused | ConnectionReset) {
        tracing::error!(error = %e, "cannot accept connections; trying again in a second");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Answers 408 (in the contract's format) for a request whose body did not arrive whole within
/// `timeout` of reaching this layer, instead of letting its handler wait for the rest.
pub(crate) async fn body_deadline(State(timeout): State<Duration>, req: Request, next: Next) -> Response {
    if req.body().size_hint().exact() == Some(0) {
        return next.run(req).await;
    }
    let contract = crate::contracts::contract_for(req.uri().path());
    let expired = Arc::new(AtomicBool::new(false));
    let flag = expired.clone();
    let req =
        req.map(|inner| Body::new(Deadline { inner, timer: Box::pin(tokio::time::sleep(timeout)), expired: flag }));
    let response = next.run(req).await;
    if expired.load(Ordering::Relaxed) {
        return contract.refuse(StatusCode::REQUEST_TIMEOUT, BODY_TIMEOUT_CODE, body_timeout_message(timeout));
    }
    response
}

/// The error code of a body that came too slowly, in every contract.
pub(crate) const BODY_TIMEOUT_CODE: &str = "REQUEST_TIMEOUT";

pub(crate) fn body_timeout_message(timeout: Duration) -> String {
    format!("The request body did not arrive within {} s", timeout.as_secs_f64())
}

/// A body that fails once its timer has run out while a frame is still awaited.
struct Deadline {
    inner: Body,
    timer: Pin<Box<tokio::time::Sleep>>,
    expired: Arc<AtomicBool>,
}

impl HttpBody for Deadline {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        if self.timer.as_mut().poll(cx).is_ready() {
            self.expired.store(true, Ordering::Relaxed);
            return Poll::Ready(Some(Err(axum::Error::new("the request body did not arrive in time"))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    /// Clients past the standard library's backlog of 128 still connect while nobody accepts
    /// (a flood with every slot taken): they wait in the queue instead of resending SYNs.
    #[tokio::test]
    async fn the_accept_queue_holds_more_than_the_default_128() {
        let somaxconn: usize = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(128);
        let clients = somaxconn.min(400);
        let listener = super::listen("127.0.0.1:0".parse().unwrap(), 4096).unwrap();
        let addr = listener.local_addr().unwrap();
        let connects = (0..clients)
            .map(|_| tokio::time::timeout(Duration::from_millis(900), tokio::net::TcpStream::connect(addr)));
        let connected = futures_util::future::join_all(connects).await;
        let waiting = connected.iter().filter(|c| matches!(c, Ok(Ok(_)))).count();
        // The kernel queues one more than the backlog it was given.
        assert!(waiting >= clients - 1, "{waiting} of {clients} clients connected with nobody accepting");
        drop(listener);
    }
}
