//! Maps driver errors onto the port's error, naming clashing constraints the same on both engines.

use doorway_core::StoreError;

pub(crate) fn store_error(e: sqlx::Error) -> StoreError {
    if let Some(db) = e.as_database_error()
        && db.is_unique_violation()
    {
        let constraint = match db.constraint() {
            Some(name) => name.to_owned(),
            None => sqlite_constraint_name(db.message()),
        };
        return StoreError::Conflict { constraint };
    }
    StoreError::unexpected(e)
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
}
