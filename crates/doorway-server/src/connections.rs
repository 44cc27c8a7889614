//! Accepting connections, within bounds. At most `max_connections` are open at once: past
//! that, new clients wait in the kernel's accept queue until one closes, so a flood of clients
//! costs a bounded amount of memory (each open connection holds its buffers and task). Each
//! request head must arrive within `header_read_timeout_ms`, which is also how long an idle
//! keep-alive connection is kept: a client that trickles its headers, or opens connections and
//! sends nothing (slowloris), does not hold a slot for ever.

use std::future::{Future, poll_fn};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::Service;

/// `connections.*` in the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConnectionSettings {
    /// Connections open at once; further clients wait to be accepted. An idle keep-alive
    /// connection holds about 20 KiB.
    pub max_connections: usize,
    /// The longest a request head (request line and headers) may take to arrive, counted
    /// from when the connection is ready for it: also the idle keep-alive timeout.
    pub header_read_timeout_ms: u64,
}

impl Default for ConnectionSettings {
    fn default() -> Self {
        Self { max_connections: 4096, header_read_timeout_ms: 30_000 }
    }
}

impl ConnectionSettings {
    pub fn problems(&self) -> Vec<String> {
        if self.max_connections == 0 || self.header_read_timeout_ms == 0 {
            vec!["connections.max_connections, connections.header_read_timeout_ms: must be at least 1".to_owned()]
        } else {
            Vec::new()
        }
    }
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
    let head_timeout = Duration::from_millis(settings.header_read_timeout_ms);
    let mut builder = Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(head_timeout);
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();
    let mut make_service = app.into_make_service_with_connect_info::<SocketAddr>();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
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
        // Answers are written whole; waiting to coalesce them only adds latency.
        let _ = stream.set_nodelay(true);
        let Ok(()) = poll_fn(|cx| Service::<SocketAddr>::poll_ready(&mut make_service, cx)).await;
        let service = match make_service.call(peer).await {
            Ok(service) => service,
            Err(never) => match never {},
        };
        let (builder, watcher) = (builder.clone(), graceful.watcher());
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

/// A failed accept: the client gave up already (go on), or the process is out of file
/// descriptors or memory (wait a moment rather than spin).
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if !matches!(e.kind(), ConnectionAborted | ConnectionRefused | ConnectionReset) {
        tracing::error!(error = %e, "cannot accept connections; trying again in a second");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
