//! Connection bounds: a request head that does not arrive within
//! `connections.header_read_timeout_ms` closes its connection (slowloris), an idle keep-alive
//! connection closes after the same time, and past `connections.max_connections` a new client
//! is not served until an open connection closes. Engine-independent, so SQLite only.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::{Backend, TestApp};

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.address.trim_start_matches("http://")).await.unwrap()
}

/// Reads until the server closes the connection; what it sent, and how long that took.
async fn until_closed(stream: &mut TcpStream, within: Duration) -> (String, Duration) {
    let started = Instant::now();
    let mut received = Vec::new();
    tokio::time::timeout(within, stream.read_to_end(&mut received))
        .await
        .expect("the server should have closed the connection")
        .ok();
    (String::from_utf8_lossy(&received).into_owned(), started.elapsed())
}

const HEALTHZ: &str = "GET /healthz HTTP/1.1\r\nHost: doorway.test\r\n\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_that_trickles_in_or_never_comes_closes_its_connection() {
    let app = TestApp::builder(Backend::Sqlite).configure(|s| s.connections.header_read_timeout_ms = 300).spawn().await;

    // Half a request line, then nothing.
    let mut slow = connect(&app).await;
    slow.write_all(b"GET /healthz HT").await.unwrap();
    let (answer, after) = until_closed(&mut slow, Duration::from_secs(5)).await;
    assert!(after >= Duration::from_millis(250), "closed after {after:?}, before the deadline");
    assert!(!answer.contains("200 OK"), "no request was served: {answer:?}");

    // Connected, never a byte.
    let mut silent = connect(&app).await;
    let (_, after) = until_closed(&mut silent, Duration::from_secs(5)).await;
    assert!(after >= Duration::from_millis(250), "closed after {after:?}");

    // One request answered, then idle: kept alive no longer than a head may take.
    let mut idle = connect(&app).await;
    idle.write_all(HEALTHZ.as_bytes()).await.unwrap();
    let (answer, after) = until_closed(&mut idle, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer:?}");
    assert!(after >= Duration::from_millis(250), "closed after {after:?}");

    // A client that sends its head in time is served as ever.
    assert_eq!(app.bare_client().get(app.url("/healthz")).send().await.unwrap().status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_connection_limit_clients_wait_until_one_closes() {
    let app = TestApp::builder(Backend::Sqlite).configure(|s| s.connections.max_connections = 2).spawn().await;

    // Two clients hold both connections (each served once, kept alive).
    let mut holders = Vec::new();
    for _ in 0..2 {
        let mut stream = connect(&app).await;
        stream.write_all(HEALTHZ.as_bytes()).await.unwrap();
        let mut buf = [0u8; 512];
        let n = stream.read(&mut buf).await.unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200 OK"));
        holders.push(stream);
    }

    // A third connects (the kernel queues it) but is not served while both are open.
    let mut third = connect(&app).await;
    third.write_all(HEALTHZ.as_bytes()).await.unwrap();
    let mut buf = [0u8; 512];
    let waited = tokio::time::timeout(Duration::from_millis(500), third.read(&mut buf)).await;
    assert!(waited.is_err(), "served past the limit: {waited:?}");

    // One closes: the third is accepted and answered.
    drop(holders.pop());
    let n = tokio::time::timeout(Duration::from_secs(5), third.read(&mut buf))
        .await
        .expect("served once a connection closed")
        .unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200 OK"));
}
