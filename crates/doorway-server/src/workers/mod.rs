//! Background work that outlives requests: delivering the outbox (webhooks, mail) and
//! housekeeping.

pub mod delivery;
pub mod mail;
pub mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use doorway_core::{Clock, Store};
use tokio::sync::watch;

/// Once a minute: drops rate-limit keys whose budget is full again (as good as absent) and
/// spent bot-check challenges past their expiry (refused by it anyway), deletes
/// signing keys past their retirement (nothing they signed or sealed is valid any more), and
/// deletes codes and round trips a day after they expired (kept that long for inspection), so
/// that guessing at unknown addresses or abandoned sign-ins cannot grow the tables for good.
pub async fn housekeeping(store: Arc<dyn Store>, clock: Arc<dyn Clock>, mut stop: watch::Receiver<bool>) {
    while !*stop.borrow() {
        let day_ago = clock.now().plus_seconds(-86_400);
        if let Err(e) = store.purge_verifications(day_ago).await {
            tracing::warn!(error = %e, "cannot purge expired verification codes");
        }
        if let Err(e) = store.purge_round_trips(day_ago).await {
            tracing::warn!(error = %e, "cannot purge expired OAuth round trips");
        }
        // Unfinished passkey ceremonies hold nothing worth inspecting.
        if let Err(e) = store.purge_passkey_ceremonies(clock.now()).await {
            tracing::warn!(error = %e, "cannot purge expired passkey ceremonies");
        }
        if let Err(e) = store.purge_rate_limits(clock.now().millis()).await {
            tracing::warn!(error = %e, "cannot purge old rate-limit buckets");
        }
        if let Err(e) = store.purge_spent_bot_challenges(clock.now()).await {
            tracing::warn!(error = %e, "cannot purge spent bot-check challenges");
        }
        match store.purge_retired_keys(clock.now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!("deleted {n} retired signing key(s)"),
            Err(e) => tracing::warn!(error = %e, "cannot delete retired signing keys"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(60)) => {}
            _ = stop.changed() => {}
        }
    }
}
