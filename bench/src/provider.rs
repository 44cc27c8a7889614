//! `doorway-bench provider`: a tiny OpenID Connect provider and webhook receiver, so OAuth-code
//! sign-up can be measured without a real provider being the bottleneck.
//!
//! - `GET /.well-known/openid-configuration` and `GET /jwks`: discovery (the server caches it).
//! - `POST /token`: any code is good once-for-all; it answers an ID token (RS256, the only
//!   algorithm the server's OIDC verifier accepts) for subject `bench-<code>`, address
//!   `<code>@oauth.bench.example.com` (verified), so every new code is a new account.
//! - `POST /codes` `{prefix, count}`: issues the codes `<prefix>-0` … `<prefix>-<count-1>` the way
//!   a provider does when its user consents, signing their ID tokens then; `/token` hands each
//!   one out once. The load generator asks for its codes before the measured window, so the
//!   window holds what the server causes (a token request), not the provider's RSA signing,
//!   which was a third of the machine's CPU per OAuth sign-up on two cores.
//! - `POST /webhooks`: counts Standard Webhooks deliveries by `webhook-id` (duplicates too).
//! - `GET /stats`: `{tokens, webhooks, unique_webhooks, duplicate_webhooks}`; `POST /reset`
//!   zeroes them (bench/flows.sh, before each run that counts deliveries).
//!
//! The RSA key is generated at start; its size is `--rsa-bits` (default 1024: signing costs a
//! fraction of a millisecond, the server's verification of it is as cheap as of a 2048-bit one).

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rsa::RsaPrivateKey;
use rsa::pkcs1v15::SigningKey;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::traits::PublicKeyParts;
use serde_json::{Value, json};
use sha2::Sha256;

/// The client the server is configured with (`[projects.default.providers.bench]`).
pub const CLIENT_ID: &str = "doorway-bench";
const KID: &str = "bench-1";

struct Provider {
    issuer: String,
    signer: SigningKey<Sha256>,
    jwks: Value,
    tokens: AtomicU64,
    /// Codes issued ahead (`POST /codes`), with their token responses.
    issued: Mutex<HashMap<String, Value>>,
    /// webhook-id -> times received.
    webhooks: Mutex<HashMap<String, u32>>,
}

