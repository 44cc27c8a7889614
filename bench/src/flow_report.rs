//! `doorway-bench flow-report`: markdown tables from bench/flows.sh's JSON lines — one row per
//! (scenario label, flow) with medians over runs, the flow's limit from the same runs and the
//! ratio; then errors by status, overload answers, and the row counts after each run.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use serde_json::Value;

use super::{f, median};

const ORDER: [&str; 7] = ["jwks", "me", "email-signup", "oauth-signup", "refresh", "sign-out", "password-signup"];

fn flow_rank(flow: &str) -> usize {
    ORDER.iter().position(|f| *f == flow).unwrap_or(ORDER.len())
}

fn col(vs: &[&Value], k: &str) -> Vec<f64> {
    vs.iter().filter_map(|v| v[k].as_f64()).collect()
}

fn max_of(v: Vec<f64>) -> Option<f64> {
    v.into_iter().fold(None, |a: Option<f64>, b| Some(a.map_or(b, |a| a.max(b))))
}

/// Server CPU ms per successful request of one run.
fn cpu_ms(v: &Value, key: &str) -> Option<f64> {
    let cpu = v[key].as_f64()?;
    let ok = v["ok"].as_f64().filter(|n| *n > 0.0)?;
    let scale = v["seconds"].as_f64()? / v["cpu_window_s"].as_f64().filter(|w| *w > 0.0)?;
    Some(1000.0 * cpu * scale / ok)
}

