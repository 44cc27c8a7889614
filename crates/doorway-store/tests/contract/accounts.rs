//! Accounts: users, passwords, identities, organizations and what hangs off them.

use doorway_core::email::EmailAddress;
use doorway_core::organization::{Membership, Organization, Workspace};
use doorway_core::store::Identity;
use doorway_core::user::{User, Username};

use crate::{Engine, assert_conflict, insert_user, open_with_project, t, user};

on_every_engine!(
    users_round_trip,
    taken_email_or_username_is_a_conflict,
    passwords_are_set_read_and_deleted,
    organizations_memberships_and_workspaces,
    identities_find_their_user_until_unlinked,
    user_roles_are_kept_per_user_by_name,
    accounts_without_an_address_are_found_by_handle,
);

async fn users_round_trip(engine: Engine) {
    let (_db, store) = open_with_project(engine).await;
    let first = insert_user(&*store, user("usr_1", "ada@example.com")).await;
    let mut second = user("usr_2", "bob@example.com");
    second.username = Some("bob".into());
    second.location = Some(doorway_core::user::GeoPoint { longitude: 2.35, latitude: 48.85 });
    second.birthdate = Some("1990-01-31".into());
    let second = insert_user(&*store, second).await;
    assert!(second.seq > first.seq, "seq grows");

    assert_eq!(store.user_by_id("prj_acme", "usr_2").await.unwrap(), Some(second.clone()));
    assert_eq!(store.user_by_id("prj_other", "usr_2").await.unwrap(), None, "scoped to the project");
    let email = EmailAddress::parse("ada@example.com").unwrap();
    assert_eq!(store.user_with_password("prj_acme", &email).await.unwrap(), Some((first.clone(), None)));

    let mut tx = store.begin().await.unwrap();
    tx.mark_email_verified("usr_1", t(20)).await.unwrap();
    let verified = tx.user_by_id("prj_acme", "usr_1").await.unwrap().unwrap();
    tx.commit().await.unwrap();
    assert!(verified.email_verified);
    assert_eq!(verified.updated_at, t(20));
}

async fn taken_email_or_username_is_a_conflict(engine: Engine) {
    let (_db, store) = open_with_project(engine).await;
    let mut ada = user("usr_1", "ada@example.com");
    ada.username = Some("ada".into());
    insert_user(&*store, ada).await;

    let mut tx = store.begin().await.unwrap();
    assert_conflict(tx.insert_user(&user("usr_2", "ada@example.com")).await);
    drop(tx);
    let mut same_username = user("usr_3", "other@example.com");
    same_username.username = Some("ada".into());
    let mut tx = store.begin().await.unwrap();
    assert_conflict(tx.insert_user(&same_username).await);
    drop(tx);

    // Neither refused write left anything behind; a free email and username still go in.
    assert_eq!(store.user_by_id("prj_acme", "usr_2").await.unwrap(), None);
    let mut free = user("usr_4", "eve@example.com");
    free.username = Some("eve".into());
    insert_user(&*store, free).await;
}

async fn accounts_without_an_address_are_found_by_handle(engine: Engine) {
    let (_db, store) = open_with_project(engine).await;
    let handle_only = |id: &str, username: &str| User {
        email: None,
        username: Some(username.into()),
        ..user(id, "unused@example.com")
    };
    let kim = insert_user(&*store, handle_only("usr_1", "kim")).await;
    // Any number of accounts may lack an address; handles stay unique per project.
    let lee = insert_user(&*store, handle_only("usr_2", "lee")).await;
    let mut tx = store.begin().await.unwrap();
    assert_conflict(tx.insert_user(&handle_only("usr_3", "kim")).await);
    drop(tx);
    // An address-less account holds no address that another account could clash with.
    insert_user(&*store, user("usr_4", "kim@example.com")).await;

    assert_eq!(store.user_by_id("prj_acme", "usr_1").await.unwrap(), Some(kim.clone()));
    let mut tx = store.begin().await.unwrap();
    tx.insert_password("usr_1", "$argon2id$kim", t(11)).await.unwrap();
    tx.commit().await.unwrap();
    let kim_handle = Username::parse("KIM").unwrap();
    assert_eq!(
        store.user_with_password_by_username("prj_acme", &kim_handle).await.unwrap(),
        Some((kim, Some("$argon2id$kim".into())))
    );
    let lee_handle = Username::parse("lee").unwrap();
    assert_eq!(store.user_with_password_by_username("prj_acme", &lee_handle).await.unwrap(), Some((lee, None)));
    let nobody = Username::parse("nobody").unwrap();
    assert_eq!(store.user_with_password_by_username("prj_acme", &nobody).await.unwrap(), None);
    assert_eq!(store.user_with_password_by_username("prj_other", &kim_handle).await.unwrap(), None);
}

