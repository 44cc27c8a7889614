//! Creating and updating projects; each new project gets its signing key in the same transaction.

use crate::clock::Clock;
use crate::ids::new_id;
use crate::keys::ProjectKey;
use crate::project::{Project, ProjectSettings, ProjectSlug};
use crate::store::{Store, StoreError};

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
        Err(StoreError::Conflict { .. }) => return Err(ProjectError::Exists(project.slug)),
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
