//! The outbox, and deliveries: claimed under a lease, finished attempt by attempt, replayed.

use doorway_core::events::OutboxMessage;
use doorway_core::webhooks::{AttemptOutcome, Delivery, DeliveryAttempt, DeliveryKind, DeliveryStatus};

use crate::{Engine, open_with_project, t};

on_every_engine!(
    outbox_reads_oldest_first,
    claims_hold_a_lease_and_skip_what_is_not_due,
    finished_attempts_move_the_delivery_on,
    replay_makes_a_delivery_due_again_unless_suppressed,
    claims_leave_out_skipped_targets_and_releases_do_not_count,
    an_attempt_that_cannot_be_recorded_leaves_its_delivery_as_it_was,
);

async fn claims_leave_out_skipped_targets_and_releases_do_not_count(engine: Engine) {
    let (_db, store) = open_with_project(engine).await;
    let to = |id: &str, target: &str| Delivery { target: target.into(), ..delivery(id, DeliveryKind::Webhook, 100) };
    insert(&*store, &[to("dlv_slow", "https://slow.example/in"), to("dlv_fine", "https://fine.example/in")]).await;

    let skip = ["https://slow.example/in".to_owned()];
    let claimed = store.claim_deliveries_except(DeliveryKind::Webhook, t(1_000), t(2_000), 10, &skip).await.unwrap();
    assert_eq!(claimed.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(), ["dlv_fine"]);

    store.release_delivery("dlv_fine", t(1_000)).await.unwrap();
    let again = store.claim_deliveries(DeliveryKind::Webhook, t(1_000), t(2_000), 10).await.unwrap();
    let mut again: Vec<(&str, i64)> = again.iter().map(|d| (d.id.as_str(), d.attempts)).collect();
    again.sort();
    assert_eq!(again, [("dlv_fine", 1), ("dlv_slow", 1)], "the released claim was not counted");
}

fn delivery(id: &str, kind: DeliveryKind, due: i64) -> Delivery {
    Delivery {
        id: id.into(),
        project_id: "prj_acme".into(),
        event_id: format!("evt_{id}"),
        kind,
        target: "https://hooks.example/in".into(),
        body: format!("{{\"id\":\"{id}\"}}"),
        status: DeliveryStatus::Pending,
        attempts: 0,
        next_attempt_at: t(due),
        claimed_until: None,
        last_error: None,
        created_at: t(due),
        delivered_at: None,
    }
}

async fn insert(store: &dyn doorway_core::Store, deliveries: &[Delivery]) {
    let mut tx = store.begin().await.unwrap();
    for d in deliveries {
        tx.insert_delivery(d).await.unwrap();
    }
    tx.commit().await.unwrap();
}

async fn outbox_reads_oldest_first(engine: Engine) {
    let (_db, store) = open_with_project(engine).await;
    let message = |id: &str, at: i64| OutboxMessage {
        id: id.into(),
        project_id: "prj_acme".into(),
        topic: "user.created".into(),
        payload: serde_json::json!({"user": {"id": id}}),
        created_at: t(at),
    };
    let mut tx = store.begin().await.unwrap();
    tx.insert_outbox(&message("evt_2", 200)).await.unwrap();
    tx.insert_outbox(&message("evt_1", 100)).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(store.outbox("prj_acme").await.unwrap(), vec![message("evt_1", 100), message("evt_2", 200)]);
    assert_eq!(store.outbox("prj_other").await.unwrap(), vec![]);
}

async fn claims_hold_a_lease_and_skip_what_is_not_due(engine: Engine) {
    let (_db, store) = open_with_project(engine).await;
    insert(
        &*store,
        &[
            delivery("dlv_1", DeliveryKind::Webhook, 100),
            delivery("dlv_2", DeliveryKind::Webhook, 200),
            delivery("dlv_later", DeliveryKind::Webhook, 5_000),
            delivery("dlv_mail", DeliveryKind::Mail, 100),
        ],
    )
    .await;

    let first = store.claim_deliveries(DeliveryKind::Webhook, t(1_000), t(2_000), 1).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(
        (first[0].id.as_str(), first[0].attempts, first[0].claimed_until, first[0].next_attempt_at),
        ("dlv_1", 1, Some(t(2_000)), t(2_000)),
        "due again when its lease ends"
    );
    let second = store.claim_deliveries(DeliveryKind::Webhook, t(1_000), t(2_000), 10).await.unwrap();
    assert_eq!(
        second.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(),
        ["dlv_2"],
        "dlv_1 is leased, dlv_later not due"
    );
    assert!(store.claim_deliveries(DeliveryKind::Webhook, t(1_500), t(2_500), 10).await.unwrap().is_empty());

    // An expired lease is claimed again, counting another attempt.
    let reclaimed = store.claim_deliveries(DeliveryKind::Webhook, t(2_001), t(3_000), 10).await.unwrap();
    let reclaimed: Vec<(&str, i64)> = reclaimed.iter().map(|d| (d.id.as_str(), d.attempts)).collect();
    assert_eq!(reclaimed, [("dlv_1", 2), ("dlv_2", 2)]);
    let mail = store.claim_deliveries(DeliveryKind::Mail, t(1_000), t(2_000), 10).await.unwrap();
    assert_eq!(mail.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(), ["dlv_mail"]);
}

