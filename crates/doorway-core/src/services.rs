//! What flows need from the outside world, injected once.

use std::sync::Arc;

use crate::clock::Clock;
use crate::hooks::HookCaller;
use crate::password_hashing::PasswordHasher;
use crate::rate_limit::RateLimiter;
use crate::session_cache::SessionCache;
use crate::store::Store;

#[derive(Clone)]
pub struct Services {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub hasher: PasswordHasher,
    pub hooks: Arc<dyn HookCaller>,
    pub rate_limiter: Arc<dyn RateLimiter>,
    /// Recent session checks, so a bearer check rarely reads the session row.
    pub session_cache: Arc<SessionCache>,
}
