//! Doorway's domain: projects, keys, the storage port and the flows. No HTTP, no SQL.

pub mod clock;
pub mod ids;
pub mod keys;
pub mod project;
pub mod projects;
pub mod store;

pub use clock::{Clock, ManualClock, SystemClock, Timestamp};
pub use project::{Project, ProjectSettings, ProjectSlug, SlugError};
pub use store::{Store, StoreError, StoreTx};
