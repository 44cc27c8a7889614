//! Integration tests: the real server over loopback, on SQLite and on PostgreSQL.

mod harness;

mod admin_projects;
mod discovery;
mod errors;
mod native_sessions;
mod native_signup;
mod operations;
mod project_scope;
