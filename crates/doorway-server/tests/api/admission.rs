//! Admission control: past `admission.max_in_flight` requests at once (and a full queue), a
//! request is answered 503 with `Retry-After` in the format of the contract owning its path.
//! Made deterministic with a limit of one and no queue, the one slot held by a request whose
//! body is still being sent.

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::harness::{Backend, TestApp, json};
use crate::on_both_backends;

on_both_backends!(past_the_limit_requests_are_refused_with_503_in_their_contract_format);

/// A sign-up whose headers are sent and whose body never finishes: its handler waits for the
/// body, holding its admission slot until the connection is dropped.
async fn hold_a_slot(app: &TestApp) -> TcpStream {
    let address = app.address.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST /api/auth/sign-up HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.flush().await.unwrap();
    stream
}

/// Whether the server has answered (or closed) the held request: it arrived while another
/// request had the slot, and was shed itself.
fn answered(held: &TcpStream) -> bool {
    !matches!(held.try_read(&mut [0u8; 1]), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

/// Asks until the answer is (or is not) a 503: the held request takes its slot, and gives it
/// back, a moment after its bytes were written. While waiting for a 503, a held request that
/// lost the race for the slot to one of these is made again.
async fn until(app: &TestApp, held: &mut Option<TcpStream>, path: &str, shed: bool) -> reqwest::Response {
    for _ in 0..500 {
        if let Some(stream) = held
            && answered(stream)
        {
            *stream = hold_a_slot(app).await;
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            continue;
        }
        let response = app.bare_client().get(app.url(path)).send().await.unwrap();
        if (response.status() == 503) == shed {
            return response;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("{path} never answered {}", if shed { "503" } else { "anything but 503" });
}

async fn past_the_limit_requests_are_refused_with_503_in_their_contract_format(backend: Backend) {
    let app = TestApp::builder(backend)
        .configure(|s| {
            s.admission.max_in_flight = 1;
            s.admission.max_queued = 0;
        })
        .spawn()
        .await;
    let mut held = Some(hold_a_slot(&app).await);

    let native = until(&app, &mut held, "/api/auth/me", true).await;
    assert_eq!(native.headers()["retry-after"], "1");
    let body = json(native).await;
    assert_eq!(body["success"], false);
    assert_eq!(body["error"]["code"], "SERVICE_UNAVAILABLE");

    let aufy = until(&app, &mut held, "/api/auth/whoami", true).await;
    assert_eq!(aufy.headers()["retry-after"], "1");
    assert_eq!(aufy.headers()["content-type"], "application/problem+json");
    assert_eq!(json(aufy).await["status"], 503);

    let probe = app.bare_client().get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(probe.status(), 200, "probes are never shed");

    drop(held.take());
    let served = until(&app, &mut held, "/api/auth/me", false).await;
    assert_eq!(served.status(), 401, "once the slot is free, requests are served again");
}
