//! `doorway-bench`: the load generator behind `bench/signup.sh`.
//!
//! Sub-commands print one JSON object per line on stdout (machine readable) and human notes on
//! stderr. `report` reads those lines back and prints the markdown table.

#![recursion_limit = "256"]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::{Parser, Subcommand};
use serde_json::{Value, json};

mod dbtools;
mod flow_report;
mod flows;
mod limits;
mod provider;
mod sqlite_inline;
mod statements;

/// The server's default argon2id cost (OWASP minimum): m=19456 KiB, t=2, p=1, 32-byte output.
const M_COST_KIB: u32 = 19_456;
const T_COST: u32 = 2;
const P_COST: u32 = 1;
const OUT_LEN: usize = 32;
const SALT_LEN: usize = 16;

const PASSWORD: &str = "Secure#Pass123";
/// Linux exposes /proc CPU times in USER_HZ ticks, which is 100 on every supported arch.
const CLK_TCK: f64 = 100.0;

#[derive(Parser)]
#[command(about = "Doorway sign-up load generator and argon2id hash-rate probe")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Raw argon2id hash rate on N OS threads (default: all cores), server defaults.
    Hashrate {
        #[arg(long, default_value_t = 8.0)]
        seconds: f64,
        #[arg(long, default_value_t = 1.0)]
        warmup: f64,
        /// Threads (default: available parallelism, i.e. nproc).
        #[arg(long)]
        threads: Option<usize>,
        /// Run number, copied into the JSON line.
        #[arg(long, default_value_t = 1)]
        run: u32,
        /// Label copied into the JSON line (signup.sh measures "before" and "after" each load).
        #[arg(long, default_value = "before")]
        phase: String,
        /// Allocate the 19 MiB block memory for every hash instead of keeping it per thread
        /// (the server keeps it, so the default is the true upper bound).
        #[arg(long)]
        fresh_memory: bool,
    },
    /// Closed-loop sign-up load: each client sends its next request when the last one answers.
    Load {
        /// Base URL of the server, e.g. http://127.0.0.1:8080
        #[arg(long)]
        url: String,
        #[arg(long, default_value = "/api/auth/sign-up")]
        path: String,
        #[arg(long, default_value_t = 16)]
        clients: usize,
        #[arg(long, default_value_t = 20.0)]
        seconds: f64,
        #[arg(long, default_value_t = 2.0)]
        warmup: f64,
        /// Server process id: sample its VmRSS every 100 ms, read VmHWM and CPU time.
        #[arg(long)]
        server_pid: Option<u32>,
        #[arg(long, default_value_t = 1)]
        run: u32,
    },
    /// Wait until GET URL answers 200 (exit 1 on timeout or if --pid dies first).
    Wait {
        #[arg(long)]
        url: String,
        #[arg(long, default_value_t = 60.0)]
        timeout: f64,
        #[arg(long)]
        pid: Option<u32>,
    },
    /// Print a free TCP port on 127.0.0.1.
    FreePort,
    /// Run the fake OpenID Connect provider and webhook receiver (see provider.rs).
    Provider {
        #[arg(long)]
        port: u16,
        /// RSA key size of the ID-token signing key.
        #[arg(long, default_value_t = 1024)]
        rsa_bits: usize,
    },
    /// Load on one flow (see flows.rs); one JSON line.
    Flow {
        #[arg(long, value_enum)]
        flow: flows::Flow,
        /// Base URL of a server; repeat for several instances (clients spread round-robin).
        #[arg(long, required = true)]
        url: Vec<String>,
        #[arg(long, default_value_t = 16)]
        clients: usize,
        /// Open loop: requests per second, sent whatever the answers (overload).
        #[arg(long)]
        rate: Option<f64>,
        /// Open loop: requests waiting for an answer at most; past it the generator skips
        /// (counted). Default: 20,000, or a third of this process's open-file limit: each request
        /// in flight holds a connection, the client's pool connects more in the background and
        /// keeps idle ones for each source address (past the limit connects fail with EMFILE).
        #[arg(long)]
        max_in_flight: Option<usize>,
        #[arg(long, default_value_t = 20.0)]
        seconds: f64,
        #[arg(long, default_value_t = 2.0)]
        warmup: f64,
        /// sign-out: seconds of setup making the sessions it ends.
        #[arg(long, default_value_t = 20.0)]
        prep_seconds: f64,
        /// Per-request timeout, seconds.
        #[arg(long, default_value_t = 30.0)]
        timeout: f64,
        /// Server process ids (CPU time summed, RSS summed, VmHWM max).
        #[arg(long, value_delimiter = ',')]
        server_pid: Vec<u32>,
        #[arg(long)]
        provider_pid: Option<u32>,
        /// The fake provider's base URL: `oauth-signup` has its codes issued there first.
        #[arg(long)]
        provider_url: Option<String>,
        #[arg(long, default_value_t = 1)]
        run: u32,
        /// Free text copied into the JSON line (engine, scenario).
        #[arg(long, default_value = "")]
        label: String,
        /// PostgreSQL database the server uses: count its statements over the window
        /// (pg_stat_statements, which must be loaded).
        #[arg(long)]
        pg_stats_url: Option<String>,
    },
    /// A flow's limit without HTTP (see limits.rs); one JSON line. `--check` runs every flow once.
    Limit {
        #[arg(long, value_enum, required_unless_present = "check")]
        flow: Option<limits::LimitFlow>,
        #[arg(long)]
        database_url: String,
        #[arg(long, default_value_t = 16)]
        clients: usize,
        #[arg(long, default_value_t = 20.0)]
        seconds: f64,
        #[arg(long, default_value_t = 2.0)]
        warmup: f64,
        /// sign-out: seconds of setup making the sessions it ends.
        #[arg(long, default_value_t = 10.0)]
        prep_seconds: f64,
        #[arg(long, default_value_t = 1)]
        run: u32,
        #[arg(long, default_value = "")]
        label: String,
        /// Run every flow's statements once (schema check) and exit.
        #[arg(long)]
        check: bool,
    },
    /// Run SQL statements (one per argument) on a database.
    Sql {
        #[arg(long)]
        database_url: String,
        statements: Vec<String>,
    },
    /// Row counts after a run (JSON line), to check nothing was lost or duplicated.
    Count {
        #[arg(long)]
        database_url: String,
        /// Wait up to this many seconds for pending webhook deliveries to drain first.
        #[arg(long, default_value_t = 0.0)]
        wait_deliveries: f64,
        /// The fake provider's base URL: add its webhook receipt counts.
        #[arg(long)]
        provider: Option<String>,
        #[arg(long, default_value_t = 1)]
        run: u32,
        #[arg(long, default_value = "")]
        flow: String,
        #[arg(long, default_value = "")]
        label: String,
    },
    /// Markdown tables from bench/flows.sh's JSON lines.
    FlowReport {
        file: PathBuf,
        #[arg(long, default_value = "unknown")]
        commit: String,
        #[arg(long, default_value = "unknown")]
        machine: String,
    },
    /// Aggregate the JSON lines of `hashrate` and `load` into a markdown report.
    /// Exits 1 if any run has errors above --max-error-pct of its requests.
    Report {
        /// File with the JSON lines.
        file: PathBuf,
        #[arg(long, default_value = "unknown")]
        commit: String,
        #[arg(long, default_value = "unknown")]
        machine: String,
        #[arg(long, default_value_t = 1.0)]
        max_error_pct: f64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Hashrate { seconds, warmup, threads, run, phase, fresh_memory } => {
            hashrate(seconds, warmup, threads, run, &phase, fresh_memory)
        }
        Cmd::Load { url, path, clients, seconds, warmup, server_pid, run } => runtime().block_on(load(LoadArgs {
            url: format!("{}{}", url.trim_end_matches('/'), path),
            clients: clients.max(1),
            seconds,
            warmup,
            server_pid,
            run,
        })),
        Cmd::Wait { url, timeout, pid } => runtime().block_on(wait(url, timeout, pid)),
        Cmd::FreePort => match std::net::TcpListener::bind("127.0.0.1:0") {
            Ok(l) => {
                println!("{}", l.local_addr().expect("local addr").port());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("free-port: {e}");
                ExitCode::FAILURE
            }
        },
        Cmd::Provider { port, rsa_bits } => provider::run(port, rsa_bits),
        Cmd::Flow {
            flow,
            url,
            clients,
            rate,
            max_in_flight,
            seconds,
            warmup,
            prep_seconds,
            timeout,
            server_pid,
            provider_pid,
            provider_url,
            run,
            label,
            pg_stats_url,
        } => runtime().block_on(flows::run(flows::FlowArgs {
            flow,
            urls: url,
            clients: clients.max(1),
            rate,
            max_in_flight: max_in_flight.unwrap_or_else(default_max_in_flight),
            seconds,
            warmup,
            prep_seconds,
            timeout,
            server_pids: server_pid,
            provider_pid,
            provider_url,
            run,
            label,
            pg_stats_url,
        })),
        Cmd::Limit { flow, database_url, clients, seconds, warmup, prep_seconds, run, label, check } => {
            multi_thread_runtime().block_on(limits::run(limits::LimitArgs {
                flow,
                database_url,
                clients: clients.max(1),
                seconds,
                warmup,
                prep_seconds,
                run,
                label,
                check,
            }))
        }
        Cmd::Sql { database_url, statements } => runtime().block_on(dbtools::sql(&database_url, &statements)),
        Cmd::Count { database_url, wait_deliveries, provider, run, flow, label } => {
            runtime().block_on(dbtools::count(&database_url, wait_deliveries, provider.as_deref(), run, &flow, &label))
        }
        Cmd::FlowReport { file, commit, machine } => flow_report::report(&file, &commit, &machine),
        Cmd::Report { file, commit, machine, max_error_pct } => report(&file, &commit, &machine, max_error_pct),
    }
}

