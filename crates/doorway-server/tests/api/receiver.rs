//! A real HTTP receiver on loopback for hooks and webhooks: records every call, verifies its
//! Standard Webhooks signature, and answers as the test tells it.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::Value;

pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

#[derive(Clone)]
pub enum Answer {
    Json(StatusCode, Value),
    Text(StatusCode, &'static str),
    /// Waits this long before answering `{"allow": true}`.
    Hang(Duration),
}

#[derive(Clone, Debug)]
pub struct Call {
    pub headers: HeaderMap,
    pub body: Value,
    pub raw: Bytes,
    pub signature_valid: bool,
    /// When it arrived.
    pub at: std::time::Instant,
}

#[derive(Clone)]
struct Shared {
    /// Answers used first, one per call, before `answer`.
    queue: Arc<Mutex<std::collections::VecDeque<Answer>>>,
    answer: Arc<Mutex<Answer>>,
    calls: Arc<Mutex<Vec<Call>>>,
}

pub struct Receiver {
    pub url: String,
    shared: Shared,
}

impl Receiver {
    pub async fn start(answer: Answer) -> Self {
        let shared = Shared { queue: Arc::default(), answer: Arc::new(Mutex::new(answer)), calls: Arc::default() };
        let app = Router::new().route("/hook", post(receive)).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url: format!("http://{addr}/hook"), shared }
    }

    pub fn answer(&self, answer: Answer) {
        *self.shared.answer.lock().unwrap() = answer;
    }

    /// Answers the next calls with `first`, one each, then as before.
    pub fn first_answers(&self, first: Vec<Answer>) {
        self.shared.queue.lock().unwrap().extend(first);
    }

    /// Waits until at least `n` calls arrived (or fails the test after `secs`).
    pub async fn wait_for_calls(&self, n: usize, secs: u64) -> Vec<Call> {
        let deadline = std::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let calls = self.calls();
            if calls.len() >= n {
                return calls;
            }
            assert!(std::time::Instant::now() < deadline, "expected {n} calls, got {}", calls.len());
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub fn calls(&self) -> Vec<Call> {
        self.shared.calls.lock().unwrap().clone()
    }
}

async fn receive(State(shared): State<Shared>, headers: HeaderMap, raw: Bytes) -> Response {
    let at = std::time::Instant::now();
    let signature_valid = standardwebhooks::Webhook::new(SECRET).unwrap().verify(&raw, &headers).is_ok();
    let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    shared.calls.lock().unwrap().push(Call { headers, body, raw, signature_valid, at });
    let queued = shared.queue.lock().unwrap().pop_front();
    let answer = queued.unwrap_or_else(|| shared.answer.lock().unwrap().clone());
    match answer {
        Answer::Json(status, value) => (status, axum::Json(value)).into_response(),
        Answer::Text(status, text) => (status, text).into_response(),
        Answer::Hang(delay) => {
            tokio::time::sleep(delay).await;
            axum::Json(serde_json::json!({"allow": true})).into_response()
        }
    }
}
