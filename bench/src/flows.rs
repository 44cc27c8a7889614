//! `doorway-bench flow`: load on one flow, closed loop (N clients, each sends its next request
//! when the last one answered) or open loop (`--rate`: requests sent at a fixed rate whatever
//! the answers, the overload test). Prints one JSON line (`kind: "flow"`).
//!
//! What each flow sends (every request a new account where the flow creates one):
//!
//! | flow | request | success |
//! |---|---|---|
//! | `jwks` | `GET /.well-known/jwks.json` | 200 |
//! | `me` | `GET /api/auth/me`, `Authorization: Bearer` (sessions made in setup) | 200 |
//! | `email-signup` | `POST /auth/email/signup` `{email}` (Storyden: user, session, code mail, events) | 200 |
//! | `oauth-signup` | `POST /api/v1/auth/oauth/signup` `{provider: "bench", code}` (Rivergen, fake provider) | 201 |
//! | `refresh` | `POST /api/v1/auth/token/refresh` `{refresh_token}` (Rivergen; the token rotates) | 200 |
//! | `sign-out` | `POST /api/auth/sign-out`, `Authorization: Bearer` (one session per request, made in setup) | 200 |
//! | `password-signup` | `POST /api/auth/sign-up` `{email, password, name}` (one argon2id hash) | 201 |
//!
//! Sessions for `me`, `refresh` and `sign-out` come from OAuth-code sign-ups in a setup phase
//! that is not measured (so those flows need the fake provider). `sign-out` uses each session
//! once: its setup makes sessions for `--prep-seconds`, and its window ends early (and says so)
//! when they run out.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::{PASSWORD, f, proc_cpu_secs, proc_cpu_secs_self, proc_status_kib, round, system_busy_secs};

#[derive(Clone, Copy, PartialEq, Eq, Debug, clap::ValueEnum)]
pub enum Flow {
    Jwks,
    Me,
    EmailSignup,
    OauthSignup,
    Refresh,
    SignOut,
    PasswordSignup,
}

impl Flow {
    pub fn name(self) -> &'static str {
        match self {
            Flow::Jwks => "jwks",
            Flow::Me => "me",
            Flow::EmailSignup => "email-signup",
            Flow::OauthSignup => "oauth-signup",
            Flow::Refresh => "refresh",
            Flow::SignOut => "sign-out",
            Flow::PasswordSignup => "password-signup",
        }
    }

    fn success(self) -> u16 {
        match self {
            Flow::OauthSignup | Flow::PasswordSignup => 201,
            _ => 200,
        }
    }
}

pub struct FlowArgs {
    pub flow: Flow,
    /// Base URLs; clients (or open-loop requests) are spread over them round-robin.
    pub urls: Vec<String>,
    pub clients: usize,
    pub rate: Option<f64>,
    pub max_in_flight: usize,
    pub seconds: f64,
    pub warmup: f64,
    pub prep_seconds: f64,
    pub timeout: f64,
    pub server_pids: Vec<u32>,
    pub provider_pid: Option<u32>,
    /// The fake provider: `oauth-signup` has its codes issued there before the window.
    pub provider_url: Option<String>,
    pub run: u32,
    pub label: String,
    pub pg_stats_url: Option<String>,
}

/// Outcome keys besides HTTP statuses.
const CONNECTION_ERROR: u16 = 0;
const BODY_ERROR: u16 = 1;
const TIMEOUT: u16 = 2;

fn status_key(s: u16) -> String {
    match s {
        CONNECTION_ERROR => "connection_error".into(),
        BODY_ERROR => "body_error".into(),
        TIMEOUT => "timeout".into(),
        s => s.to_string(),
    }
}

#[derive(Clone, Copy)]
struct Rec {
    /// Send and completion times, µs since the start of the warm-up.
    start_us: u64,
    end_us: u64,
    lat_us: u32,
    status: u16,
    retry_after: bool,
}

struct Shared {
    flow: Flow,
    /// One per source address (see `source_addresses`); a request's worker picks its client.
    clients: Vec<reqwest::Client>,
    urls: Vec<Arc<str>>,
    nonce: u64,
    seq: AtomicU64,
    /// `me`: tokens used round-robin.
    tokens: Vec<String>,
    /// `refresh` (refresh tokens, given back rotated) and `sign-out` (access tokens, used once).
    pool: Mutex<Vec<String>>,
    /// `sign-out`: when the pool ran dry (µs since t0; 0 = not yet).
    exhausted_us: AtomicU64,
    stop: AtomicBool,
    /// Open loop: requests skipped because `max_in_flight` were waiting already.
    not_sent: AtomicU64,
    recs: Mutex<Vec<Rec>>,
    samples: Mutex<BTreeMap<u16, String>>,
    t0: Instant,
}