/// One thread: the generator must not steal CPU from the server it measures.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime")
}

/// The limits use every core, as the server would (no HTTP, no generator to leave room for).
fn multi_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime")
}

// ---------------------------------------------------------------------------------------------
// hashrate

fn hashrate(seconds: f64, warmup: f64, threads: Option<usize>, run: u32, phase: &str, fresh_memory: bool) -> ExitCode {
    use argon2::{Algorithm, Argon2, Block, Params, Version};
    use rand::RngCore;

    let threads = threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())).max(1);
    let params = Params::new(M_COST_KIB, T_COST, P_COST, Some(OUT_LEN)).expect("argon2 params");
    let barrier = Arc::new(std::sync::Barrier::new(threads));
    let busy0 = system_busy_secs();
    let self0 = proc_cpu_secs_self();
    let window = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let params = params.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let params_blocks = params.block_count();
                let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
                let mut rng = rand::rng();
                let mut salt = [0u8; SALT_LEN];
                let mut out = [0u8; OUT_LEN];
                // Like the server's hashing workers: one block buffer per thread, reused.
                let mut memory = vec![Block::default(); params_blocks];
                let mut one = |rng: &mut rand::rngs::ThreadRng| {
                    rng.fill_bytes(&mut salt);
                    if fresh_memory {
                        argon.hash_password_into(PASSWORD.as_bytes(), &salt, &mut out)
                    } else {
                        argon.hash_password_into_with_memory(PASSWORD.as_bytes(), &salt, &mut out, &mut memory)
                    }
                    .expect("argon2 hash");
                    std::hint::black_box(&out);
                };
                barrier.wait();
                let w_end = Instant::now() + Duration::from_secs_f64(warmup);
                while Instant::now() < w_end {
                    one(&mut rng);
                }
                barrier.wait();
                let start = Instant::now();
                let end = start + Duration::from_secs_f64(seconds);
                let mut n = 0u64;
                while Instant::now() < end {
                    one(&mut rng);
                    n += 1;
                }
                (n, start.elapsed().as_secs_f64())
            })
        })
        .collect();
    let per_thread: Vec<(u64, f64)> = handles.into_iter().map(|h| h.join().expect("thread")).collect();
    let hashes: u64 = per_thread.iter().map(|(n, _)| n).sum();
    let rate: f64 = per_thread.iter().map(|(n, s)| *n as f64 / s).sum();
    let elapsed = per_thread.iter().map(|(_, s)| *s).fold(0.0, f64::max);
    // CPU used by other processes while we hashed (a busy machine lowers the rate).
    let other_cpu_s = busy0
        .zip(system_busy_secs())
        .zip(self0.zip(proc_cpu_secs_self()))
        .map(|((b0, b1), (s0, s1))| ((b1 - b0) - (s1 - s0)).max(0.0));
    let window = window.elapsed().as_secs_f64();
    eprintln!(
        "hashrate: {threads} threads, {hashes} argon2id hashes in {elapsed:.2} s = {rate:.1}/s \
         ({:.1} ms per hash per thread); other processes used {} CPU s meanwhile",
        1000.0 * threads as f64 / rate,
        f(other_cpu_s, 2)
    );
    println!(
        "{}",
        json!({
            "kind": "hashrate",
            "run": run,
            "phase": phase,
            "threads": threads,
            "seconds": round(elapsed, 3),
            "hashes": hashes,
            "hashes_per_sec": round(rate, 2),
            "other_cpu_s": other_cpu_s.map(|v| round(v, 2)),
            "other_cpu_pct": other_cpu_s.map(|v| round(100.0 * v / window, 1)),
            "per_thread": per_thread.iter().map(|(n, s)| round(*n as f64 / s, 2)).collect::<Vec<_>>(),
            "fresh_memory": fresh_memory,
            "params": {"alg": "argon2id", "version": "0x13", "m_kib": M_COST_KIB, "t": T_COST, "p": P_COST, "out_len": OUT_LEN, "salt_len": SALT_LEN},
        })
    );
    ExitCode::SUCCESS
}

