//! Row shapes shared by both engines and their conversion into domain types.

use doorway_core::keys::ProjectKey;
use doorway_core::{Project, ProjectSlug, StoreError, Timestamp};

use crate::errors::corrupt;

#[derive(sqlx::FromRow)]
pub(crate) struct ProjectRow {
    id: String,
    slug: String,
    name: String,
    settings: String,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<ProjectRow> for Project {
    type Error = StoreError;
    fn try_from(r: ProjectRow) -> Result<Self, StoreError> {
        Ok(Project {
            slug: ProjectSlug::parse(&r.slug).map_err(|e| corrupt(format!("project slug: {e}")))?,
            settings: serde_json::from_str(&r.settings)
                .map_err(|e| corrupt(format!("settings of project {}: {e}", r.slug)))?,
            id: r.id,
            name: r.name,
            created_at: Timestamp::from_millis(r.created_at),
            updated_at: Timestamp::from_millis(r.updated_at),
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct KeyRow {
    kid: String,
    secret: Vec<u8>,
    created_at: i64,
    retires_at: Option<i64>,
}

impl TryFrom<KeyRow> for ProjectKey {
    type Error = StoreError;
    fn try_from(r: KeyRow) -> Result<Self, StoreError> {
        ProjectKey::from_stored(
            r.kid,
            &r.secret,
            Timestamp::from_millis(r.created_at),
            r.retires_at.map(Timestamp::from_millis),
        )
        .map_err(|e| corrupt(e.to_string()))
    }
}

pub(crate) fn settings_json(p: &Project) -> String {
    serde_json::to_string(&p.settings).expect("settings always serialise")
}
