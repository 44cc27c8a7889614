//! Maps driver errors onto the port's error: a clashing constraint becomes a typed
//! `UniqueKey`, the same on both engines, and a database that cannot serve now (down, timed
//! out, disk full) becomes `Unavailable`, which clients see as 503 rather than 500.

use doorway_core::store::Outage;
use doorway_core::{StoreError, UniqueKey};

pub(crate) fn store_error(e: sqlx::Error) -> StoreError {
    if let Some(db) = e.as_database_error()
        && db.is_unique_violation()
    {
        let constraint = match db.constraint() {
            Some(name) => name.to_owned(),
            None => sqlite_constraint_name(db.message()),
        };
        return StoreError::Conflict { key: unique_key(&constraint) };
    }
    match outage(&e) {
        Some(outage) => StoreError::unavailable(outage, e),
        None => StoreError::unexpected(e),
    }
}

/// A deferred insert that clashes is a bug, not a conflict for a flow to answer (an email
/// taken, say): on PostgreSQL it is reported by a later statement, whose caller must not read it
/// as its own.
pub(crate) fn deferred_error(e: StoreError) -> StoreError {
    match e {
        StoreError::Conflict { key } => {
            StoreError::unexpected(std::io::Error::other(format!("a deferred insert clashed on {key}")))
        }
        other => other,
    }
}

/// Whether a driver error means "the database cannot serve now" rather than a bug.
fn outage(e: &sqlx::Error) -> Option<Outage> {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => Some(Outage::Unreachable),
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            match db.try_downcast_ref::<sqlx::sqlite::SqliteError>() {
                Some(_) => sqlite_outage(code.parse().ok()?),
                None => postgres_outage(&code),
            }
        }
        _ => None,
    }
}

/// A failed SQLite statement run inline (see `crate::sqlite`), classified like sqlx's errors.
pub(crate) fn sqlite_error(e: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(failure, Some(message)) = &e
        && matches!(
            failure.extended_code,
            rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
        )
    {
        return StoreError::Conflict { key: unique_key(&sqlite_constraint_name(message)) };
    }
    match e.sqlite_error().and_then(|f| sqlite_outage(f.extended_code)) {
        Some(outage) => StoreError::unavailable(outage, e),
        None => StoreError::unexpected(e),
    }
}

/// By SQLite's extended result code (the primary code is its low byte).
pub(crate) fn sqlite_outage(code: i32) -> Option<Outage> {
    match code & 0xff {
        // SQLITE_FULL
        13 => Some(Outage::Full),
        // SQLITE_BUSY (the busy timeout ran out), SQLITE_READONLY (a file turned unwritable),
        // SQLITE_IOERR, SQLITE_CANTOPEN
        5 | 8 | 10 | 14 => Some(Outage::Unreachable),
        _ => None,
    }
}

/// By PostgreSQL's SQLSTATE.
fn postgres_outage(code: &str) -> Option<Outage> {
    match code {
        // disk_full
        "53100" => Some(Outage::Full),
        // insufficient resources (out of memory, too many connections), the server shutting
        // down or starting up, connection exceptions
        c if c.starts_with("53") || c.starts_with("57P") || c.starts_with("08") => Some(Outage::Unreachable),
        _ => None,
    }
}

/// The one place that knows the constraints' names (PostgreSQL's defaults, see the migrations).
fn unique_key(constraint: &str) -> UniqueKey {
    match constraint {
        "users_project_id_email_key" => UniqueKey::Email,
        "users_project_id_username_key" => UniqueKey::Username,
        "projects_slug_key" => UniqueKey::ProjectSlug,
        "organizations_project_id_slug_key" => UniqueKey::OrganizationSlug,
        "identities_project_id_provider_subject_key" => UniqueKey::Identity,
        "passkeys_project_id_credential_id_key" => UniqueKey::PasskeyCredential,
        other => UniqueKey::Other(other.to_owned()),
    }
}

