pub mod admin_projects;
pub mod discovery;
pub mod operations;
