//! GCRA rate-limit state: one atomic upsert per hit.

use async_trait::async_trait;
use doorway_core::Timestamp;
use doorway_core::rate_limit::Gcra;
use doorway_core::store::{RateLimitStore, StoreResult};

use super::{PgStore, SqliteStore};

macro_rules! rate_limits {
    ($store:ident, $tx:ident, $backend:literal, $claim:expr, $row_lock:literal) => {
        #[async_trait]
        impl RateLimitStore for $store {
            async fn rate_limit_hit(&self, key: &str, now: Timestamp, gcra: Gcra) -> StoreResult<(bool, i64)> {
                // GCRA in one statement (the row lock of the upsert serialises instances):
                // next = max(tat, now) + interval; allowed when next - now <= capacity.
                // Every SET expression reads the old row, so `allowed` and `tat` agree.
                fetch_one!(
                    (bool, i64),
                    self,
                    "INSERT INTO rate_limit_tats (key, tat, allowed) VALUES ($1, $2 + $3, TRUE)
                     ON CONFLICT (key) DO UPDATE SET
                         allowed = (CASE WHEN rate_limit_tats.tat > $2 THEN rate_limit_tats.tat ELSE $2 END)
                                   + $3 - $2 <= $4,
                         tat = CASE WHEN (CASE WHEN rate_limit_tats.tat > $2 THEN rate_limit_tats.tat ELSE $2 END)
                                         + $3 - $2 <= $4
                                    THEN (CASE WHEN rate_limit_tats.tat > $2 THEN rate_limit_tats.tat ELSE $2 END) + $3
                                    ELSE rate_limit_tats.tat END
                     RETURNING allowed, tat",
                    key,
                    now.millis(),
                    gcra.interval_ms,
                    gcra.capacity_ms,
                )
            }

            async fn purge_rate_limits(&self, before: i64) -> StoreResult<u64> {
                exec!(self, "DELETE FROM rate_limit_tats WHERE tat < $1", before)
            }
        }
    };
}

for_both_engines!(rate_limits);
