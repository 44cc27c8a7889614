//! Small database helpers for bench/flows.sh: `sql` (run statements, e.g. CREATE DATABASE),
//! `count` (what a run left behind, to check that nothing was lost), and the PostgreSQL
//! statement counts of a flow's measured window (pg_stat_statements).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::limits::Db;

pub async fn sql(url: &str, statements: &[String]) -> ExitCode {
    let db = match Db::connect(url, Some(1)).await {
        Ok(db) => db,
        Err(e) => {
            eprintln!("sql: connect {url}: {e}");
            return ExitCode::FAILURE;
        }
    };
    for s in statements {
        let q = sqlx::AssertSqlSafe(s.clone());
        let r = match &db {
            Db::Sqlite(_, w) => w.batch(s).await.map_err(|e| sqlx::Error::Protocol(e.to_string())),
            Db::Postgres(p) => sqlx::raw_sql(q).execute(p).await.map(|_| ()),
        };
        if let Err(e) = r {
            eprintln!("sql: {s}: {e}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

async fn scalar(db: &Db, q: &'static str) -> Option<i64> {
    match db {
        Db::Sqlite(_, w) => w.scalar(q).await.ok(),
        Db::Postgres(p) => sqlx::query_scalar::<_, i64>(q).fetch_one(p).await.ok(),
    }
}

/// Row counts after a run; with `wait_deliveries`, first waits (up to that many seconds) until
/// no webhook delivery is pending; with `provider`, adds the fake provider's receipt counts.
pub async fn count(
    url: &str,
    wait_deliveries: f64,
    provider: Option<&str>,
    run: u32,
    flow: &str,
    label: &str,
) -> ExitCode {
    let db = match Db::connect(url, Some(2)).await {
        Ok(db) => db,
        Err(e) => {
            eprintln!("count: connect {url}: {e}");
            return ExitCode::FAILURE;
        }
    };
    const PENDING: &str = "SELECT COUNT(*) FROM deliveries WHERE kind = 'webhook' AND status = 'pending'";
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(wait_deliveries);
    let mut pending = scalar(&db, PENDING).await;
    while pending.unwrap_or(0) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        pending = scalar(&db, PENDING).await;
    }
    let waited = start.elapsed().as_secs_f64();
    let mut out = json!({
        "kind": "count",
        "run": run,
        "flow": flow,
        "label": label,
        "users": scalar(&db, "SELECT COUNT(*) FROM users").await,
        "sessions": scalar(&db, "SELECT COUNT(*) FROM sessions").await,
        "sessions_revoked": scalar(&db, "SELECT COUNT(*) FROM sessions WHERE revoked_at IS NOT NULL").await,
        "refresh_tokens_used": scalar(&db, "SELECT COUNT(*) FROM refresh_tokens WHERE used_at IS NOT NULL").await,
        "duplicate_emails": scalar(&db, "SELECT COUNT(*) FROM (SELECT email FROM users WHERE email IS NOT NULL GROUP BY project_id, email HAVING COUNT(*) > 1) d").await,
        "outbox_events": scalar(&db, "SELECT COUNT(*) FROM outbox").await,
        "webhook_deliveries": scalar(&db, "SELECT COUNT(*) FROM deliveries WHERE kind = 'webhook'").await,
        "webhook_delivered": scalar(&db, "SELECT COUNT(*) FROM deliveries WHERE kind = 'webhook' AND status = 'delivered'").await,
        "webhook_pending": pending,
        "waited_s": (waited * 10.0).round() / 10.0,
    });
    if let Some(p) = provider {
        let stats: Option<Value> = match reqwest::get(format!("{p}/stats")).await {
            Ok(r) => r.json().await.ok(),
            Err(_) => None,
        };
        out["provider"] = stats.unwrap_or(Value::Null);
    }
    eprintln!("count ({label}, {flow}): {out}");
    println!("{out}");
    ExitCode::SUCCESS
}

/// pg_stat_statements over a flow's measured window: reset at its start, read at its end.
pub struct PgStats {
    pool: sqlx::PgPool,
}

impl PgStats {
    pub async fn connect(url: &str) -> Option<PgStats> {
        match sqlx::postgres::PgPoolOptions::new().max_connections(1).connect(url).await {
            Ok(pool) => Some(PgStats { pool }),
            Err(e) => {
                eprintln!("flow: pg_stat_statements: connect: {e}");
                None
            }
        }
    }

    pub async fn reset(&self) {
        if let Err(e) = sqlx::query("SELECT pg_stat_statements_reset()").execute(&self.pool).await {
            eprintln!("flow: pg_stat_statements_reset: {e}");
        }
    }

    /// (total calls in this database, the 30 most called statements).
    pub async fn read(&self) -> Option<(i64, Vec<(i64, String)>)> {
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT calls, query FROM pg_stat_statements
             WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
               AND query NOT LIKE '%pg_stat_statements%'
             ORDER BY calls DESC",
        )
        .fetch_all(&self.pool)
        .await
        .inspect_err(|e| eprintln!("flow: pg_stat_statements: {e}"))
        .ok()?;
        let total = rows.iter().map(|r| r.0).sum();
        let top = rows
            .into_iter()
            .take(30)
            .map(|(c, q)| (c, q.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(160).collect()))
            .collect();
        Some((total, top))
    }
}
