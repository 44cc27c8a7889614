//! The outbox worker, one per delivery kind: claims due rows with a lease (so several
//! instances share the work and a crashed worker's rows come back), sends each on its own task,
//! logs every attempt, and retries with backoff until delivered or dead.
//!
//! Endpoints (webhook URLs; for mail, the one SMTP server) never wait on each other: each has
//! at most `max_in_flight_per_endpoint` attempts running, and after `breaker_failures`
//! failures in a row its circuit opens, so its deliveries stay pending (using no attempts)
//! until a single probe after `breaker_cooldown_ms` gets through. A slow or dead receiver thus
//! holds a few slots and nothing else, while every other endpoint keeps its latency.
//!
//! Delivery is at least once: an attempt whose outcome could not be recorded (a crash, a
//! database outage longer than the lease) is sent again when its lease expires, with the same
//! `webhook-id`.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use doorway_core::webhooks::{AttemptOutcome, Delivery, DeliveryAttempt, DeliveryKind, next_attempt_at};
use doorway_core::{Clock, Store};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::settings::DeliverySettings;

/// Most deliveries claimed in one round trip.
const BATCH: usize = 16;

/// Why an attempt failed; `permanent` failures are not retried.
pub struct SendFailure {
    pub status_code: Option<u16>,
    pub error: String,
    pub permanent: bool,
}

#[async_trait]
pub trait Sender: Send + Sync + 'static {
    fn kind(&self) -> DeliveryKind;

    /// The endpoint a target is sent through, for concurrency limits and the circuit breaker:
    /// by default the target itself (a webhook URL); `None` when every target shares one
    /// endpoint (mail, through one SMTP server).
    fn endpoint<'t>(&self, target: &'t str) -> Option<&'t str> {
        Some(target)
    }

    /// Sends one delivery; on success, the status code if the protocol has one.
    async fn send(&self, delivery: &Delivery) -> Result<Option<u16>, SendFailure>;
}

pub struct DeliveryWorker<S> {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub settings: DeliverySettings,
    pub sender: S,
}

/// What one endpoint is doing, in this process.
#[derive(Default)]
struct Endpoint {
    in_flight: usize,
    /// Failed attempts in a row.
    failures: u32,
    /// Set while the circuit is open; once passed, one probe may run (half-open).
    open_until: Option<Instant>,
    /// Claimed beyond the endpoint's free slots, with the end of their lease: started as slots
    /// free up (so a backlog for one endpoint is not claimed and given back over and over), or
    /// given back when their lease no longer leaves room for a whole attempt.
    waiting: VecDeque<(Delivery, Instant)>,
}

impl Endpoint {
    fn can_start(&self, now: Instant, limit: usize) -> bool {
        match self.open_until {
            Some(until) if now < until => false,
            Some(_) => self.in_flight == 0,
            None => self.in_flight < limit,
        }
    }

    /// Whether claims should bring it more work.
    fn wants_more(&self, now: Instant, limit: usize) -> bool {
        self.waiting.is_empty() && self.can_start(now, limit)
    }

    fn is_open(&self, now: Instant) -> bool {
        self.open_until.is_some_and(|until| now < until)
    }

    fn is_idle(&self) -> bool {
        self.in_flight == 0 && self.failures == 0 && self.open_until.is_none() && self.waiting.is_empty()
    }
}

/// How an attempt ended, for the endpoint's breaker.
struct Finished {
    endpoint: String,
    /// Failed in a way that says something about the endpoint (not a permanent failure of the
    /// delivery itself, such as an unreadable body).
    endpoint_failed: bool,
}

