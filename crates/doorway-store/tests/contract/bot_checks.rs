//! Spent bot-check solutions.

use crate::{Engine, open_with_project, t};

on_every_engine!(a_challenge_is_spent_once_even_concurrently_and_purged_after_expiry);

async fn a_challenge_is_spent_once_even_concurrently_and_purged_after_expiry(engine: Engine) {
    let (_db, store) = open_with_project(engine).await;
    assert!(store.spend_bot_challenge("prj_acme", "c1", t(10_000)).await.unwrap());
    assert!(!store.spend_bot_challenge("prj_acme", "c1", t(10_000)).await.unwrap(), "a replay");

    let spends = (0..10).map(|_| {
        let store = store.clone();
        tokio::spawn(async move { store.spend_bot_challenge("prj_acme", "c2", t(20_000)).await.unwrap() })
    });
    let mut fresh = 0;
    for spend in spends {
        fresh += usize::from(spend.await.unwrap());
    }
    assert_eq!(fresh, 1, "one of the concurrent spends wins");

    assert_eq!(store.purge_spent_bot_challenges(t(10_000)).await.unwrap(), 0, "not expired before 10 000");
    assert_eq!(store.purge_spent_bot_challenges(t(15_000)).await.unwrap(), 1);
    assert!(store.spend_bot_challenge("prj_acme", "c1", t(10_000)).await.unwrap(), "forgotten once purged");
}
