//! Connection bounds: a request head that does not arrive within
//! `connections.header_read_timeout_ms` closes its connection (slowloris), an idle keep-alive
//! connection closes after the same time, a body that does not arrive whole within
//! `connections.body_read_timeout_ms` is answered 408 in its contract's format (a page on the
//! hosted pages), freeing its admission slot, and past `connections.max_connections` a request
//! is refused 503 at once, then (past a quarter more) a new client waits until a connection
//! closes; a shutdown stops accepting and lets a request in flight finish. The timeouts and
//! the shutdown are engine-independent, so SQLite only.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::{Backend, TestApp};
use crate::on_both_backends;

// The documented refusals (503 past the limit, 408) on both engines, like every documented status.
on_both_backends!(
    past_the_connection_limit_requests_are_refused_503_then_clients_wait,
    a_body_that_trickles_in_is_answered_408_and_frees_its_slot,
);

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

/// Sends one request on a new connection and reads the answer until the server closes it.
async fn one_request(app: &TestApp, path: &str) -> String {
    let mut stream = connect(app).await;
    let head = format!("GET {path} HTTP/1.1\r\nHost: doorway.test\r\n\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    until_closed(&mut stream, Duration::from_secs(5)).await.0
}

async fn past_the_connection_limit_requests_are_refused_503_then_clients_wait(backend: Backend) {
    // Two served; past them, 2 / 4 + 1 = 1 connection at a time is taken only to refuse.
    let app = TestApp::builder(backend).configure(|s| s.connections.max_connections = 2).spawn().await;

    // Two clients hold both serving connections (each served once, kept alive).
    let mut holders = Vec::new();
    for _ in 0..2 {
        let mut stream = connect(&app).await;
        stream.write_all(HEALTHZ.as_bytes()).await.unwrap();
        let mut buf = [0u8; 512];
        let n = stream.read(&mut buf).await.unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200 OK"));
        holders.push(stream);
    }

    // A third is answered at once: 503, Retry-After, the contract's format; then closed.
    let refused = one_request(&app, "/api/auth/me").await;
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    assert!(refused.to_ascii_lowercase().contains("retry-after: 1"), "{refused}");
    assert!(refused.contains(r#""code":"SERVICE_UNAVAILABLE""#), "{refused}");
    let aufy = one_request(&app, "/api/auth/whoami").await;
    assert!(aufy.starts_with("HTTP/1.1 503") && aufy.contains("application/problem+json"), "{aufy}");
    // Probes are still answered: the instance is alive.
    assert!(one_request(&app, "/healthz").await.starts_with("HTTP/1.1 200 OK"));

    // A silent client takes the one refusing connection; the next waits to be accepted.
    let _silent = connect(&app).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut waiting = connect(&app).await;
    waiting.write_all(HEALTHZ.as_bytes()).await.unwrap();
    let mut buf = [0u8; 512];
    let waited = tokio::time::timeout(Duration::from_millis(500), waiting.read(&mut buf)).await;
    assert!(waited.is_err(), "accepted past both limits: {waited:?}");

    // A serving connection closes: the waiting client is served.
    drop(holders.pop());
    let n = tokio::time::timeout(Duration::from_secs(5), waiting.read(&mut buf))
        .await
        .expect("served once a connection closed")
        .unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200 OK"));
}

const JSON: &str = "application/json";

/// Sends a head announcing 100 bytes of body and a few of them; returns the answer's head and body.
async fn trickled_body(app: &TestApp, path: &str, content_type: &str) -> (String, Duration) {
    let mut stream = connect(app).await;
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: doorway.test\r\nContent-Type: {content_type}\r\nContent-Length: 100\r\n\r\n{{\"email\""
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
        .await
        .expect("the server should have answered the unfinished body")
        .unwrap();
    (String::from_utf8_lossy(&buf[..n]).into_owned(), started.elapsed())
}

async fn a_body_that_trickles_in_is_answered_408_and_frees_its_slot(backend: Backend) {
    let app = TestApp::builder(backend)
        .configure(|s| {
            s.connections.body_read_timeout_ms = 300;
            s.admission.max_in_flight = 1;
            s.admission.max_queued = 0;
        })
        .spawn()
        .await;

    let (native, after) = trickled_body(&app, "/api/auth/sign-up", JSON).await;
    assert!(native.starts_with("HTTP/1.1 408"), "{native}");
    assert!(after >= Duration::from_millis(250), "answered after {after:?}, before the deadline");
    assert!(native.contains(r#""success":false"#) && native.contains(r#""code":"REQUEST_TIMEOUT""#), "{native}");

    let (aufy, _) = trickled_body(&app, "/api/auth/signin", JSON).await;
    assert!(aufy.starts_with("HTTP/1.1 408"), "{aufy}");
    assert!(aufy.contains("application/problem+json") && aufy.contains(r#""status":408"#), "{aufy}");

    // A hosted page refuses with a page.
    let (page, _) = trickled_body(&app, "/ui/forgot-password", "application/x-www-form-urlencoded").await;
    assert!(page.starts_with("HTTP/1.1 408") && page.contains("text/html"), "{page}");

    // The one admission slot is free again.
    let served = app.bare_client().get(app.url("/api/auth/me")).send().await.unwrap();
    assert_eq!(served.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_stops_accepting_and_lets_a_request_in_flight_finish() {
    let mut app = TestApp::spawn(Backend::Sqlite).await;
    let body = r#"{"email":"late@example.com","password":"Late-Signup-2026!","name":"Late"}"#;
    let (first, rest) = body.split_at(10);
    let mut stream = connect(&app).await;
    let head = format!(
        "POST /api/auth/sign-up HTTP/1.1\r\nHost: doorway.test\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{first}",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    app.stop();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let address = app.address.trim_start_matches("http://");
    assert!(TcpStream::connect(address).await.is_err(), "still accepting after the shutdown began");

    stream.write_all(rest.as_bytes()).await.unwrap();
    let (answer, _) = until_closed(&mut stream, Duration::from_secs(10)).await;
    assert!(answer.starts_with("HTTP/1.1 201"), "the request in flight was answered: {answer:?}");
}