pub fn report(file: &Path, commit: &str, machine: &str) -> ExitCode {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("flow-report: {}: {e}", file.display());
            return ExitCode::FAILURE;
        }
    };
    let lines: Vec<Value> = text.lines().filter_map(|l| serde_json::from_str(l.trim()).ok()).collect();
    let flows: Vec<&Value> = lines.iter().filter(|v| v["kind"] == "flow").collect();
    if flows.is_empty() {
        eprintln!("flow-report: no flow results in {}", file.display());
        return ExitCode::FAILURE;
    }
    // Limits by (engine, flow); the password sign-up's is the raw hash rate.
    let mut limits: BTreeMap<(String, String), Vec<&Value>> = BTreeMap::new();
    for v in &lines {
        if v["kind"] == "limit" {
            let engine = v["engine"].as_str().unwrap_or("").to_owned();
            limits.entry((engine, v["flow"].as_str().unwrap_or("").to_owned())).or_default().push(v);
        } else if v["kind"] == "hashrate"
            && let Some(engine) = v["phase"].as_str().and_then(|p| p.strip_prefix("limit-"))
        {
            limits.entry((engine.to_owned(), "password-signup".to_owned())).or_default().push(v);
        }
    }
    let limit_rate = |v: &Value| v["per_sec"].as_f64().or_else(|| v["hashes_per_sec"].as_f64());

    let mut groups: BTreeMap<(String, usize, String), Vec<&Value>> = BTreeMap::new();
    for v in &flows {
        let label = v["label"].as_str().unwrap_or("").to_owned();
        let flow = v["flow"].as_str().unwrap_or("").to_owned();
        groups.entry((label, flow_rank(&flow), flow)).or_default().push(v);
    }

    let mut out = String::new();
    let _ = writeln!(
        out,
        "| flow | scenario | runs | req/s (median) | limit/s (median) | ratio | per-run ratios | p50 ms | p90 ms | p99 ms | max ms | errors | statements/req | server CPU ms/req | provider CPU ms/req | peak RSS MiB | other CPU % (incl. PostgreSQL) |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    let mut by_status: BTreeMap<(String, String, String), (u64, String)> = BTreeMap::new();
    let mut noisy = false;
    for ((label, _, flow), vs) in &groups {
        let engine = label.split('-').next().unwrap_or("").to_owned();
        let lim = limits.get(&(engine.clone(), flow.clone()));
        let m_rate = median(col(vs, "per_sec"));
        let m_lim = lim.and_then(|l| median(l.iter().filter_map(|v| limit_rate(v)).collect()));
        let per_run: Vec<f64> = vs
            .iter()
            .filter_map(|v| {
                let run = v["run"].as_u64()?;
                let l = lim?.iter().filter(|l| l["run"].as_u64() == Some(run)).filter_map(|l| limit_rate(l)).next()?;
                Some(v["per_sec"].as_f64()? / l)
            })
            .collect();
        let errors: u64 = vs.iter().filter_map(|v| v["errors"].as_u64()).sum();
        let total: u64 = vs.iter().filter_map(|v| v["total"].as_u64()).sum();
        // Counted: PostgreSQL's own count over the window; else the flow's list in statements.rs.
        let listed = lines.iter().find(|v| v["kind"] == "statements" && v["flow"].as_str() == Some(flow.as_str()));
        let statements = median(col(vs, "pg_statements_per_ok"))
            .map(|s| format!("{s:.1} (pg_stat_statements)"))
            .or_else(|| {
                listed.and_then(|l| {
                    let n = l["statements"].as_u64()?;
                    Some(if l["transaction"] == true { format!("{n} + BEGIN/COMMIT") } else { n.to_string() })
                })
            })
            .unwrap_or_else(|| if flow == "jwks" { "0".into() } else { "–".into() });
        let other: Vec<f64> =
            vs.iter().filter_map(|v| Some(100.0 * v["other_cpu_s"].as_f64()? / v["cpu_window_s"].as_f64()?)).collect();
        // On PostgreSQL the database runs on the same machine: its CPU is "other", not noise.
        if engine != "postgres" && other.iter().any(|p| *p > 10.0) {
            noisy = true;
        }
        let _ = writeln!(
            out,
            "| {flow} | {label} | {} | **{}** | {} | {} | {} | {} | {} | {} | {} | {errors} of {total} | {statements} | {} | {} | {} | {} |",
            vs.len(),
            f(m_rate, 0),
            f(m_lim, 0),
            f(m_rate.zip(m_lim).map(|(a, b)| a / b), 2),
            per_run.iter().map(|r| format!("{r:.2}")).collect::<Vec<_>>().join(", "),
            f(median(col(vs, "p50_ms")), 1),
            f(median(col(vs, "p90_ms")), 1),
            f(median(col(vs, "p99_ms")), 1),
            f(max_of(col(vs, "max_ms")), 1),
            f(median(vs.iter().filter_map(|v| cpu_ms(v, "server_cpu_s")).collect()), 3),
            f(median(vs.iter().filter_map(|v| cpu_ms(v, "provider_cpu_s")).collect()), 3),
            f(max_of(col(vs, "vmhwm_kib")).map(|k| k / 1024.0), 1),
            f(max_of(other), 0),
        );
        for v in vs {
            if let Some(m) = v["statuses"].as_object() {
                for (k, n) in m {
                    let e = by_status.entry((label.clone(), flow.clone(), k.clone())).or_default();
                    e.0 += n.as_u64().unwrap_or(0);
                    if e.1.is_empty() {
                        e.1 = v["samples"][k].as_str().unwrap_or("").to_owned();
                    }
                }
            }
        }
    }
    println!("### Flows\n\ncommit `{commit}`; {machine}\n\n{out}");
    if noisy {
        println!(
            "Note: other processes used more than 10% of a core during some runs (\"other CPU %\"); \
             those numbers are disturbed. Re-run on a quiet machine.\n"
        );
    }

    // Limits alone.
    if !limits.is_empty() {
        println!(
            "### Limits (same runs)\n\n| flow | engine | runs | ops/s (median) | statements | p50 ms | p99 ms | CPU ms/op (this process / whole machine) |\n|---|---|---|---|---|---|---|---|"
        );
        let mut keys: Vec<_> = limits.keys().cloned().collect();
        keys.sort_by_key(|(e, fl)| (e.clone(), flow_rank(fl), fl.clone()));
        for k in keys {
            let vs = &limits[&k];
            let per_op = |key: &str| {
                median(
                    vs.iter()
                        .filter_map(|v| Some(1000.0 * v[key].as_f64()? / v["ops"].as_f64().filter(|n| *n > 0.0)?))
                        .collect(),
                )
            };
            println!(
                "| {} | {} | {} | {} | {} | {} | {} | {} / {} |",
                k.1,
                k.0,
                vs.len(),
                f(median(vs.iter().filter_map(|v| limit_rate(v)).collect()), 0),
                vs[0]["statements"].as_u64().map_or_else(|| "argon2id hash".to_owned(), |n| n.to_string()),
                f(median(col(vs, "p50_ms")), 2),
                f(median(col(vs, "p99_ms")), 2),
                f(per_op("self_cpu_s"), 3),
                f(per_op("busy_cpu_s"), 3),
            );
        }
        println!();
    }

    if !by_status.is_empty() {
        println!("### Errors by status\n\n| scenario | flow | status | count | sample body |\n|---|---|---|---|---|");
        for ((label, flow, k), (n, body)) in &by_status {
            println!("| {label} | {flow} | {k} | {n} | `{}` |", body.replace('|', "\\|").replace('\n', " "));
        }
        println!();
    }

    // Overload answers: what came back at all (503s, their Retry-After, timeouts).
    let overload: Vec<&&Value> =
        flows.iter().filter(|v| v["rate"].is_number() || v["clients"].as_u64() > Some(16)).collect();
    if !overload.is_empty() {
        println!(
            "### Overload\n\n| flow | scenario | run | sent | 2xx/s | 503 (with Retry-After) | timeouts | other errors | slowest answer ms | not sent (generator) | peak RSS MiB (VmHWM) |\n|---|---|---|---|---|---|---|---|---|---|---|"
        );
        for v in overload {
            let statuses = v["statuses"].as_object();
            let n = |k: &str| statuses.and_then(|m| m.get(k)).and_then(Value::as_u64).unwrap_or(0);
            let other = v["errors"].as_u64().unwrap_or(0) - n("503") - n("timeout");
            println!(
                "| {} | {} | {} | {} | {} | {} ({}) | {} | {} | {} | {} | {} |",
                v["flow"].as_str().unwrap_or(""),
                v["label"].as_str().unwrap_or(""),
                v["run"],
                v["total"],
                f(v["per_sec"].as_f64(), 0),
                v["answers_503"],
                v["answers_503_with_retry_after"],
                n("timeout"),
                other,
                f(v["max_any_ms"].as_f64(), 0),
                v["not_sent"],
                f(v["vmhwm_kib"].as_f64().map(|k| k / 1024.0), 1),
            );
        }
        println!();
    }

    // What was kept: rows against 2xx answers of the same run and flow.
    let counts: Vec<&Value> = lines.iter().filter(|v| v["kind"] == "count").collect();
    if !counts.is_empty() {
        println!(
            "### Rows after the run\n\n| flow | scenario | run | 2xx answers (all phases) + setup sessions | users | sessions revoked | refresh tokens used | duplicate addresses | events | webhook deliveries: delivered / pending | provider: received / unique / duplicates | outbox drained, s after the window | 2xx/s until the last delivery |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|"
        );
        for c in counts {
            let same = |v: &&&Value| v["run"] == c["run"] && v["flow"] == c["flow"];
            let label = c["label"].as_str().unwrap_or("");
            let base = label.trim_end_matches("-overload");
            let of_run: Vec<&&Value> = flows
                .iter()
                .filter(same)
                .filter(|v| {
                    v["label"].as_str().is_some_and(|l| {
                        l == label || l.starts_with(&format!("{base}-")) && label.ends_with("-overload")
                    })
                })
                .collect();
            let ok: u64 = of_run.iter().filter_map(|v| v["ok_all_phases"].as_u64()).sum();
            let setup: u64 = of_run.iter().filter_map(|v| v["setup_sessions"].as_u64()).sum();
            let p = &c["provider"];
            // With webhooks, a flow is done when its events are delivered too: an instance
            // whose deliveries fall behind leaves part of its work for after the window.
            let drained = c["waited_s"].as_f64();
            let single = of_run.iter().find(|v| v["label"].as_str() == Some(label));
            let end_to_end =
                single.zip(drained).and_then(|(v, waited)| Some(v["ok"].as_f64()? / (v["seconds"].as_f64()? + waited)));
            println!(
                "| {} | {label} | {} | {ok} + {setup} | {} | {} | {} | {} | {} | {} / {} | {} / {} / {} | {} | {} |",
                c["flow"].as_str().unwrap_or(""),
                c["run"],
                c["users"],
                c["sessions_revoked"],
                c["refresh_tokens_used"],
                c["duplicate_emails"],
                c["outbox_events"],
                c["webhook_delivered"],
                c["webhook_pending"],
                p["webhooks"],
                p["unique_webhooks"],
                p["duplicate_webhooks"],
                f(drained, 1),
                f(end_to_end, 0),
            );
        }
        println!();
    }
    ExitCode::SUCCESS
}