/// Loopback source addresses for an open loop against a loopback server: 127.0.0.2 … 127.0.0.65.
/// From one address, every connection to the server's port needs a free ephemeral port (28,232
/// here), and refused connections (503, closed) keep theirs in TIME_WAIT for a minute: within
/// seconds of a flood the kernel's search for a free port (`__inet_hash_connect`) took most of
/// the generator's CPU and the server sat idle. A real flood comes from many addresses.
fn source_addresses(urls: &[String]) -> Vec<Option<IpAddr>> {
    let loopback = urls.iter().all(|u| {
        reqwest::Url::parse(u)
            .ok()
            .and_then(|u| u.host_str().and_then(|h| h.parse::<IpAddr>().ok()))
            .is_some_and(|ip| ip.is_loopback() && ip.is_ipv4())
    });
    if !loopback {
        return vec![None];
    }
    (2..66u8).map(|last| Some(IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, last)))).collect()
}

fn http_client(timeout: f64, idle: usize, source: Option<IpAddr>) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .local_address(source)
        .pool_max_idle_per_host(idle)
        .pool_idle_timeout(Duration::from_secs(120))
        .tcp_nodelay(true)
        .timeout(Duration::from_secs_f64(timeout))
        .build()
}

/// A new account by OAuth-code sign-up: (access token, refresh token).
async fn oauth_session(client: &reqwest::Client, base: &str, code: &str) -> Result<(String, String), String> {
    let r = client
        .post(format!("{base}/api/v1/auth/oauth/signup"))
        .json(&json!({"provider": "bench", "code": code}))
        .send()
        .await
        .map_err(|e| format!("{e:?}"))?;
    let status = r.status().as_u16();
    let body: Value = r.json().await.map_err(|e| e.to_string())?;
    if status != 201 {
        return Err(format!("oauth sign-up answered {status}: {body}"));
    }
    let d = &body["data"];
    match (d["access_token"].as_str(), d["refresh_token"].as_str()) {
        (Some(a), Some(r)) => Ok((a.to_owned(), r.to_owned())),
        _ => Err(format!("oauth sign-up: no tokens in {body}")),
    }
}

/// Codes issued ahead per second of a closed-loop `oauth-signup` window.
const OAUTH_CODES_PER_SECOND: f64 = 6_000.0;

/// Has the fake provider issue `count` codes `<prefix>-<n>` (their ID tokens signed now, not
/// during the window; provider.rs); returns how many it issued.
async fn issue_codes(client: &reqwest::Client, provider: &str, prefix: &str, count: u64) -> Result<u64, String> {
    let r = client
        .post(format!("{}/codes", provider.trim_end_matches('/')))
        .timeout(Duration::from_secs(600))
        .json(&json!({"prefix": prefix, "count": count}))
        .send()
        .await
        .map_err(|e| format!("{e:?}"))?;
    let body: Value = r.json().await.map_err(|e| e.to_string())?;
    body["issued"].as_u64().ok_or_else(|| format!("the provider issued no codes: {body}"))
}

