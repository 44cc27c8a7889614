//! Doorway's domain: projects, keys, the storage port and the flows. No HTTP, no SQL.

pub mod clock;
pub mod error;
pub mod ids;
pub mod keys;
pub mod project;
pub mod projects;
pub mod store;

pub use clock::{Clock, ManualClock, SystemClock, Timestamp};
pub use project::{PasswordMode, Project, ProjectContext, ProjectSettings, ProjectSlug, SlugError};
pub use store::{Store, StoreError, StoreTx, UniqueKey};
pub mod bot_check;
pub mod email;
pub mod events;
pub mod external_signup;
pub mod flows;
pub mod hooks;
pub mod lookalike;
pub mod mail;
pub mod oauth;
pub mod organization;
pub mod passkey;
pub mod password;
pub mod password_hashing;
pub mod rate_limit;
pub mod services;
pub mod session;
pub mod session_cache;
pub mod user;
pub mod verification;
pub mod webhooks;
