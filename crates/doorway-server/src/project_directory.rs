//! Projects and their keys, cached briefly so a request costs no extra query, yet settings
//! changed and keys rotated through another instance or the CLI are seen within `TTL` (10 s).

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use doorway_core::{Clock, ProjectContext, ProjectSlug, Store, StoreError};

const TTL: Duration = Duration::from_secs(10);

pub struct ProjectDirectory {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    public_url: String,
    cache: RwLock<HashMap<ProjectSlug, (Instant, Arc<ProjectContext>)>>,
}

impl ProjectDirectory {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, public_url: String) -> Self {
        Self { store, clock, public_url, cache: RwLock::new(HashMap::new()) }
    }

    pub fn issuer_for(&self, slug: &ProjectSlug) -> String {
        if slug.is_default() { self.public_url.clone() } else { format!("{}/{slug}", self.public_url) }
    }

    pub async fn get(&self, slug: &ProjectSlug) -> Result<Option<Arc<ProjectContext>>, StoreError> {
        if let Some((at, ctx)) = self.cache.read().unwrap_or_else(PoisonError::into_inner).get(slug)
            && at.elapsed() < TTL
        {
            return Ok(Some(ctx.clone()));
        }
        let Some(project) = self.store.project_by_slug(slug).await? else {
            return Ok(None);
        };
        let now = self.clock.now();
        let mut keys = self.store.project_keys(&project.id).await?;
        keys.retain(|k| k.is_published_at(now));
        let ctx = Arc::new(ProjectContext { issuer: self.issuer_for(slug), project, keys });
        self.cache.write().unwrap_or_else(PoisonError::into_inner).insert(slug.clone(), (Instant::now(), ctx.clone()));
        Ok(Some(ctx))
    }

    /// Drops a cached entry after this instance changed the project.
    pub fn forget(&self, slug: &ProjectSlug) {
        self.cache.write().unwrap_or_else(PoisonError::into_inner).remove(slug);
    }
}