impl<S: Sender> DeliveryWorker<S> {
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let worker = Arc::new(self);
        let kind = worker.sender.kind();
        let settings = worker.settings.clone();
        let poll = Duration::from_millis(settings.poll_interval_ms);
        let limit = settings.max_in_flight_per_endpoint;
        // A waiting delivery starts only while its lease outlasts a whole attempt.
        let needed = Duration::from_millis(settings.timeout_ms) + Duration::from_secs(1);
        let mut endpoints: HashMap<String, Endpoint> = HashMap::new();
        let mut running: JoinSet<Finished> = JoinSet::new();
        let mut claim_failing = false;
        // A claim that leaves out busy endpoints may read their whole backlog to find nothing
        // else (the targets are not in the due index): after one that found less than a full
        // batch, the next such claim waits for the poll interval, like any new delivery does.
        let mut skipping_claim_not_before: Option<Instant> = None;
        while !*stop.borrow() {
            while let Some(done) = running.try_join_next() {
                worker.finished(&mut endpoints, done);
            }
            let now = Instant::now();
            let mut give_back = Vec::new();
            for (key, endpoint) in endpoints.iter_mut() {
                if endpoint.is_open(now) {
                    give_back.extend(endpoint.waiting.drain(..).map(|(d, _)| d));
                }
                while let Some((_, lease_ends)) = endpoint.waiting.front() {
                    let expiring = lease_ends.saturating_duration_since(now) < needed;
                    if !expiring && (!endpoint.can_start(now, limit) || running.len() >= settings.max_in_flight) {
                        break;
                    }
                    let Some((d, _)) = endpoint.waiting.pop_front() else { break };
                    if expiring {
                        give_back.push(d);
                    } else {
                        endpoint.in_flight += 1;
                        running.spawn(worker.clone().attempt(d, key.clone()));
                    }
                }
            }
            worker.give_back(give_back).await;
            let blocked: Vec<String> =
                endpoints.iter().filter(|(_, e)| !e.wants_more(now, limit)).map(|(k, _)| k.clone()).collect();
            let shared_blocked = worker.sender.endpoint("").is_none() && !blocked.is_empty();
            let room = settings.max_in_flight.saturating_sub(running.len()).min(BATCH);
            let mut started = 0;
            let mut claimed_all = false;
            let skipping_claim_waits = !blocked.is_empty() && skipping_claim_not_before.is_some_and(|at| now < at);
            if room > 0 && !shared_blocked && !skipping_claim_waits {
                let at = worker.clock.now();
                let lease_until = at.plus_seconds(settings.lease_secs as i64);
                let lease_ends = Instant::now() + Duration::from_secs(settings.lease_secs);
                match worker.store.claim_deliveries_except(kind, at, lease_until, room as u32, &blocked).await {
                    Ok(claimed) => {
                        if claim_failing {
                            tracing::info!(kind = kind.as_str(), "claiming deliveries works again");
                            claim_failing = false;
                        }
                        claimed_all = claimed.len() == room;
                        if !blocked.is_empty() {
                            skipping_claim_not_before = (!claimed_all).then(|| now + poll);
                        }
                        for d in claimed {
                            let key = worker.sender.endpoint(&d.target).unwrap_or_default().to_owned();
                            let endpoint = endpoints.entry(key.clone()).or_default();
                            if endpoint.wants_more(now, limit) {
                                endpoint.in_flight += 1;
                                started += 1;
                                running.spawn(worker.clone().attempt(d, key));
                            } else {
                                endpoint.waiting.push_back((d, lease_ends));
                            }
                        }
                    }
                    Err(e) => {
                        if !claim_failing {
                            tracing::warn!(error = %e, kind = kind.as_str(), "cannot claim deliveries; retrying every poll interval");
                            claim_failing = true;
                        }
                    }
                }
            }
            // More may be due right away when a full batch started; otherwise wait for the next
            // poll, a finished attempt (which frees a slot) or the stop signal.
            if claimed_all && started > 0 {
                continue;
            }
            tokio::select! {
                _ = tokio::time::sleep(poll) => {}
                Some(done) = running.join_next(), if !running.is_empty() => {
                    worker.finished(&mut endpoints, done);
                }
                _ = stop.changed() => {}
            }
        }
        // What waits goes back for the next worker; attempts in flight finish (the caller
        // bounds how long it waits), and one cut short is sent again when its lease expires.
        let waiting = endpoints.values_mut().flat_map(|e| e.waiting.drain(..).map(|(d, _)| d)).collect();
        worker.give_back(waiting).await;
        while running.join_next().await.is_some() {}
    }

    /// Releases claimed deliveries that will not be attempted now, without counting an attempt.
    async fn give_back(&self, deliveries: Vec<Delivery>) {
        for d in deliveries {
            if let Err(e) = self.store.release_delivery(&d.id, self.clock.now()).await {
                tracing::warn!(error = %e, delivery = %d.id, "cannot release a delivery; it is retried when its lease expires");
            }
        }
    }

    /// Books a finished attempt against its endpoint's slots and breaker.
    fn finished(&self, endpoints: &mut HashMap<String, Endpoint>, done: Result<Finished, tokio::task::JoinError>) {
        let Ok(done) = done else {
            tracing::error!("a delivery attempt panicked; it is retried when its lease expires");
            return;
        };
        let kind = self.sender.kind().as_str();
        let Some(endpoint) = endpoints.get_mut(&done.endpoint) else {
            return;
        };
        endpoint.in_flight = endpoint.in_flight.saturating_sub(1);
        if done.endpoint_failed {
            endpoint.failures = endpoint.failures.saturating_add(1);
            if endpoint.failures >= self.settings.breaker_failures {
                if endpoint.open_until.is_none() {
                    metrics::counter!("doorway_delivery_circuit_opened_total", "kind" => kind).increment(1);
                    tracing::warn!(
                        kind,
                        endpoint = %without_query(&done.endpoint),
                        failures = endpoint.failures,
                        "circuit opened: deliveries to this endpoint wait for a probe"
                    );
                }
                endpoint.open_until = Some(Instant::now() + Duration::from_millis(self.settings.breaker_cooldown_ms));
            }
        } else {
            if endpoint.open_until.is_some() {
                tracing::info!(kind, endpoint = %without_query(&done.endpoint), "circuit closed: the endpoint answers again");
            }
            endpoint.failures = 0;
            endpoint.open_until = None;
        }
        if endpoint.is_idle() {
            endpoints.remove(&done.endpoint);
        }
    }

    async fn attempt(self: Arc<Self>, d: Delivery, endpoint: String) -> Finished {
        let kind = self.sender.kind().as_str();
        let started = Instant::now();
        let at = self.clock.now();
        let result = self.sender.send(&d).await;
        let latency_ms = started.elapsed().as_millis() as i64;
        // The backoff counts from the end of the attempt: a receiver that took the whole
        // timeout still gets the full delay before the next try.
        let ended = self.clock.now();
        let outcome = match &result {
            Ok(_) => AttemptOutcome::Delivered,
            Err(f) if f.permanent || d.attempts >= self.settings.max_attempts => AttemptOutcome::Dead,
            Err(_) => {
                AttemptOutcome::RetryAt(next_attempt_at(ended, d.attempts, self.settings.retry_base_ms, rand::random()))
            }
        };
        let endpoint_failed = matches!(&result, Err(f) if !f.permanent);
        let (status_code, error) = match result {
            Ok(code) => (code.map(i64::from), None),
            Err(f) => (f.status_code.map(i64::from), Some(f.error)),
        };
        let label = match outcome {
            AttemptOutcome::Delivered => "delivered",
            AttemptOutcome::RetryAt(_) => "retry",
            AttemptOutcome::Dead => "dead",
        };
        if let Some(error) = &error {
            tracing::warn!(kind, delivery = %d.id, attempt = d.attempts, outcome = label, %error, "delivery attempt failed");
        }
        metrics::counter!("doorway_delivery_attempts_total", "kind" => kind, "outcome" => label).increment(1);
        metrics::histogram!("doorway_outbox_lag_seconds", "kind" => kind)
            .record((at.millis() - d.created_at.millis()) as f64 / 1000.0);
        let attempt =
            DeliveryAttempt { delivery_id: d.id.clone(), attempt: d.attempts, at, status_code, latency_ms, error };
        // The outcome is known, so recording it is retried while the lease holds: a database
        // that is only busy (overload) must not turn one delivered event into two.
        let mut pause = Duration::from_millis(100);
        while let Err(e) = self.store.finish_attempt(&attempt, outcome, attempt.error.as_deref()).await {
            let lease_left_ms = d.claimed_until.map_or(0, |until| until.millis() - self.clock.now().millis());
            if lease_left_ms < pause.as_millis() as i64 + 1000 {
                tracing::warn!(error = %e, delivery = %d.id, "cannot record a delivery attempt; it is retried when its lease expires");
                break;
            }
            tracing::debug!(error = %e, delivery = %d.id, "recording a delivery attempt failed; trying again");
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(5));
        }
        Finished { endpoint, endpoint_failed }
    }
}

