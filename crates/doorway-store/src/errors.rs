//! Maps driver errors onto the port's error: a clashing constraint becomes a typed
//! `UniqueKey`, the same on both engines.

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
    StoreError::unexpected(e)
}

/// The one place that knows the constraints' names (PostgreSQL's defaults, see the migrations).
fn unique_key(constraint: &str) -> UniqueKey {
    match constraint {
        "users_project_id_email_key" => UniqueKey::Email,
        "users_project_id_username_key" => UniqueKey::Username,
        "projects_slug_key" => UniqueKey::ProjectSlug,
        "organizations_project_id_slug_key" => UniqueKey::OrganizationSlug,
        "identities_project_id_provider_subject_key" => UniqueKey::Identity,
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
