//! GCRA rate-limit state.

use doorway_core::Timestamp;

use crate::{Engine, open};

on_every_engine!(rate_limit_hits_follow_gcra_and_are_atomic);

/// The store's one-statement GCRA agrees with the core's, and concurrent hits never let more
/// than the limit through.
async fn rate_limit_hits_follow_gcra_and_are_atomic(engine: Engine) {
    use doorway_core::rate_limit::{Gcra, Rule};
    let (_db, store) = open(engine).await;
    let gcra = Gcra::of(Rule::per_hour(5));
    let t = Timestamp::from_millis(36_000_000);
    let mut core_tat = None;
    for i in 0..7 {
        let now = t.plus_seconds(i * 60);
        let expected = gcra.next_tat(core_tat, now);
        let (allowed, tat) = store.rate_limit_hit("k", now, gcra).await.unwrap();
        assert_eq!(allowed, expected.is_some(), "hit {i}");
        assert_eq!(tat, expected.or(core_tat).unwrap(), "hit {i}");
        core_tat = expected.or(core_tat);
    }
    // Refused hits cost nothing: one interval after the burst began, one more goes through.
    assert!(!store.rate_limit_hit("k", t.plus_seconds(719), gcra).await.unwrap().0);
    assert!(store.rate_limit_hit("k", t.plus_seconds(720), gcra).await.unwrap().0);

    let hits = (0..20).map(|_| {
        let store = store.clone();
        tokio::spawn(async move { store.rate_limit_hit("burst", t, gcra).await.unwrap().0 })
    });
    let mut allowed = 0;
    for hit in hits {
        allowed += usize::from(hit.await.unwrap());
    }
    assert_eq!(allowed, 5);
    assert_eq!(store.purge_rate_limits(t.plus_seconds(3601).millis()).await.unwrap(), 1, "only the idle key");
}