/// Makes sessions with `clients` concurrent sign-ups until `n` exist or `seconds` pass.
async fn make_sessions(
    client: &reqwest::Client,
    urls: &[Arc<str>],
    nonce: u64,
    clients: usize,
    n: usize,
    seconds: f64,
) -> Result<Vec<(String, String)>, String> {
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let made = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..clients)
        .map(|id| {
            let client = client.clone();
            let base = urls[id % urls.len()].clone();
            let made = made.clone();
            tokio::spawn(async move {
                let mut out = Vec::new();
                let mut seq = 0u64;
                while made.load(Ordering::Relaxed) < n && Instant::now() < deadline {
                    seq += 1;
                    let code = format!("s{nonce:x}-{id}-{seq}");
                    out.push(oauth_session(&client, &base, &code).await?);
                    made.fetch_add(1, Ordering::Relaxed);
                }
                Ok::<_, String>(out)
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.map_err(|e| e.to_string())??);
    }
    Ok(all)
}

impl Shared {
    /// Sends one request of the flow; `None` when there is nothing left to send (sign-out).
    async fn one(&self, worker: usize) -> Option<()> {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let client = &self.clients[worker % self.clients.len()];
        let base = &self.urls[worker % self.urls.len()];
        let nonce = self.nonce;
        let mut taken: Option<String> = None;
        let req = match self.flow {
            Flow::Jwks => client.get(format!("{base}/.well-known/jwks.json")),
            Flow::Me => {
                let t = &self.tokens[worker % self.tokens.len()];
                client.get(format!("{base}/api/auth/me")).bearer_auth(t)
            }
            Flow::EmailSignup => client
                .post(format!("{base}/auth/email/signup"))
                .json(&json!({"email": format!("e{nonce:x}-{seq}@bench.example.com")})),
            Flow::OauthSignup => client
                .post(format!("{base}/api/v1/auth/oauth/signup"))
                .json(&json!({"provider": "bench", "code": format!("o{nonce:x}-{seq}")})),
            Flow::PasswordSignup => client.post(format!("{base}/api/auth/sign-up")).json(&json!({
                "email": format!("p{nonce:x}-{seq}@bench.example.com"),
                "password": PASSWORD,
                "name": "Bench User",
            })),
            Flow::Refresh | Flow::SignOut => {
                let t = self.pool.lock().unwrap_or_else(std::sync::PoisonError::into_inner).pop();
                let Some(t) = t else {
                    if self.flow == Flow::SignOut {
                        let now = self.t0.elapsed().as_micros() as u64;
                        let _ = self.exhausted_us.compare_exchange(0, now.max(1), Ordering::Relaxed, Ordering::Relaxed);
                        return None;
                    }
                    // Refresh: every token is in flight; wait for one to come back.
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    return Some(());
                };
                let req = if self.flow == Flow::Refresh {
                    client.post(format!("{base}/api/v1/auth/token/refresh")).json(&json!({"refresh_token": t}))
                } else {
                    client.post(format!("{base}/api/auth/sign-out")).bearer_auth(&t)
                };
                taken = Some(t);
                req
            }
        };
        let start = Instant::now();
        let (status, retry_after, body) = match req.send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let retry_after = resp.headers().contains_key(reqwest::header::RETRY_AFTER);
                // Read the whole body so the connection goes back to the pool.
                match resp.bytes().await {
                    Ok(b) => (status, retry_after, Some(b)),
                    Err(e) if e.is_timeout() => (TIMEOUT, false, None),
                    Err(_) => (BODY_ERROR, false, None),
                }
            }
            Err(e) if e.is_timeout() => (TIMEOUT, false, None),
            Err(e) => {
                let mut s = self.samples.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                s.entry(CONNECTION_ERROR).or_insert_with(|| format!("{e:?}").chars().take(400).collect());
                (CONNECTION_ERROR, false, None)
            }
        };
        let end = Instant::now();
        let ok = status == self.flow.success();
        if let Some(t) = taken {
            match self.flow {
                Flow::Refresh if ok => {
                    let next = body
                        .as_ref()
                        .and_then(|b| serde_json::from_slice::<Value>(b).ok())
                        .and_then(|v| v["data"]["refresh_token"].as_str().map(str::to_owned));
                    if let Some(next) = next {
                        self.pool.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(next);
                    }
                }
                // Refused before it was used (overload): the token is still good.
                _ if status == 503 || status == 429 => {
                    self.pool.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(t);
                }
                _ => {}
            }
        }
        if !ok && let Some(b) = &body {
            let mut s = self.samples.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            s.entry(status).or_insert_with(|| String::from_utf8_lossy(&b[..b.len().min(400)]).into_owned());
        }
        let rec = Rec {
            start_us: (start - self.t0).as_micros() as u64,
            end_us: (end - self.t0).as_micros() as u64,
            lat_us: u32::try_from((end - start).as_micros()).unwrap_or(u32::MAX),
            status,
            retry_after,
        };
        self.recs.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(rec);
        if status == CONNECTION_ERROR {
            // Do not spin on a dead server.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Some(())
    }
}

fn cpu_of(pids: &[u32]) -> Option<f64> {
    pids.iter().map(|&p| proc_cpu_secs(p)).sum()
}

