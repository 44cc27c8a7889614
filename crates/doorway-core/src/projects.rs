//! Creating and updating projects; each new project gets its signing key in the same transaction.
//! Rotating a project's signing key.

use crate::clock::{Clock, Timestamp};
use crate::flows::external_signup::PENDING_TTL_SECS;
use crate::ids::new_id;
use crate::keys::ProjectKey;
use crate::project::{Project, ProjectSettings, ProjectSlug};
use crate::store::{Store, StoreError, UniqueKey};

#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error("a project with slug '{0}' already exists")]
    Exists(ProjectSlug),
    #[error("invalid project settings: {}", .0.iter().map(|(k, m)| format!("{k} {m}")).collect::<Vec<_>>().join("; "))]
    InvalidSettings(Vec<(&'static str, String)>),
    #[error(transparent)]
    Unexpected(#[from] StoreError),
}

pub struct NewProject {
    pub slug: ProjectSlug,
    pub name: String,
    pub settings: ProjectSettings,
}

/// Creates a project and its first signing key; refuses a slug that exists.
pub async fn create_project(store: &dyn Store, clock: &dyn Clock, new: NewProject) -> Result<Project, ProjectError> {
    let problems = new.settings.problems();
    if !problems.is_empty() {
        return Err(ProjectError::InvalidSettings(problems));
    }
    let now = clock.now();
    let project = Project {
        id: new_id("prj"),
        slug: new.slug,
        name: new.name,
        settings: new.settings,
        created_at: now,
        updated_at: now,
    };
    let mut tx = store.begin().await?;
    match tx.insert_project(&project).await {
        Err(StoreError::Conflict { key: UniqueKey::ProjectSlug }) => return Err(ProjectError::Exists(project.slug)),
        other => other?,
    }
    tx.insert_project_key(&project.id, &ProjectKey::generate(now)).await?;
    tx.commit().await?;
    Ok(project)
}

/// Makes the stored project match a declaration (config file or start-up default).
/// Safe when several instances start at once: a lost creation race turns into an update.
pub async fn ensure_project(
    store: &dyn Store,
    clock: &dyn Clock,
    declared: NewProject,
) -> Result<Project, ProjectError> {
    let problems = declared.settings.problems();
    if !problems.is_empty() {
        return Err(ProjectError::InvalidSettings(problems));
    }
    for _ in 0..2 {
        let mut tx = store.begin().await?;
        let Some(mut existing) = tx.project_by_slug(&declared.slug).await? else {
            drop(tx);
            match create_project(
                store,
                clock,
                NewProject {
                    slug: declared.slug.clone(),
                    name: declared.name.clone(),
                    settings: declared.settings.clone(),
                },
            )
            .await
            {
                Err(ProjectError::Exists(_)) => continue,
                other => return other,
            }
        };
        if existing.name != declared.name || existing.settings != declared.settings {
            existing.name = declared.name.clone();
            existing.settings = declared.settings.clone();
            existing.updated_at = clock.now();
            tx.update_project(&existing).await?;
            tx.commit().await?;
        }
        return Ok(existing);
    }
    Err(ProjectError::Exists(declared.slug))
}

/// Added to the longest lifetime of anything derived from a key: covers other instances'
/// project cache (10 s), during which they may still sign with the replaced key, and clock skew.
const ROTATION_SLACK_SECS: i64 = 60;

/// How long a replaced key stays published: longer than anything it signed or sealed lives
/// (access tokens, mailed codes and links, sealed pending external sign-ups).
pub fn rotation_overlap_secs(settings: &ProjectSettings) -> i64 {
    let longest = i64::from(settings.access_token_ttl_secs.max(settings.verification.code_ttl_secs));
    longest.max(PENDING_TTL_SECS) + ROTATION_SLACK_SECS
}

pub struct Rotation {
    /// The new signing key's id.
    pub kid: String,
    /// When the keys it replaced stop being published and accepted.
    pub previous_retire_at: Timestamp,
}

/// Makes a new key the project's signing key. The keys it replaces keep verifying for
/// `rotation_overlap_secs`; keys already retired are deleted (nothing derived from them is valid).
pub async fn rotate_keys(store: &dyn Store, clock: &dyn Clock, project: &Project) -> Result<Rotation, StoreError> {
    let now = clock.now();
    let previous_retire_at = now.plus_seconds(rotation_overlap_secs(&project.settings));
    let key = ProjectKey::generate(now);
    let mut tx = store.begin().await?;
    tx.retire_project_keys(&project.id, previous_retire_at).await?;
    tx.insert_project_key(&project.id, &key).await?;
    tx.commit().await?;
    store.purge_retired_keys(now).await?;
    Ok(Rotation { kid: key.kid, previous_retire_at })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap_outlives_every_derived_secret() {
        let mut settings = ProjectSettings { access_token_ttl_secs: 7200, ..Default::default() };
        assert_eq!(rotation_overlap_secs(&settings), 7200 + 60);
        settings.access_token_ttl_secs = 60;
        settings.verification.code_ttl_secs = 900;
        assert_eq!(rotation_overlap_secs(&settings), 900 + 60);
        settings.verification.code_ttl_secs = 60;
        assert_eq!(rotation_overlap_secs(&settings), PENDING_TTL_SECS + 60);
    }
}
