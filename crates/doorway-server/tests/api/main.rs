//! Integration tests: the real server over loopback, on SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test's panic is its failure")]

mod clients;
mod harness;
mod receiver;
mod soft_authenticator;

mod admin_projects;
mod admission;
mod altcha_browser;
mod audit_log;
mod aufy;
mod aufy_companions;
mod bot_protection;
mod browser_security;
mod common_passwords;
mod connections;
mod contracts;
mod cors;
mod cors_browser;
mod delivery_faults;
mod discovery;
mod errors;
mod lookalikes;
mod native_account;
mod native_email;
mod native_sessions;
mod native_signup;
mod oauth;
mod operations;
mod pages;
mod pages_browser;
mod passkeys;
mod passkeys_browser;
mod pre_hijacking;
mod pre_signup_hook;
mod project_scope;
mod rate_limits;
mod rejections;
mod replyke;
mod replyke_client;
mod replyke_recovery;
mod replyke_sessions;
mod signing_keys;
mod storyden;
mod storyden_auth;
mod webhooks;
mod wire_snapshots;