// ---------------------------------------------------------------------------------------------
// load

struct LoadArgs {
    url: String,
    clients: usize,
    seconds: f64,
    warmup: f64,
    server_pid: Option<u32>,
    run: u32,
}

#[derive(Default)]
struct ClientResult {
    /// Latencies (µs) of 201s that completed inside the measured window.
    latency_us: Vec<u32>,
    ok: u64,
    /// Non-201 outcomes inside the window, by status code (or "connection_error").
    errors: BTreeMap<String, u64>,
    /// Every outcome in the warm-up, by status.
    warmup: BTreeMap<String, u64>,
    /// First body seen per non-201 status (any phase).
    samples: BTreeMap<String, String>,
    /// Requests that completed after the window closed (not counted).
    late: u64,
}

async fn load(a: LoadArgs) -> ExitCode {
    let client = match reqwest::Client::builder()
        .pool_max_idle_per_host(a.clients)
        .pool_idle_timeout(Duration::from_secs(120))
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(60))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("load: client: {e}");
            return ExitCode::FAILURE;
        }
    };
    let nonce = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    let url: Arc<str> = a.url.clone().into();

    let t0 = Instant::now();
    let t_warm = t0 + Duration::from_secs_f64(a.warmup);
    let t_end = t_warm + Duration::from_secs_f64(a.seconds);

    // RSS sampler (whole run, every 100 ms) and CPU-time snapshots at the window edges.
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = a.server_pid.map(|pid| {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut max_rss = 0u64;
            let mut samples = 0u64;
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                if let Some(kib) = proc_status_kib(pid, "VmRSS:") {
                    max_rss = max_rss.max(kib);
                    samples += 1;
                }
            }
            (max_rss, samples)
        })
    });
    let cpu_edges = {
        let pid = a.server_pid;
        tokio::spawn(async move {
            tokio::time::sleep_until(t_warm.into()).await;
            let s0 = pid.and_then(proc_cpu_secs);
            let c0 = proc_cpu_secs_self();
            let b0 = system_busy_secs();
            tokio::time::sleep_until(t_end.into()).await;
            let s1 = pid.and_then(proc_cpu_secs);
            let c1 = proc_cpu_secs_self();
            let b1 = system_busy_secs();
            let d = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| b - a);
            (d(s0, s1), d(c0, c1), d(b0, b1))
        })
    };

    let tasks: Vec<_> = (0..a.clients)
        .map(|id| {
            let client = client.clone();
            let url = url.clone();
            tokio::spawn(async move { client_loop(client, url, id, nonce, t_warm, t_end).await })
        })
        .collect();
    let mut all = ClientResult::default();
    for t in tasks {
        match t.await {
            Ok(r) => {
                all.latency_us.extend(r.latency_us);
                all.ok += r.ok;
                all.late += r.late;
                for (k, v) in r.errors {
                    *all.errors.entry(k).or_default() += v;
                }
                for (k, v) in r.warmup {
                    *all.warmup.entry(k).or_default() += v;
                }
                for (k, v) in r.samples {
                    all.samples.entry(k).or_insert(v);
                }
            }
            Err(e) => eprintln!("load: client task failed: {e}"),
        }
    }
    let (server_cpu, client_cpu, busy) = cpu_edges.await.unwrap_or((None, None, None));
    // CPU used by everything else on the machine during the window (noise from other work).
    let other_cpu = busy.map(|b| (b - server_cpu.unwrap_or(0.0) - client_cpu.unwrap_or(0.0)).max(0.0));
    stop.store(true, Ordering::Relaxed);
    let (rss_max_kib, rss_samples) = match sampler {
        Some(h) => h.await.unwrap_or((0, 0)),
        None => (0, 0),
    };
    let vmhwm_kib = a.server_pid.and_then(|pid| proc_status_kib(pid, "VmHWM:"));

    let mut lat = std::mem::take(&mut all.latency_us);
    lat.sort_unstable();
    let pct = |p: f64| -> Option<f64> {
        if lat.is_empty() {
            return None;
        }
        let rank = ((p / 100.0) * lat.len() as f64).ceil().max(1.0) as usize;
        Some(round(lat[rank - 1] as f64 / 1000.0, 2))
    };
    let mean =
        (!lat.is_empty()).then(|| round(lat.iter().map(|&v| v as f64).sum::<f64>() / lat.len() as f64 / 1000.0, 2));
    let errors: u64 = all.errors.values().sum();
    let total = all.ok + errors;
    let rate = all.ok as f64 / a.seconds;

    eprintln!(
        "load run {}: {} clients, {:.0} s (+{:.0} s warm-up): {} x 201 = {:.1} sign-ups/s, {} errors, \
         p50 {} ms, p99 {} ms, CPU s: server {}, client {}, other processes {}",
        a.run,
        a.clients,
        a.seconds,
        a.warmup,
        all.ok,
        rate,
        errors,
        f(pct(50.0), 1),
        f(pct(99.0), 1),
        f(server_cpu, 2),
        f(client_cpu, 2),
        f(other_cpu, 2),
    );
    for (status, n) in &all.errors {
        eprintln!("  error status {status}: {n}, sample body: {}", all.samples.get(status).map_or("", String::as_str));
    }
    println!(
        "{}",
        json!({
            "kind": "load",
            "run": a.run,
            "url": a.url,
            "clients": a.clients,
            "warmup_s": a.warmup,
            "seconds": a.seconds,
            "ok": all.ok,
            "errors": errors,
            "total": total,
            "signups_per_sec": round(rate, 2),
            "p50_ms": pct(50.0),
            "p90_ms": pct(90.0),
            "p99_ms": pct(99.0),
            "max_ms": pct(100.0),
            "mean_ms": mean,
            "error_statuses": all.errors,
            "error_samples": all.samples,
            "warmup_statuses": all.warmup,
            "late": all.late,
            "server_pid": a.server_pid,
            "rss_max_kib": (rss_samples > 0).then_some(rss_max_kib),
            "rss_samples": rss_samples,
            "vmhwm_kib": vmhwm_kib,
            "server_cpu_s": server_cpu.map(|v| round(v, 2)),
            "client_cpu_s": client_cpu.map(|v| round(v, 2)),
            "other_cpu_s": other_cpu.map(|v| round(v, 2)),
        })
    );
    ExitCode::SUCCESS
}