async fn passwords_are_set_read_and_deleted(engine: Engine) {
    let (_db, store) = open_with_project(engine).await;
    let ada = insert_user(&*store, user("usr_1", "ada@example.com")).await;
    let email = EmailAddress::parse("ada@example.com").unwrap();

    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.lock_password("usr_1").await.unwrap(), None);
    tx.insert_password("usr_1", "$argon2id$phc", t(11)).await.unwrap();
    assert_eq!(tx.lock_password("usr_1").await.unwrap().as_deref(), Some("$argon2id$phc"));
    tx.commit().await.unwrap();
    assert_eq!(
        store.user_with_password("prj_acme", &email).await.unwrap(),
        Some((ada.clone(), Some("$argon2id$phc".into())))
    );
    assert_eq!(store.password_of("usr_1").await.unwrap().as_deref(), Some("$argon2id$phc"));

    let mut tx = store.begin().await.unwrap();
    assert!(tx.delete_password("usr_1").await.unwrap());
    assert!(!tx.delete_password("usr_1").await.unwrap(), "nothing left to delete");
    assert_eq!(tx.lock_password("usr_1").await.unwrap(), None);
    tx.commit().await.unwrap();
    assert_eq!(store.user_with_password("prj_acme", &email).await.unwrap(), Some((ada, None)));
    assert_eq!(store.password_of("usr_1").await.unwrap(), None);
}

async fn organizations_memberships_and_workspaces(engine: Engine) {
    let (_db, store) = open_with_project(engine).await;
    insert_user(&*store, user("usr_1", "ada@example.com")).await;
    let org = |id: &str, at: i64| Organization {
        id: id.into(),
        project_id: "prj_acme".into(),
        name: "Acme Inc.".into(),
        slug: "acme-inc".into(),
        created_at: t(at),
    };
    let workspace = Workspace {
        id: "wsp_1".into(),
        organization_id: "org_1".into(),
        name: "Default".into(),
        slug: "default".into(),
        created_at: t(12),
    };

    let mut tx = store.begin().await.unwrap();
    assert!(tx.insert_organization_if_slug_free(&org("org_1", 12)).await.unwrap());
    assert!(!tx.insert_organization_if_slug_free(&org("org_2", 13)).await.unwrap(), "slug taken");
    tx.insert_membership("org_1", "usr_1", "owner", t(12)).await.unwrap();
    tx.insert_workspace(&workspace).await.unwrap();
    tx.insert_roles("org_1", &["owner", "member"], t(12)).await.unwrap();
    tx.insert_terms_acceptance("usr_1", "2024-01", t(12)).await.unwrap();
    tx.commit().await.unwrap();
    // Each named role was written: a role the organization has is refused, a new one is not.
    let mut tx = store.begin().await.unwrap();
    assert!(tx.insert_roles("org_1", &["viewer", "member"], t(13)).await.is_err());
    drop(tx);
    let mut tx = store.begin().await.unwrap();
    tx.insert_roles("org_1", &["viewer"], t(13)).await.unwrap();
    tx.commit().await.unwrap();

    let expected =
        Membership { organization: org("org_1", 12), role: "owner".into(), workspaces: vec![workspace.clone()] };
    let ada = store.user_by_id("prj_acme", "usr_1").await.unwrap().unwrap();
    assert_eq!(store.user_with_memberships("prj_acme", "usr_1").await.unwrap(), Some((ada.clone(), vec![expected])));

    // Memberships in order (oldest membership first, whatever the ids or the order written),
    // each with its workspaces in order.
    let second = Organization { slug: "beta".into(), ..org("org_9", 14) };
    let mut tx = store.begin().await.unwrap();
    assert!(tx.insert_organization_if_slug_free(&second).await.unwrap());
    tx.insert_membership("org_9", "usr_1", "member", t(11)).await.unwrap();
    for (id, at) in [("wsp_b", 16), ("wsp_a", 15)] {
        let w = Workspace {
            id: id.into(),
            organization_id: "org_9".into(),
            slug: id.into(),
            created_at: t(at),
            ..workspace.clone()
        };
        tx.insert_workspace(&w).await.unwrap();
    }
    tx.commit().await.unwrap();
    let (found, memberships) = store.user_with_memberships("prj_acme", "usr_1").await.unwrap().unwrap();
    assert_eq!(found, ada);
    assert_eq!(memberships.iter().map(|m| m.organization.id.as_str()).collect::<Vec<_>>(), ["org_9", "org_1"]);
    assert_eq!(memberships[0].workspaces.iter().map(|w| w.id.as_str()).collect::<Vec<_>>(), ["wsp_a", "wsp_b"]);
    assert_eq!(memberships[0].role, "member");
    assert_eq!(memberships[1].workspaces, vec![workspace.clone()]);
    let bob = insert_user(&*store, user("usr_2", "bob@example.com")).await;
    assert_eq!(store.user_with_memberships("prj_acme", "usr_2").await.unwrap(), Some((bob, vec![])));
    assert_eq!(store.user_with_memberships("prj_other", "usr_1").await.unwrap(), None);
    assert_eq!(store.user_with_memberships("prj_acme", "usr_unknown").await.unwrap(), None);
}