async fn finished_attempts_move_the_delivery_on(engine: Engine) {
    let (_db, store) = open_with_project(engine).await;
    insert(
        &*store,
        &[
            delivery("dlv_ok", DeliveryKind::Webhook, 100),
            delivery("dlv_retry", DeliveryKind::Webhook, 100),
            delivery("dlv_dead", DeliveryKind::Webhook, 100),
        ],
    )
    .await;
    assert_eq!(store.claim_deliveries(DeliveryKind::Webhook, t(1_000), t(2_000), 10).await.unwrap().len(), 3);
    let attempt = |id: &str, status_code: Option<i64>, error: Option<&str>| DeliveryAttempt {
        delivery_id: id.into(),
        attempt: 1,
        at: t(1_100),
        status_code,
        latency_ms: 42,
        error: error.map(Into::into),
    };
    store.finish_attempt(&attempt("dlv_ok", Some(204), None), AttemptOutcome::Delivered, None).await.unwrap();
    let retry = attempt("dlv_retry", Some(503), None);
    store.finish_attempt(&retry, AttemptOutcome::RetryAt(t(9_000)), Some("HTTP 503")).await.unwrap();
    let dead = attempt("dlv_dead", None, Some("connection refused"));
    store.finish_attempt(&dead, AttemptOutcome::Dead, Some("connection refused")).await.unwrap();

    let all = store.deliveries("prj_acme", DeliveryKind::Webhook, None, 10).await.unwrap();
    let by_id = |id: &str| all.iter().find(|d| d.id == id).unwrap().clone();
    let ok = by_id("dlv_ok");
    assert_eq!((ok.status, ok.delivered_at, ok.claimed_until), (DeliveryStatus::Delivered, Some(t(1_100)), None));
    let retried = by_id("dlv_retry");
    assert_eq!(
        (retried.status, retried.next_attempt_at, retried.claimed_until, retried.last_error.as_deref()),
        (DeliveryStatus::Pending, t(9_000), None, Some("HTTP 503"))
    );
    let gone = by_id("dlv_dead");
    assert_eq!((gone.status, gone.next_attempt_at), (DeliveryStatus::Dead, t(1_100)), "its last attempt");

    assert_eq!(store.delivery_attempts("dlv_retry").await.unwrap(), vec![retry]);
    assert_eq!(store.delivery_attempts("dlv_dead").await.unwrap(), vec![dead]);
    let only_dead = store.deliveries("prj_acme", DeliveryKind::Webhook, Some(DeliveryStatus::Dead), 10).await.unwrap();
    assert_eq!(only_dead.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(), ["dlv_dead"]);
    assert_eq!(store.deliveries("prj_acme", DeliveryKind::Mail, None, 10).await.unwrap(), vec![]);
    // Not due before 9000; due then.
    assert!(store.claim_deliveries(DeliveryKind::Webhook, t(8_999), t(20_000), 10).await.unwrap().is_empty());
    let due = store.claim_deliveries(DeliveryKind::Webhook, t(9_000), t(20_000), 10).await.unwrap();
    assert_eq!(due.iter().map(|d| (d.id.as_str(), d.attempts)).collect::<Vec<_>>(), [("dlv_retry", 2)]);
}

async fn replay_makes_a_delivery_due_again_unless_suppressed(engine: Engine) {
    let (_db, store) = open_with_project(engine).await;
    let mut dead = delivery("dlv_dead", DeliveryKind::Webhook, 100);
    dead.status = DeliveryStatus::Dead;
    let mut suppressed = delivery("dlv_suppressed", DeliveryKind::Mail, 100);
    suppressed.status = DeliveryStatus::Suppressed;
    insert(&*store, &[dead, suppressed]).await;

    assert!(store.replay_delivery("prj_acme", "dlv_dead", t(5_000)).await.unwrap());
    assert!(!store.replay_delivery("prj_acme", "dlv_suppressed", t(5_000)).await.unwrap());
    assert!(!store.replay_delivery("prj_other", "dlv_dead", t(5_000)).await.unwrap(), "another project's");
    assert!(!store.replay_delivery("prj_acme", "dlv_unknown", t(5_000)).await.unwrap());

    let due = store.claim_deliveries(DeliveryKind::Webhook, t(5_000), t(6_000), 10).await.unwrap();
    assert_eq!(due.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(), ["dlv_dead"]);
    assert!(store.claim_deliveries(DeliveryKind::Mail, t(5_000), t(6_000), 10).await.unwrap().is_empty());
}

/// The attempt's row and the delivery's new state are one write (one statement on PostgreSQL):
/// an attempt recorded twice fails whole.
async fn an_attempt_that_cannot_be_recorded_leaves_its_delivery_as_it_was(engine: Engine) {
    let (_db, store) = open_with_project(engine).await;
    insert(&*store, &[delivery("dlv_ok", DeliveryKind::Webhook, 100)]).await;
    store.claim_deliveries(DeliveryKind::Webhook, t(1_000), t(2_000), 10).await.unwrap();
    let attempt = DeliveryAttempt {
        delivery_id: "dlv_ok".into(),
        attempt: 1,
        at: t(1_100),
        status_code: Some(204),
        latency_ms: 42,
        error: None,
    };
    store.finish_attempt(&attempt, AttemptOutcome::Delivered, None).await.unwrap();
    let again = DeliveryAttempt { status_code: Some(503), at: t(1_200), ..attempt.clone() };
    let outcome = store.finish_attempt(&again, AttemptOutcome::RetryAt(t(9_000)), Some("HTTP 503")).await;
    assert!(outcome.is_err(), "attempt 1 is recorded already: {outcome:?}");

    let all = store.deliveries("prj_acme", DeliveryKind::Webhook, None, 10).await.unwrap();
    assert_eq!(
        (all[0].status, all[0].delivered_at, all[0].last_error.as_deref()),
        (DeliveryStatus::Delivered, Some(t(1_100)), None)
    );
    assert_eq!(store.delivery_attempts("dlv_ok").await.unwrap(), vec![attempt]);
}