pub async fn run(a: FlowArgs) -> std::process::ExitCode {
    let sources = match a.rate {
        Some(_) => source_addresses(&a.urls),
        None => vec![None],
    };
    let made: reqwest::Result<Vec<_>> =
        sources.iter().map(|&source| http_client(a.timeout, a.clients.max(64), source)).collect();
    let clients = match made {
        Ok(c) => c,
        Err(e) => {
            eprintln!("flow: client: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let nonce = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    let urls: Vec<Arc<str>> = a.urls.iter().map(|u| Arc::from(u.trim_end_matches('/'))).collect();

    // Setup, not measured.
    let setup_start = Instant::now();
    let needed = match a.flow {
        Flow::Me => a.clients.max(16),
        // Open loop: a session per request that may be in flight, so the tokens (each
        // presented again only once it came back rotated) never hold the flood back.
        Flow::Refresh if a.rate.is_some() => a.max_in_flight,
        Flow::Refresh => a.clients.max(16),
        Flow::SignOut => 1_000_000,
        _ => 0,
    };
    let sessions = if needed > 0 {
        let secs = if a.flow == Flow::SignOut { a.prep_seconds } else { 600.0 };
        match make_sessions(&clients[0], &urls, nonce, a.clients.clamp(1, 16), needed, secs).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("flow {}: setup failed: {e}", a.flow.name());
                return std::process::ExitCode::FAILURE;
            }
        }
    } else {
        Vec::new()
    };
    let codes_issued = match (a.flow, &a.provider_url) {
        (Flow::OauthSignup, Some(provider)) => {
            // Enough for the window at a rate well above any measured here (or the open loop's).
            let rate = a.rate.map_or(OAUTH_CODES_PER_SECOND, |r| r * 1.2);
            let count = (rate * (a.warmup + a.seconds)).ceil() as u64;
            match issue_codes(&clients[0], provider, &format!("o{nonce:x}"), count).await {
                Ok(n) => n,
                Err(e) => {
                    eprintln!("flow oauth-signup: setup failed: {e}");
                    return std::process::ExitCode::FAILURE;
                }
            }
        }
        _ => 0,
    };
    let setup_s = setup_start.elapsed().as_secs_f64();
    let setup_sessions = sessions.len();
    if needed > 0 {
        eprintln!("flow {}: setup made {} sessions in {setup_s:.1} s", a.flow.name(), sessions.len());
    }
    let (tokens, pool): (Vec<String>, Vec<String>) = match a.flow {
        Flow::Me => (sessions.into_iter().map(|s| s.0).collect(), Vec::new()),
        Flow::Refresh => (Vec::new(), sessions.into_iter().map(|s| s.1).collect()),
        Flow::SignOut => (Vec::new(), sessions.into_iter().map(|s| s.0).collect()),
        _ => (Vec::new(), Vec::new()),
    };
    let pool_size = pool.len();

    let t0 = Instant::now();
    let t_warm = t0 + Duration::from_secs_f64(a.warmup);
    let t_end = t_warm + Duration::from_secs_f64(a.seconds);
    let shared = Arc::new(Shared {
        flow: a.flow,
        clients,
        urls,
        nonce,
        seq: AtomicU64::new(0),
        tokens,
        pool: Mutex::new(pool),
        exhausted_us: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        not_sent: AtomicU64::new(0),
        recs: Mutex::new(Vec::with_capacity(1 << 16)),
        samples: Mutex::new(BTreeMap::new()),
        t0,
    });

    // RSS sampler, and CPU at the window's edges (the window may end early: sign-out).
    let sampler = {
        let pids = a.server_pids.clone();
        let shared = shared.clone();
        tokio::spawn(async move {
            let mut max_rss = 0u64;
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            while !shared.stop.load(Ordering::Relaxed) {
                tick.tick().await;
                let rss: u64 = pids.iter().filter_map(|&p| proc_status_kib(p, "VmRSS:")).sum();
                max_rss = max_rss.max(rss);
            }
            max_rss
        })
    };
    let pg_stats = match &a.pg_stats_url {
        Some(url) => crate::dbtools::PgStats::connect(url).await,
        None => None,
    };
    let cpu_edges = {
        let pids = a.server_pids.clone();
        let provider = a.provider_pid;
        let shared = shared.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(t_warm.into()).await;
            if let Some(p) = &pg_stats {
                p.reset().await;
            }
            let s0 = cpu_of(&pids);
            let p0 = provider.and_then(proc_cpu_secs);
            let c0 = proc_cpu_secs_self();
            let b0 = system_busy_secs();
            let w0 = Instant::now();
            while Instant::now() < t_end && shared.exhausted_us.load(Ordering::Relaxed) == 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let s1 = cpu_of(&pids);
            let p1 = provider.and_then(proc_cpu_secs);
            let c1 = proc_cpu_secs_self();
            let b1 = system_busy_secs();
            let window = w0.elapsed().as_secs_f64();
            let statements = match &pg_stats {
                Some(p) => p.read().await,
                None => None,
            };
            let d = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| b - a);
            (d(s0, s1), d(p0, p1), d(c0, c1), d(b0, b1), window, statements)
        })
    };

    match a.rate {
        None => {
            let workers: Vec<_> = (0..a.clients)
                .map(|id| {
                    let shared = shared.clone();
                    tokio::spawn(async move {
                        while Instant::now() < t_end {
                            if shared.one(id).await.is_none() {
                                break;
                            }
                        }
                    })
                })
                .collect();
            for w in workers {
                let _ = w.await;
            }
        }
        Some(rate) => {
            // Open loop: one request every 1/rate s, each on its own task; past max_in_flight
            // requests waiting for an answer, the generator itself is the limit (counted).
            let in_flight = Arc::new(tokio::sync::Semaphore::new(a.max_in_flight));
            let mut sent = 0u64;
            let mut tick = tokio::time::interval(Duration::from_millis(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            'outer: while Instant::now() < t_end {
                tick.tick().await;
                let due = (t0.elapsed().as_secs_f64() * rate) as u64;
                while sent < due {
                    sent += 1;
                    let Ok(permit) = in_flight.clone().try_acquire_owned() else {
                        shared.not_sent.fetch_add(1, Ordering::Relaxed);
                        continue;
                    };
                    let task_shared = shared.clone();
                    let id = sent as usize;
                    tokio::spawn(async move {
                        task_shared.one(id).await;
                        drop(permit);
                    });
                    if shared.exhausted_us.load(Ordering::Relaxed) != 0 {
                        break 'outer;
                    }
                }
            }
            // Every request has ended (answered or timed out) once all permits are back.
            let _all = in_flight.acquire_many(a.max_in_flight as u32).await;
            let not_sent = shared.not_sent.load(Ordering::Relaxed);
            if not_sent > 0 {
                eprintln!(
                    "flow {}: {not_sent} requests not sent: {} already in flight",
                    a.flow.name(),
                    a.max_in_flight
                );
            }
        }
    }
    let (server_cpu, provider_cpu, client_cpu, busy, cpu_window, pg) =
        cpu_edges.await.unwrap_or((None, None, None, None, a.seconds, None));
    shared.stop.store(true, Ordering::Relaxed);
    let rss_max_kib = sampler.await.unwrap_or(0);
    let vmhwm_kib: Option<u64> = a.server_pids.iter().map(|&p| proc_status_kib(p, "VmHWM:")).max().flatten();

    // Classify: warm-up, window, late.
    let warm_us = (t_warm - t0).as_micros() as u64;
    let exhausted = shared.exhausted_us.load(Ordering::Relaxed);
    let end_us =
        if exhausted > 0 { exhausted.min((t_end - t0).as_micros() as u64) } else { (t_end - t0).as_micros() as u64 };
    let window_s = (end_us.saturating_sub(warm_us)) as f64 / 1e6;
    let recs = std::mem::take(&mut *shared.recs.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
    let success = a.flow.success();
    let mut lat = Vec::with_capacity(recs.len());
    let mut lat_all_max = 0u32;
    let mut statuses: BTreeMap<String, u64> = BTreeMap::new();
    let mut warmup: BTreeMap<String, u64> = BTreeMap::new();
    let (mut ok, mut late, mut ok_total, mut r503, mut r503_retry) = (0u64, 0u64, 0u64, 0u64, 0u64);
    // Closed loop: a request counts where it ended. Open loop: where it was sent, whenever
    // its answer came (queued answers after the window are the point of an overload test).
    let open = a.rate.is_some();
    for r in &recs {
        if r.status == success {
            ok_total += 1;
        }
        let at = if open { r.start_us } else { r.end_us };
        if r.status == 503 {
            r503 += 1;
            r503_retry += u64::from(r.retry_after);
        }
        if at < warm_us {
            *warmup.entry(status_key(r.status)).or_default() += 1;
        } else if at > end_us {
            late += 1;
        } else {
            lat_all_max = lat_all_max.max(r.lat_us);
            if r.status == success {
                ok += 1;
                lat.push(r.lat_us);
            } else {
                *statuses.entry(status_key(r.status)).or_default() += 1;
            }
        }
    }
    lat.sort_unstable();
    let pct = |p: f64| -> Option<f64> {
        if lat.is_empty() {
            return None;
        }
        let rank = ((p / 100.0) * lat.len() as f64).ceil().max(1.0) as usize;
        Some(round(f64::from(lat[rank - 1]) / 1000.0, 2))
    };
    let mean =
        (!lat.is_empty()).then(|| round(lat.iter().map(|&v| f64::from(v)).sum::<f64>() / lat.len() as f64 / 1000.0, 2));
    let errors: u64 = statuses.values().sum();
    let rate = if window_s > 0.0 { ok as f64 / window_s } else { 0.0 };
    let other_cpu = busy
        .map(|b| (b - server_cpu.unwrap_or(0.0) - client_cpu.unwrap_or(0.0) - provider_cpu.unwrap_or(0.0)).max(0.0));
    let samples = shared.samples.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
    let not_sent = shared.not_sent.load(Ordering::Relaxed);
    let samples: BTreeMap<String, String> = samples.into_iter().map(|(k, v)| (status_key(k), v)).collect();

    // Per successful request, scaled to the request window (the CPU window may differ slightly).
    let per_ok = |calls: i64| round(calls as f64 * window_s / cpu_window.max(1e-9) / ok.max(1) as f64, 3);
    let pg_per_ok = pg.as_ref().filter(|_| ok > 0).map(|p| per_ok(p.0));
    let pg_top: Option<Vec<Value>> =
        pg.as_ref().map(|p| p.1.iter().map(|(c, q)| Value::Array(vec![json!(per_ok(*c)), json!(q)])).collect());
    eprintln!(
        "flow {} run {} ({}): {} {}: {} ok in {:.1} s = {:.1}/s, {} errors, p50 {} p99 {} max {} ms, server CPU {} ms/req",
        a.flow.name(),
        a.run,
        a.label,
        a.rate.map_or_else(|| format!("{} clients", a.clients), |r| format!("open loop {r}/s")),
        a.urls.len(),
        ok,
        window_s,
        rate,
        errors,
        f(pct(50.0), 1),
        f(pct(99.0), 1),
        f(pct(100.0), 1),
        f(server_cpu.filter(|_| ok > 0).map(|c| 1000.0 * c * window_s / cpu_window / ok as f64), 3),
    );
    for (status, n) in &statuses {
        eprintln!("  status {status}: {n}, sample: {}", samples.get(status).map_or("", String::as_str));
    }
    println!(
        "{}",
        json!({
            "kind": "flow",
            "flow": a.flow.name(),
            "label": a.label,
            "run": a.run,
            "urls": a.urls,
            "clients": a.clients,
            "rate": a.rate,
            "warmup_s": a.warmup,
            "seconds": round(window_s, 3),
            "seconds_asked": a.seconds,
            "setup_s": round(setup_s, 2),
            "pool": pool_size,
            "setup_sessions": setup_sessions,
            "codes_issued": codes_issued,
            "ok": ok,
            "errors": errors,
            "total": ok + errors,
            "per_sec": round(rate, 2),
            "p50_ms": pct(50.0),
            "p90_ms": pct(90.0),
            "p99_ms": pct(99.0),
            "max_ms": pct(100.0),
            "mean_ms": mean,
            "max_any_ms": round(f64::from(lat_all_max) / 1000.0, 2),
            "statuses": statuses,
            "samples": samples,
            "warmup_statuses": warmup,
            "late": late,
            "ok_all_phases": ok_total,
            "answers_503": r503,
            "answers_503_with_retry_after": r503_retry,
            "not_sent": not_sent,
            "rss_max_kib": rss_max_kib,
            "vmhwm_kib": vmhwm_kib,
            "cpu_window_s": round(cpu_window, 3),
            "server_cpu_s": server_cpu.map(|v| round(v, 3)),
            "provider_cpu_s": provider_cpu.map(|v| round(v, 3)),
            "client_cpu_s": client_cpu.map(|v| round(v, 3)),
            "other_cpu_s": other_cpu.map(|v| round(v, 3)),
            // PostgreSQL statements in the window (every one the database ran, BEGIN and COMMIT
            // included, and the delivery worker's polls), per successful request.
            "pg_statements": pg.as_ref().map(|p| p.0),
            "pg_statements_per_ok": pg_per_ok,
            "pg_top": pg_top,
        })
    );
    std::process::ExitCode::SUCCESS
}