async fn identities_find_their_user_until_unlinked(engine: Engine) {
    let (_db, store) = open_with_project(engine).await;
    let ada = insert_user(&*store, user("usr_1", "ada@example.com")).await;
    let identity = |id: &str, provider: &str, verified: bool| Identity {
        id: id.into(),
        project_id: "prj_acme".into(),
        user_id: "usr_1".into(),
        provider: provider.into(),
        subject: "sub-1".into(),
        email: Some("ada@example.com".into()),
        email_verified: verified,
        created_at: t(12),
    };

    let mut tx = store.begin().await.unwrap();
    tx.insert_identity(&identity("idn_1", "github", true)).await.unwrap();
    tx.insert_identity(&identity("idn_2", "google", false)).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(store.identity_user("prj_acme", "github", "sub-1").await.unwrap(), Some(ada.clone()));
    assert_eq!(store.identity_user("prj_acme", "google", "sub-1").await.unwrap(), Some(ada.clone()));
    assert_eq!(store.identity_user("prj_acme", "github", "sub-2").await.unwrap(), None);
    assert_eq!(store.user_identity_providers("usr_1").await.unwrap(), ["github", "google"], "by name");
    assert!(store.user_identity_providers("usr_2").await.unwrap().is_empty());

    let mut tx = store.begin().await.unwrap();
    assert_conflict(tx.insert_identity(&identity("idn_3", "github", true)).await);
    drop(tx);

    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.delete_unverified_identities("usr_1").await.unwrap(), 1);
    tx.commit().await.unwrap();
    assert_eq!(store.identity_user("prj_acme", "google", "sub-1").await.unwrap(), None);
    assert_eq!(store.identity_user("prj_acme", "github", "sub-1").await.unwrap(), Some(ada));
    assert_eq!(store.user_identity_providers("usr_1").await.unwrap(), ["github"], "unlinked ones are gone");
}

async fn user_roles_are_kept_per_user_by_name(engine: Engine) {
    let (_db, store) = open_with_project(engine).await;
    insert_user(&*store, user("usr_1", "ada@example.com")).await;
    insert_user(&*store, user("usr_2", "bob@example.com")).await;
    assert!(store.user_roles("usr_1").await.unwrap().is_empty(), "none until given");

    let mut tx = store.begin().await.unwrap();
    tx.insert_user_roles("usr_1", &["user".into(), "reader".into()], t(11)).await.unwrap();
    tx.insert_user_roles("usr_1", &[], t(11)).await.unwrap();
    assert_eq!(tx.user_roles("usr_1").await.unwrap(), ["reader", "user"], "visible in the transaction");
    // A role held already is kept, not refused: giving roles is idempotent.
    tx.insert_user_roles("usr_1", &["user".into(), "admin".into()], t(12)).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(store.user_roles("usr_1").await.unwrap(), ["admin", "reader", "user"], "sorted by name");
    assert!(store.user_roles("usr_2").await.unwrap().is_empty(), "per user");

    // Rolled back with the transaction that gave them.
    let mut tx = store.begin().await.unwrap();
    tx.insert_user_roles("usr_2", &["user".into()], t(13)).await.unwrap();
    drop(tx);
    assert!(store.user_roles("usr_2").await.unwrap().is_empty());
    assert!(store.user_roles("usr_unknown").await.unwrap().is_empty());
}
