//! The one rule for what a provider's answer may do to existing accounts.
//!
//! Every provider path (native redirect, Rivergen's posted code, Aufy's pending steps) asks
//! here, so the rule cannot drift between them: an account is joined to a new identity only
//! when the provider vouches for the address *and* the account has proved it too. Otherwise
//! whoever first claimed an address (by password or by a provider that did not check it)
//! could collect the real owner's later sign-ins.

use crate::email::EmailAddress;
use crate::oauth::ExternalProfile;
use crate::store::{Store, StoreError};
use crate::user::User;

#[derive(Debug)]
pub(crate) enum Linking {
    /// The identity is already joined to this user.
    SignIn(User),
    /// Join the identity to this user, then sign in.
    Link(User),
    /// No account has the address: a new one with it.
    Create(EmailAddress),
    /// An account has the address, but one side has not proved it.
    Refuse(User),
}

/// What the profile leads to; `None` when the identity is new and the provider gave no address.
pub(crate) async fn decide(
    store: &dyn Store,
    project_id: &str,
    profile: &ExternalProfile,
) -> Result<Option<Linking>, StoreError> {
    if let Some(user) = store.identity_user(project_id, &profile.provider, &profile.subject).await? {
        return Ok(Some(Linking::SignIn(user)));
    }
    let Some(email) = &profile.email else { return Ok(None) };
    Ok(Some(match store.user_with_password(project_id, email).await? {
        Some((user, _)) if profile.email_verified && user.email_verified => Linking::Link(user),
        Some((user, _)) => Linking::Refuse(user),
        None => Linking::Create(email.clone()),
    }))
}