async fn client_loop(
    client: reqwest::Client,
    url: Arc<str>,
    id: usize,
    nonce: u64,
    t_warm: Instant,
    t_end: Instant,
) -> ClientResult {
    let mut r = ClientResult { latency_us: Vec::with_capacity(4096), ..Default::default() };
    let mut seq = 0u64;
    loop {
        let start = Instant::now();
        if start >= t_end {
            break;
        }
        seq += 1;
        let mut body = String::with_capacity(112);
        let _ = write!(
            body,
            r#"{{"email":"b{nonce:x}-{id}-{seq}@bench.example.com","password":"{PASSWORD}","name":"Bench User"}}"#
        );
        let res = client.post(&*url).header(reqwest::header::CONTENT_TYPE, "application/json").body(body).send().await;
        let (key, ok, text) = match res {
            Ok(resp) => {
                let status = resp.status().as_u16();
                // Read the whole body so the connection goes back to the pool.
                match resp.bytes().await {
                    Ok(_) if status == 201 => (None, true, None),
                    Ok(b) => (Some(status.to_string()), false, Some(String::from_utf8_lossy(&b).into_owned())),
                    Err(e) => (Some("body_error".to_owned()), false, Some(e.to_string())),
                }
            }
            Err(e) => (Some("connection_error".to_owned()), false, Some(format!("{e:?}"))),
        };
        let end = Instant::now();
        if let (Some(k), Some(mut t)) = (&key, text)
            && !r.samples.contains_key(k)
        {
            t.truncate(t.floor_char_boundary(400));
            r.samples.insert(k.clone(), t);
        }
        let key_str = || key.clone().unwrap_or_else(|| "201".to_owned());
        if end < t_warm {
            *r.warmup.entry(key_str()).or_default() += 1;
        } else if end > t_end {
            r.late += 1;
        } else if ok {
            r.ok += 1;
            r.latency_us.push(u32::try_from((end - start).as_micros()).unwrap_or(u32::MAX));
        } else {
            *r.errors.entry(key_str()).or_default() += 1;
        }
        if key.as_deref() == Some("connection_error") {
            // Do not spin on a dead server.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    r
}

async fn wait(url: String, timeout: f64, pid: Option<u32>) -> ExitCode {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().expect("client");
    let deadline = Instant::now() + Duration::from_secs_f64(timeout);
    while Instant::now() < deadline {
        if let Some(pid) = pid
            && (!std::path::Path::new(&format!("/proc/{pid}")).exists() || proc_state(pid) == Some('Z'))
        {
            eprintln!("wait: server process {pid} exited before answering {url}");
            return ExitCode::FAILURE;
        }
        if let Ok(r) = client.get(&url).send().await
            && r.status() == 200
        {
            return ExitCode::SUCCESS;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("wait: {url} did not answer 200 within {timeout} s");
    ExitCode::FAILURE
}

// ---------------------------------------------------------------------------------------------
// /proc helpers

/// 20,000, or a third of this process's open-file limit.
fn default_max_in_flight() -> usize {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let open_files = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|soft| soft.parse::<usize>().ok());
    open_files.map_or(20_000, |n| (n / 3).clamp(64, 20_000))
}

fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with(field))?;
    line[field.len()..].trim().trim_end_matches("kB").trim().parse().ok()
}

/// Fields after the `(comm)` of /proc/PID/stat; index 0 is the state (field 3).
fn stat_fields(path: &str) -> Option<Vec<String>> {
    let s = std::fs::read_to_string(path).ok()?;
    let rest = &s[s.rfind(')')? + 1..];
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

fn cpu_from_stat(path: &str) -> Option<f64> {
    let f = stat_fields(path)?;
    // utime is field 14, stime field 15: indices 11 and 12 after the state.
    let ut: f64 = f.get(11)?.parse().ok()?;
    let st: f64 = f.get(12)?.parse().ok()?;
    Some((ut + st) / CLK_TCK)
}

fn proc_cpu_secs(pid: u32) -> Option<f64> {
    cpu_from_stat(&format!("/proc/{pid}/stat"))
}

fn proc_cpu_secs_self() -> Option<f64> {
    cpu_from_stat("/proc/self/stat")
}

/// CPU seconds spent busy by the whole machine (all cores), from the first line of /proc/stat.
fn system_busy_secs() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/stat").ok()?;
    let v: Vec<f64> = s.lines().next()?.split_whitespace().skip(1).map(|x| x.parse().unwrap_or(0.0)).collect();
    // user nice system idle iowait irq softirq steal (guest is already inside user)
    let busy = v.first()? + v.get(1)? + v.get(2)? + v.get(5)? + v.get(6)? + v.get(7).unwrap_or(&0.0);
    Some(busy / CLK_TCK)
}

fn proc_state(pid: u32) -> Option<char> {
    stat_fields(&format!("/proc/{pid}/stat"))?.first()?.chars().next()
}

fn round(v: f64, places: i32) -> f64 {
    let m = 10f64.powi(places);
    (v * m).round() / m
}

// ---------------------------------------------------------------------------------------------
// report

fn median(mut v: Vec<f64>) -> Option<f64> {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    Some(if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 })
}