/// An endpoint as logged: a webhook URL's query may carry a token.
fn without_query(endpoint: &str) -> &str {
    endpoint.split(['?', '#']).next().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use doorway_core::projects::{NewProject, ensure_project};
    use doorway_core::webhooks::{DeliveryStatus, WebhookEndpoint};
    use doorway_core::{ManualClock, ProjectSettings, ProjectSlug, Timestamp};

    use super::*;

    /// A receiver that takes `secs` (on the manual clock) and then fails.
    struct SlowFailure {
        clock: ManualClock,
        secs: i64,
    }

    #[async_trait]
    impl Sender for SlowFailure {
        fn kind(&self) -> DeliveryKind {
            DeliveryKind::Webhook
        }

        async fn send(&self, _: &Delivery) -> Result<Option<u16>, SendFailure> {
            self.clock.advance_seconds(self.secs);
            Err(SendFailure { status_code: None, error: "timed out".into(), permanent: false })
        }
    }

    #[tokio::test]
    async fn the_backoff_counts_from_the_end_of_the_attempt() {
        let store = doorway_store::test_support::scratch_store().await;
        let clock = ManualClock::starting_at(Timestamp::from_millis(1_000_000));
        let new = NewProject {
            slug: ProjectSlug::parse("acme").unwrap(),
            name: "Acme".into(),
            settings: ProjectSettings::default(),
        };
        let project = ensure_project(store.as_ref(), &clock, new).await.unwrap();
        let endpoint =
            WebhookEndpoint { url: "http://hooks.example/in".into(), secret: "whsec_eA==".into(), events: vec![] };
        let start = clock.now();
        let d = Delivery {
            id: "msg_1".into(),
            project_id: project.id.clone(),
            event_id: "evt_1".into(),
            kind: DeliveryKind::Webhook,
            target: endpoint.url.clone(),
            body: "{}".into(),
            status: DeliveryStatus::Pending,
            attempts: 0,
            next_attempt_at: start,
            claimed_until: None,
            last_error: None,
            created_at: start,
            delivered_at: None,
        };
        let mut tx = store.begin().await.unwrap();
        tx.insert_delivery(&d).await.unwrap();
        tx.commit().await.unwrap();
        let claimed = store.claim_deliveries(DeliveryKind::Webhook, start, start.plus_seconds(60), 1).await.unwrap();

        let settings = DeliverySettings { retry_base_ms: 5_000, ..DeliverySettings::default() };
        let sender = SlowFailure { clock: clock.clone(), secs: 10 };
        let worker =
            Arc::new(DeliveryWorker { store: store.clone(), clock: Arc::new(clock.clone()), settings, sender });
        let finished = worker.attempt(claimed[0].clone(), endpoint.url.clone()).await;
        assert!(finished.endpoint_failed);

        let stored = store.deliveries(&project.id, DeliveryKind::Webhook, None, 10).await.unwrap();
        let wait = stored[0].next_attempt_at.millis() - start.millis();
        // 10 s of attempt, then 5 s ± 20 %: never sooner than 14 s after the attempt began.
        assert!((14_000..=16_000).contains(&wait), "next attempt {wait} ms after the start");
    }

    #[test]
    fn a_circuit_opens_after_repeated_failures_and_lets_one_probe_through() {
        let now = Instant::now();
        let mut e = Endpoint::default();
        assert!(e.can_start(now, 2));
        e.in_flight = 2;
        assert!(!e.can_start(now, 2), "at its in-flight limit");
        e.in_flight = 0;
        e.open_until = Some(now + Duration::from_secs(30));
        assert!(!e.can_start(now, 2), "open");
        let later = now + Duration::from_secs(31);
        assert!(e.can_start(later, 2), "half-open: a probe may go");
        e.in_flight = 1;
        assert!(!e.can_start(later, 2), "one probe at a time");
    }
}