/// SQLite says `UNIQUE constraint failed: users.project_id, users.email`; PostgreSQL's default
/// name for that constraint is `users_project_id_email_key`, which is what we report.
fn sqlite_constraint_name(message: &str) -> String {
    let columns = message.rsplit(": ").next().unwrap_or(message);
    let mut table = "";
    let mut names = Vec::new();
    for qualified in columns.split(", ") {
        let (t, c) = qualified.split_once('.').unwrap_or(("", qualified));
        table = t;
        names.push(c);
    }
    format!("{table}_{}_key", names.join("_"))
}

pub(crate) fn corrupt(what: impl Into<String>) -> StoreError {
    #[derive(Debug, thiserror::Error)]
    #[error("stored row is unreadable: {0}")]
    struct Corrupt(String);
    StoreError::unexpected(Corrupt(what.into()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn outages_are_told_apart_from_bugs() {
        use doorway_core::store::Outage;
        let (sqlite, postgres) = (super::sqlite_outage, super::postgres_outage);
        assert_eq!(sqlite(13), Some(Outage::Full));
        assert_eq!(sqlite(778), Some(Outage::Unreachable), "SQLITE_IOERR_WRITE");
        assert_eq!(sqlite(1), None, "SQLITE_ERROR");
        assert_eq!(sqlite(2067), None, "SQLITE_CONSTRAINT_UNIQUE");
        assert_eq!(postgres("53100"), Some(Outage::Full));
        assert_eq!(postgres("57P01"), Some(Outage::Unreachable), "admin_shutdown");
        assert_eq!(postgres("08006"), Some(Outage::Unreachable));
        assert_eq!(postgres("42P01"), None, "undefined_table");
        assert_eq!(postgres("23505"), None, "unique_violation");
        assert!(matches!(super::store_error(sqlx::Error::PoolTimedOut), doorway_core::StoreError::Unavailable { .. }));
        assert!(matches!(super::store_error(sqlx::Error::RowNotFound), doorway_core::StoreError::Unexpected(_)));
        let busy = rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(5), None);
        assert!(matches!(super::sqlite_error(busy), doorway_core::StoreError::Unavailable { .. }));
        let syntax = rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(1), None);
        assert!(matches!(super::sqlite_error(syntax), doorway_core::StoreError::Unexpected(_)));
        let taken = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(2067),
            Some("UNIQUE constraint failed: users.project_id, users.email".into()),
        );
        assert!(matches!(
            super::sqlite_error(taken),
            doorway_core::StoreError::Conflict { key: doorway_core::UniqueKey::Email }
        ));
    }

    #[test]
    fn names_sqlite_constraints_like_postgres() {
        assert_eq!(super::sqlite_constraint_name("UNIQUE constraint failed: projects.slug"), "projects_slug_key");
        assert_eq!(
            super::sqlite_constraint_name("UNIQUE constraint failed: users.project_id, users.email"),
            "users_project_id_email_key"
        );
    }

    #[test]
    fn maps_constraint_names_to_keys() {
        use doorway_core::UniqueKey;
        let key = |message: &str| super::unique_key(&super::sqlite_constraint_name(message));
        assert_eq!(key("UNIQUE constraint failed: users.project_id, users.email"), UniqueKey::Email);
        assert_eq!(key("UNIQUE constraint failed: users.project_id, users.username"), UniqueKey::Username);
        assert_eq!(key("UNIQUE constraint failed: projects.slug"), UniqueKey::ProjectSlug);
        assert_eq!(
            key("UNIQUE constraint failed: organizations.project_id, organizations.slug"),
            UniqueKey::OrganizationSlug
        );
        assert_eq!(
            key("UNIQUE constraint failed: identities.project_id, identities.provider, identities.subject"),
            UniqueKey::Identity
        );
        assert_eq!(key("UNIQUE constraint failed: users.id"), UniqueKey::Other("users_id_key".into()));
    }
}