pub fn run(port: u16, rsa_bits: usize) -> ExitCode {
    let mut rng = rsa::rand_core::OsRng;
    let key = match RsaPrivateKey::new(&mut rng, rsa_bits) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("provider: RSA key: {e}");
            return ExitCode::FAILURE;
        }
    };
    let public = key.to_public_key();
    let jwks = json!({"keys": [{
        "kty": "RSA", "use": "sig", "alg": "RS256", "kid": KID,
        "n": URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
        "e": URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
    }]});
    let state = Arc::new(Provider {
        issuer: format!("http://127.0.0.1:{port}"),
        signer: SigningKey::<Sha256>::new(key),
        jwks,
        tokens: AtomicU64::new(0),
        issued: Mutex::new(HashMap::new()),
        webhooks: Mutex::new(HashMap::new()),
    });
    let app = Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/jwks", get(jwks_route))
        .route("/token", post(token))
        .route("/codes", post(issue_codes))
        .route("/webhooks", post(webhook))
        .route("/stats", get(stats))
        .route("/reset", post(reset))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(state);
    // One thread: the provider must not take the server's cores; its CPU is reported.
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("provider: runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("provider: bind 127.0.0.1:{port}: {e}");
                return ExitCode::FAILURE;
            }
        };
        eprintln!("provider: issuer http://127.0.0.1:{port}, RSA {rsa_bits} bits");
        match axum::serve(listener, app).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("provider: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

async fn discovery(State(p): State<Arc<Provider>>) -> Json<Value> {
    let i = &p.issuer;
    Json(json!({
        "issuer": i,
        "authorization_endpoint": format!("{i}/authorize"),
        "token_endpoint": format!("{i}/token"),
        "jwks_uri": format!("{i}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "scopes_supported": ["openid", "email", "profile"],
        "claims_supported": ["sub", "email", "email_verified", "name"],
    }))
}

async fn jwks_route(State(p): State<Arc<Provider>>) -> Json<Value> {
    Json(p.jwks.clone())
}

async fn token(State(p): State<Arc<Provider>>, Form(form): Form<HashMap<String, String>>) -> Response {
    let Some(code) = form.get("code").filter(|c| !c.is_empty()) else {
        return (StatusCode::BAD_REQUEST, Json(json!({"error": "invalid_request"}))).into_response();
    };
    p.tokens.fetch_add(1, Ordering::Relaxed);
    let issued = p.issued.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(code.as_str());
    Json(issued.unwrap_or_else(|| token_response(&p, code))).into_response()
}

#[derive(serde::Deserialize)]
struct CodesRequest {
    prefix: String,
    count: usize,
}

/// Issues `count` codes, their ID tokens signed on every core; answers how many.
async fn issue_codes(State(p): State<Arc<Provider>>, Json(req): Json<CodesRequest>) -> Json<Value> {
    let count = req.count.min(1_000_000);
    let signer = p.clone();
    let signed = tokio::task::spawn_blocking(move || {
        let threads = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        std::thread::scope(|scope| {
            let parts: Vec<_> = (0..threads)
                .map(|t| {
                    let (p, prefix) = (&signer, &req.prefix);
                    scope.spawn(move || {
                        (t..count)
                            .step_by(threads)
                            .map(|i| {
                                let code = format!("{prefix}-{i}");
                                let response = token_response(p, &code);
                                (code, response)
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            parts.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect::<Vec<_>>()
        })
    })
    .await
    .unwrap_or_default();
    let n = signed.len();
    p.issued.lock().unwrap_or_else(std::sync::PoisonError::into_inner).extend(signed);
    Json(json!({ "issued": n }))
}

/// The token response for `code`, its ID token signed now.
fn token_response(p: &Provider, code: &str) -> Value {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": KID});
    let claims = json!({
        "iss": p.issuer,
        "aud": CLIENT_ID,
        "sub": format!("bench-{code}"),
        "email": format!("{code}@oauth.bench.example.com"),
        "email_verified": true,
        "name": format!("Bench {code}"),
        "iat": now,
        // Codes issued ahead may wait the whole run.
        "exp": now + 3600,
    });
    let signing_input =
        format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
    let signature = p.signer.sign(signing_input.as_bytes()).to_vec();
    let id_token = format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature));
    json!({
        "access_token": format!("at-{code}"),
        "token_type": "Bearer",
        "expires_in": 600,
        "id_token": id_token,
    })
}

async fn webhook(State(p): State<Arc<Provider>>, headers: HeaderMap) -> StatusCode {
    let Some(id) = headers.get("webhook-id").and_then(|v| v.to_str().ok()) else {
        return StatusCode::BAD_REQUEST;
    };
    *p.webhooks.lock().unwrap_or_else(std::sync::PoisonError::into_inner).entry(id.to_owned()).or_default() += 1;
    StatusCode::NO_CONTENT
}

async fn reset(State(p): State<Arc<Provider>>) -> StatusCode {
    p.webhooks.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clear();
    p.issued.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clear();
    p.tokens.store(0, Ordering::Relaxed);
    StatusCode::NO_CONTENT
}

async fn stats(State(p): State<Arc<Provider>>) -> Json<Value> {
    let hooks = p.webhooks.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let total: u64 = hooks.values().map(|&n| u64::from(n)).sum();
    let unique = hooks.len() as u64;
    Json(json!({
        "tokens": p.tokens.load(Ordering::Relaxed),
        "webhooks": total,
        "unique_webhooks": unique,
        "duplicate_webhooks": total - unique,
    }))
}
