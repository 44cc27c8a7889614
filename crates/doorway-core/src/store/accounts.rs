//! Accounts: users, passwords, external identities, and what a user belongs to
//! (organizations, memberships, workspaces, roles) or agreed to (terms).

use async_trait::async_trait;

use super::StoreResult;
use crate::clock::Timestamp;
use crate::email::EmailAddress;
use crate::organization::{Membership, Organization, Workspace};
use crate::user::{User, Username};

#[async_trait]
pub trait AccountStore: Send + Sync {
    async fn user_by_id(&self, project_id: &str, user_id: &str) -> StoreResult<Option<User>>;
    /// The user and their password hash (if they have a password).
    async fn user_with_password(
        &self,
        project_id: &str,
        email: &EmailAddress,
    ) -> StoreResult<Option<(User, Option<String>)>>;
    /// The user with this handle and their password hash (if they have a password).
    async fn user_with_password_by_username(
        &self,
        project_id: &str,
        username: &Username,
    ) -> StoreResult<Option<(User, Option<String>)>>;
    /// The user's password hash, if they have a password.
    async fn password_of(&self, user_id: &str) -> StoreResult<Option<String>>;
    /// The user an external identity belongs to.
    async fn identity_user(&self, project_id: &str, provider: &str, subject: &str) -> StoreResult<Option<User>>;
    /// The user with their organizations (oldest membership first), each with the user's role
    /// and its workspaces (oldest first), in one query.
    async fn user_with_memberships(
        &self,
        project_id: &str,
        user_id: &str,
    ) -> StoreResult<Option<(User, Vec<Membership>)>>;
    /// The user's project-wide roles, by name.
    async fn user_roles(&self, user_id: &str) -> StoreResult<Vec<String>>;
    /// The providers of the user's linked external identities, by name, each once.
    async fn user_identity_providers(&self, user_id: &str) -> StoreResult<Vec<String>>;
}

#[async_trait]
pub trait AccountTx: Send {
    /// Stores a new user and returns its integer `seq`. A taken email or username is a
    /// `Conflict` on `users_project_id_email_key` / `users_project_id_username_key`; any number
    /// of users of a project may have no address (or no username).
    async fn insert_user(&mut self, user: &User) -> StoreResult<i64>;
    async fn user_by_id(&mut self, project_id: &str, user_id: &str) -> StoreResult<Option<User>>;
    async fn mark_email_verified(&mut self, user_id: &str, now: Timestamp) -> StoreResult<()>;

    async fn insert_password(&mut self, user_id: &str, phc: &str, now: Timestamp) -> StoreResult<()>;
    /// Drops the user's password; says whether there was one.
    async fn delete_password(&mut self, user_id: &str) -> StoreResult<bool>;
    /// The user's password hash, held until commit so it cannot be dropped or changed meanwhile.
    async fn lock_password(&mut self, user_id: &str) -> StoreResult<Option<String>>;

    async fn insert_identity(&mut self, identity: &Identity) -> StoreResult<()>;
    /// Unlinks the user's identities whose provider did not verify the address; returns how many.
    async fn delete_unverified_identities(&mut self, user_id: &str) -> StoreResult<u64>;

    /// Inserts unless the slug is taken in the project; says whether it inserted.
    async fn insert_organization_if_slug_free(&mut self, org: &Organization) -> StoreResult<bool>;
    async fn insert_membership(
        &mut self,
        organization_id: &str,
        user_id: &str,
        role: &str,
        now: Timestamp,
    ) -> StoreResult<()>;
    async fn insert_workspace(&mut self, workspace: &Workspace) -> StoreResult<()>;
    /// The organization's roles, in the order given.
    async fn insert_roles(&mut self, organization_id: &str, names: &[&str], now: Timestamp) -> StoreResult<()>;
    async fn insert_terms_acceptance(&mut self, user_id: &str, version: &str, now: Timestamp) -> StoreResult<()>;
    /// Gives the user these project-wide roles; a role the user already holds is kept as is.
    async fn insert_user_roles(&mut self, user_id: &str, roles: &[String], now: Timestamp) -> StoreResult<()>;
    /// The user's project-wide roles, by name.
    async fn user_roles(&mut self, user_id: &str) -> StoreResult<Vec<String>>;
}

/// An account at an external provider, linked to a user.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    pub id: String,
    pub project_id: String,
    pub user_id: String,
    pub provider: String,
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub created_at: Timestamp,
}
