pub mod admin_activity;
pub mod admin_projects;
pub mod discovery;
pub mod operations;