fn f(v: Option<f64>, places: usize) -> String {
    v.map_or_else(|| "–".to_owned(), |x| format!("{x:.places$}"))
}

fn report(file: &PathBuf, commit: &str, machine: &str, max_error_pct: f64) -> ExitCode {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("report: {}: {e}", file.display());
            return ExitCode::FAILURE;
        }
    };
    let lines: Vec<Value> = text.lines().filter_map(|l| serde_json::from_str(l.trim()).ok()).collect();
    let of = |kind: &str| -> BTreeMap<u64, Value> {
        lines.iter().filter(|v| v["kind"] == kind).map(|v| (v["run"].as_u64().unwrap_or(0), v.clone())).collect()
    };
    let loads = of("load");
    // A run may measure the hash rate more than once (before and after its load): use the mean,
    // which brackets the load when the machine's speed drifts.
    let hashes: BTreeMap<u64, Value> = {
        let mut by_run: BTreeMap<u64, Vec<&Value>> = BTreeMap::new();
        for v in lines.iter().filter(|v| v["kind"] == "hashrate") {
            by_run.entry(v["run"].as_u64().unwrap_or(0)).or_default().push(v);
        }
        by_run
            .into_iter()
            .map(|(run, vs)| {
                let rates: Vec<f64> = vs.iter().filter_map(|v| v["hashes_per_sec"].as_f64()).collect();
                let mean = (!rates.is_empty()).then(|| rates.iter().sum::<f64>() / rates.len() as f64);
                let other = vs
                    .iter()
                    .filter_map(|v| v["other_cpu_pct"].as_f64())
                    .fold(None, |a: Option<f64>, b| Some(a.map_or(b, |a| a.max(b))));
                let v = json!({
                    "hashes_per_sec": mean,
                    "each": rates,
                    "other_cpu_pct": other,
                    "threads": vs[0]["threads"],
                });
                (run, v)
            })
            .collect()
    };
    let num = |v: &Value, k: &str| v[k].as_f64();

    let mut out = String::new();
    let _ = writeln!(
        out,
        "| run | sign-ups/s | hash rate/s (mean of before / after) | ratio | p50 ms | p90 ms | p99 ms | max ms | requests | errors | peak RSS MiB (VmHWM) | max sampled VmRSS MiB | server CPU % | client CPU % | other CPU % (load / hash, max) | server CPU ms per sign-up / per raw hash |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    let mut failed_runs = Vec::new();
    let runs: Vec<u64> =
        loads.keys().chain(hashes.keys()).copied().collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    for run in &runs {
        let l = loads.get(run).cloned().unwrap_or(Value::Null);
        let h = hashes.get(run).cloned().unwrap_or(Value::Null);
        let sps = num(&l, "signups_per_sec");
        let hr = num(&h, "hashes_per_sec");
        let secs = num(&l, "seconds").unwrap_or(f64::NAN);
        let total = l["total"].as_u64().unwrap_or(0);
        let errors = l["errors"].as_u64().unwrap_or(0);
        if !l.is_null() && (total == 0 || errors as f64 > total as f64 * max_error_pct / 100.0) {
            failed_runs.push(*run);
        }
        let mib = |k: &str| l[k].as_f64().map(|kib| kib / 1024.0);
        let cpu_pct = |k: &str| l[k].as_f64().map(|s| 100.0 * s / secs);
        let _ = writeln!(
            out,
            "| {run} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} / {} | {} / {} |",
            f(sps, 1),
            match h["each"].as_array().map(Vec::len) {
                Some(n) if n > 1 => format!(
                    "{} ({})",
                    f(hr, 1),
                    h["each"].as_array().unwrap().iter().map(|v| f(v.as_f64(), 1)).collect::<Vec<_>>().join(" / ")
                ),
                _ => f(hr, 1),
            },
            f(sps.zip(hr).map(|(a, b)| a / b), 2),
            f(num(&l, "p50_ms"), 1),
            f(num(&l, "p90_ms"), 1),
            f(num(&l, "p99_ms"), 1),
            f(num(&l, "max_ms"), 1),
            if l.is_null() { "–".to_owned() } else { total.to_string() },
            if l.is_null() { "–".to_owned() } else { errors.to_string() },
            f(mib("vmhwm_kib"), 1),
            f(mib("rss_max_kib"), 1),
            f(cpu_pct("server_cpu_s"), 0),
            f(cpu_pct("client_cpu_s"), 0),
            f(cpu_pct("other_cpu_s"), 0),
            f(num(&h, "other_cpu_pct"), 0),
            // CPU the server spends per sign-up against one hash on one core: the difference is
            // everything a sign-up does besides hashing.
            f(num(&l, "server_cpu_s").zip(num(&l, "ok")).filter(|(_, n)| *n > 0.0).map(|(c, n)| 1000.0 * c / n), 1),
            f(hr.zip(num(&h, "threads")).map(|(r, t)| 1000.0 * t / r), 1),
        );
    }
    let col = |m: &BTreeMap<u64, Value>, k: &str| -> Vec<f64> { m.values().filter_map(|v| v[k].as_f64()).collect() };
    let m_sps = median(col(&loads, "signups_per_sec"));
    let m_hr = median(col(&hashes, "hashes_per_sec"));
    let m_p50 = median(col(&loads, "p50_ms"));
    let m_p99 = median(col(&loads, "p99_ms"));
    let peak_hwm = col(&loads, "vmhwm_kib").into_iter().fold(None, |a: Option<f64>, b| Some(a.map_or(b, |a| a.max(b))));
    let peak_rss =
        col(&loads, "rss_max_kib").into_iter().fold(None, |a: Option<f64>, b| Some(a.map_or(b, |a| a.max(b))));
    let peak_mib = peak_hwm.or(peak_rss).map(|k| k / 1024.0);
    let ratio = m_sps.zip(m_hr).map(|(a, b)| a / b);
    let total: u64 = loads.values().filter_map(|v| v["total"].as_u64()).sum();
    let errors: u64 = loads.values().filter_map(|v| v["errors"].as_u64()).sum();
    let first = loads.values().next().cloned().unwrap_or(Value::Null);
    let threads = hashes.values().next().and_then(|v| v["threads"].as_u64());

    let mut summary = String::new();
    let _ = writeln!(summary, "| metric | value |");
    let _ = writeln!(summary, "|---|---|");
    let _ = writeln!(summary, "| sign-ups/s (median of {} runs) | **{}** |", loads.len(), f(m_sps, 1));
    let _ = writeln!(
        summary,
        "| raw argon2id hash rate/s on {} threads (median) | {} |",
        threads.map_or("?".to_owned(), |t| t.to_string()),
        f(m_hr, 1)
    );
    let _ = writeln!(
        summary,
        "| ratio sign-ups ÷ hash rate (goal ≥ 0.90) | **{}** {} |",
        f(ratio, 3),
        ratio.map_or("", |r| if r >= 0.9 { "(met)" } else { "(not met)" })
    );
    let run_ratios: Vec<f64> = loads
        .iter()
        .filter_map(|(run, l)| {
            let h = hashes.get(run)?;
            Some(l["signups_per_sec"].as_f64()? / h["hashes_per_sec"].as_f64()?)
        })
        .collect();
    let _ = writeln!(summary, "| ratio, median of the per-run ratios | {} |", f(median(run_ratios), 3));
    let _ = writeln!(summary, "| latency p50 (median) | {} ms |", f(m_p50, 1));
    let _ = writeln!(summary, "| latency p99 (median) | {} ms |", f(m_p99, 1));
    let _ = writeln!(
        summary,
        "| peak RSS, max over runs (goal ≤ 100 MiB) | **{} MiB** {} |",
        f(peak_mib, 1),
        peak_mib.map_or("", |m| if m <= 100.0 { "(met)" } else { "(not met)" })
    );
    let _ = writeln!(
        summary,
        "| errors | {errors} of {total} requests ({}%) |",
        if total == 0 { "–".to_owned() } else { format!("{:.2}", 100.0 * errors as f64 / total as f64) }
    );
    let _ = writeln!(summary, "| clients | {} |", first["clients"].as_u64().map_or("–".to_owned(), |c| c.to_string()));
    let _ = writeln!(
        summary,
        "| duration | {} s measured (+{} s warm-up) × {} runs |",
        first["seconds"].as_f64().map_or("–".to_owned(), |s| format!("{s}")),
        first["warmup_s"].as_f64().map_or("–".to_owned(), |s| format!("{s}")),
        loads.len()
    );
    let _ = writeln!(summary, "| commit | `{commit}` |");
    let _ = writeln!(summary, "| machine | {machine} |");

    println!("### Summary\n\n{summary}\n### Per run\n\n{out}");
    let noisy =
        loads.values().any(|l| l["other_cpu_s"].as_f64().zip(l["seconds"].as_f64()).is_some_and(|(c, s)| c / s > 0.10))
            || hashes.values().any(|h| h["other_cpu_pct"].as_f64().is_some_and(|p| p > 10.0));
    if noisy {
        println!(
            "Note: other processes used more than 10% of a core during some runs (\"other CPU %\"); \
             those numbers are disturbed. Re-run on a quiet machine.\n"
        );
    }
    // Error breakdown, with one body per status.
    let mut by_status: BTreeMap<String, (u64, String)> = BTreeMap::new();
    for l in loads.values() {
        if let Some(m) = l["error_statuses"].as_object() {
            for (k, v) in m {
                let e = by_status.entry(k.clone()).or_default();
                e.0 += v.as_u64().unwrap_or(0);
                if e.1.is_empty() {
                    e.1 = l["error_samples"][k].as_str().unwrap_or("").to_owned();
                }
            }
        }
    }
    if !by_status.is_empty() {
        println!("### Errors by status\n\n| status | count | sample body |\n|---|---|---|");
        for (k, (n, body)) in &by_status {
            println!("| {k} | {n} | `{}` |", body.replace('|', "\\|").replace('\n', " "));
        }
        println!();
    }
    if loads.is_empty() {
        eprintln!("report: no load results");
        return ExitCode::FAILURE;
    }
    if !failed_runs.is_empty() {
        eprintln!("report: runs {failed_runs:?} had errors above {max_error_pct}% of requests (or no requests)");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
