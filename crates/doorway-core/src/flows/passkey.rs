//! Passkeys (WebAuthn, by webauthn-rs): sign-up with a passkey and no password, sign-in with
//! a discoverable credential (no username), and the signed-in user's own passkeys (add, list,
//! remove).
//!
//! Each ceremony is two requests. The first stores webauthn-rs's state in the database (an
//! instance keeps nothing in memory) under the hash of a fresh secret, which the contract puts
//! in an HttpOnly cookie: the second request must come from the same browser, and takes the
//! state once, before it expires. A passkey-only sign-up collects the address and mails a
//! verification code like the email sign-up; an address that has an account is refused, and a
//! passkey set up before the address was proved is dropped at the first proof
//! (`account_securing`), so a sign-up with someone else's address never keeps access to it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use webauthn_rs::Webauthn;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, DiscoverableKey, Passkey, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, Uuid, WebauthnError,
};

use crate::clock::Timestamp;
use crate::email::EmailAddress;
use crate::error::Unexpected;
use crate::events::ClientInfo;
use crate::flows::account::{NewAccount, PASSKEY_AMR, SignupError, SignupOutcome, create_account};
use crate::flows::session::{SessionError, authenticate, start_session};
use crate::flows::sign_in::SignInOutcome;
use crate::flows::{Audit, enforce_rate_limit, record_outcome};
use crate::ids::new_id;
use crate::passkey::{CEREMONY_TTL_SECS, project_relying_party};
use crate::project::ProjectContext;
use crate::services::Services;
use crate::session::hash_token;
use crate::store::{PasskeyCeremony, StoreError, StoredPasskey};
use crate::user::{ProfileDraft, User};

const METHOD: &str = "passkey";
/// The longest name a user may give a passkey.
pub const MAX_NAME_CHARS: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum PasskeyError {
    #[error("passkeys are not enabled in this project")]
    Disabled,
    #[error("the passkey ceremony is unknown, expired, already used or from another browser")]
    CeremonyExpired,
    /// The authenticator's answer failed verification (origin, rp id, challenge, signature,
    /// user verification, a counter that went back): webauthn-rs's reason is only logged.
    #[error("the passkey response was rejected")]
    Rejected,
    /// No passkey of this project has the credential the authenticator used.
    #[error("unknown passkey")]
    UnknownCredential,
    #[error("this passkey is already registered")]
    CredentialExists,
    #[error("no passkey of yours has this id")]
    NotFound,
    #[error("not signed in")]
    Unauthenticated,
    #[error("too many attempts")]
    RateLimited(crate::rate_limit::RateLimited),
    /// The sign-up itself was refused (address taken, pre-sign-up hook…).
    #[error(transparent)]
    Signup(SignupError),
    #[error("passkey failure: {0}")]
    Unexpected(#[source] Unexpected),
}

impl From<StoreError> for PasskeyError {
    fn from(e: StoreError) -> Self {
        Self::Unexpected(e.into())
    }
}

impl From<SessionError> for PasskeyError {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::Unexpected(cause) => Self::Unexpected(cause),
            _ => Self::Unauthenticated,
        }
    }
}

fn unexpected(what: &'static str, e: impl std::error::Error + Send + Sync + 'static) -> PasskeyError {
    PasskeyError::Unexpected(Unexpected::context(what, e))
}

/// A ceremony started: the options for `navigator.credentials` (`{"publicKey": …}` in the
/// WebAuthn JSON encoding) and the secret the starting browser must present to finish it.
pub struct Started {
    pub options: Value,
    pub binding: String,
}

/// The label of a passkey: trimmed, 1–64 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyName(String);

impl PasskeyName {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let name = raw.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
            return Err("Use 1 to 64 characters, without control characters");
        }
        Ok(Self(name.to_owned()))
    }

    fn or_default(name: Option<Self>) -> String {
        name.map_or_else(|| "Passkey".to_owned(), |n| n.0)
    }
}

/// What a sign-up ceremony keeps between its two requests.
#[derive(Serialize, Deserialize)]
struct SignupState {
    registration: PasskeyRegistration,
    email: String,
    name: Option<String>,
    handle: Uuid,
}

/// What adding a passkey keeps between its two requests.
#[derive(Serialize, Deserialize)]
struct AddState {
    registration: PasskeyRegistration,
    handle: Uuid,
    name: String,
}

fn relying_party(ctx: &ProjectContext) -> Result<Webauthn, PasskeyError> {
    if !ctx.project.settings.passkeys.enabled {
        return Err(PasskeyError::Disabled);
    }
    project_relying_party(ctx).map_err(|why| {
        // `config check` refuses this for configured projects; one made through the admin API
        // with an unusable relying party ends up here.
        tracing::warn!(project = %ctx.project.slug, %why, "passkeys are enabled but the relying party is unusable");
        PasskeyError::Disabled
    })
}

/// Stores a ceremony's state under a fresh binding secret; returns the secret.
async fn store_ceremony(
    svc: &Services,
    ctx: &ProjectContext,
    kind: &str,
    user_id: Option<&str>,
    state: Value,
) -> Result<String, PasskeyError> {
    let mut secret = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    let binding = URL_SAFE_NO_PAD.encode(secret);
    let now = svc.clock.now();
    let mut tx = svc.store.begin().await?;
    tx.insert_passkey_ceremony(&PasskeyCeremony {
        id: new_id("pkc"),
        project_id: ctx.project.id.clone(),
        kind: kind.to_owned(),
        binding_hash: hash_token(&binding),
        user_id: user_id.map(str::to_owned),
        state,
        created_at: now,
        expires_at: now.plus_seconds(CEREMONY_TTL_SECS),
    })
    .await?;
    tx.commit().await?;
    Ok(binding)
}

/// Takes the ceremony of one of the browser's binding secrets (a browser may hold several
/// cookies of one name, on different paths). Committed at once: a failed finish uses it up too.
async fn take_ceremony(
    svc: &Services,
    ctx: &ProjectContext,
    bindings: &[&str],
    kind: &str,
) -> Result<PasskeyCeremony, PasskeyError> {
    let now = svc.clock.now();
    let mut tx = svc.store.begin().await?;
    let mut found = None;
    for binding in bindings {
        if let Some(c) = tx.take_passkey_ceremony(&ctx.project.id, &hash_token(binding), kind, now).await? {
            found = Some(c);
            break;
        }
    }
    tx.commit().await?;
    found.ok_or(PasskeyError::CeremonyExpired)
}

fn state_of<T: for<'de> Deserialize<'de>>(ceremony: PasskeyCeremony) -> Result<T, PasskeyError> {
    serde_json::from_value(ceremony.state).map_err(|e| unexpected("reading the passkey ceremony", e))
}

/// Registration options asking for a discoverable credential (a passkey the authenticator can
/// offer without a username) with user verification.
fn registration_options(
    rp: &Webauthn,
    handle: Uuid,
    user_name: &str,
    display_name: &str,
    exclude: Vec<Passkey>,
) -> Result<(Value, PasskeyRegistration), PasskeyError> {
    let exclude = (!exclude.is_empty()).then(|| exclude.iter().map(|p| p.cred_id().clone()).collect());
    let (options, registration) = rp
        .start_passkey_registration(handle, user_name, display_name, exclude)
        .map_err(|e| unexpected("starting a passkey registration", e))?;
    let mut options = serde_json::to_value(&options).map_err(|e| unexpected("writing the passkey options", e))?;
    // webauthn-rs discourages resident keys here, and does not check the answer for one.
    if let Some(selection) = options.pointer_mut("/publicKey/authenticatorSelection").and_then(Value::as_object_mut) {
        selection.insert("residentKey".to_owned(), json!("required"));
        selection.insert("requireResidentKey".to_owned(), json!(true));
    }
    Ok((options, registration))
}

fn credential_id(passkey: &Passkey) -> String {
    URL_SAFE_NO_PAD.encode(passkey.cred_id().as_ref())
}

/// A new passkey's row (its owner and creation time are set by whoever inserts it).
fn new_passkey(
    ctx: &ProjectContext,
    passkey: &Passkey,
    handle: Uuid,
    name: String,
) -> Result<StoredPasskey, PasskeyError> {
    let json = serde_json::to_value(passkey).map_err(|e| unexpected("writing the passkey", e))?;
    Ok(StoredPasskey {
        id: new_id("pk"),
        project_id: ctx.project.id.clone(),
        user_id: String::new(),
        credential_id: credential_id(passkey),
        user_handle: handle.to_string(),
        name,
        counter: counter_of(&json),
        passkey: json,
        created_at: Timestamp::from_millis(0),
        last_used_at: None,
    })
}

/// The sign counter inside webauthn-rs's credential JSON.
fn counter_of(passkey: &Value) -> u32 {
    passkey.pointer("/cred/counter").and_then(Value::as_u64).and_then(|c| u32::try_from(c).ok()).unwrap_or(0)
}

/// Verifies a registration response against its stored state.
fn finish_registration(
    rp: &Webauthn,
    response: &RegisterPublicKeyCredential,
    registration: &PasskeyRegistration,
) -> Result<Passkey, PasskeyError> {
    rp.finish_passkey_registration(response, registration).map_err(|e| {
        tracing::info!(error = %e, "passkey registration rejected");
        PasskeyError::Rejected
    })
}

pub struct PasskeySignup {
    pub email: EmailAddress,
    pub name: Option<String>,
    pub client: ClientInfo,
}

/// Starts a passkey-only sign-up for an address that has no account yet.
#[tracing::instrument(skip_all, fields(project = %ctx.project.slug, method = METHOD, outcome = tracing::field::Empty))]
pub async fn start_sign_up(svc: &Services, ctx: &ProjectContext, cmd: PasskeySignup) -> Result<Started, PasskeyError> {
    let result = async {
        let rp = relying_party(ctx)?;
        let audit = Audit { ctx, action: "signup", method: Some(METHOD), client: &cmd.client };
        let rule = ctx.project.settings.rate_limits.email_signup;
        enforce_rate_limit(svc, &audit, "passkey_signup", rule, cmd.client.ip.as_deref())
            .await
            .map_err(PasskeyError::RateLimited)?;
        if svc.store.user_with_password(&ctx.project.id, &cmd.email).await?.is_some() {
            audit.record_refusal(svc.store.as_ref(), "email_taken", None, svc.clock.now()).await;
            return Err(PasskeyError::Signup(SignupError::EmailTaken));
        }
        let handle = Uuid::new_v4();
        let display = cmd.name.clone().unwrap_or_else(|| cmd.email.as_str().to_owned());
        let (options, registration) = registration_options(&rp, handle, cmd.email.as_str(), &display, Vec::new())?;
        let state = SignupState { registration, email: cmd.email.as_str().to_owned(), name: cmd.name, handle };
        let state = serde_json::to_value(&state).map_err(|e| unexpected("writing the passkey ceremony", e))?;
        let binding = store_ceremony(svc, ctx, "signup", None, state).await?;
        Ok(Started { options, binding })
    }
    .await;
    record_outcome(result)
}

/// Finishes a passkey-only sign-up: the account (no password), its passkey, a session
/// (`amr: ["hwk", "user"]`) and a verification mail, as the email sign-up does.
#[tracing::instrument(skip_all, fields(project = %ctx.project.slug, method = METHOD, outcome = tracing::field::Empty))]
pub async fn finish_sign_up(
    svc: &Services,
    ctx: &ProjectContext,
    bindings: &[&str],
    response: &RegisterPublicKeyCredential,
    client: ClientInfo,
) -> Result<SignupOutcome, PasskeyError> {
    let result = async {
        let rp = relying_party(ctx)?;
        let audit = Audit { ctx, action: "signup", method: Some(METHOD), client: &client };
        let state: SignupState = match take_ceremony(svc, ctx, bindings, "signup").await {
            Ok(ceremony) => state_of(ceremony)?,
            Err(e) => {
                audit.record_refusal(svc.store.as_ref(), "passkey_ceremony_expired", None, svc.clock.now()).await;
                return Err(e);
            }
        };
        let passkey = match finish_registration(&rp, response, &state.registration) {
            Ok(passkey) => passkey,
            Err(e) => {
                audit.record_refusal(svc.store.as_ref(), "passkey_rejected", None, svc.clock.now()).await;
                return Err(e);
            }
        };
        if svc.store.passkey_by_credential(&ctx.project.id, &credential_id(&passkey)).await?.is_some() {
            audit.record_refusal(svc.store.as_ref(), "passkey_exists", None, svc.clock.now()).await;
            return Err(PasskeyError::CredentialExists);
        }
        let email = EmailAddress::parse(&state.email).map_err(|e| unexpected("reading the ceremony's address", e))?;
        let account = NewAccount {
            profile: ProfileDraft { name: state.name, ..ProfileDraft::default() },
            send_verification: true,
            passkey: Some(new_passkey(ctx, &passkey, state.handle, "Passkey".to_owned())?),
            ..NewAccount::new(email)
        };
        create_account(svc, ctx, &audit, account).await.map_err(PasskeyError::Signup)
    }
    .await;
    record_outcome(result)
}

/// Starts a sign-in with a discoverable credential: the options name no user.
#[tracing::instrument(skip_all, fields(project = %ctx.project.slug, method = METHOD, outcome = tracing::field::Empty))]
pub async fn start_sign_in(svc: &Services, ctx: &ProjectContext, client: &ClientInfo) -> Result<Started, PasskeyError> {
    let result = async {
        let rp = relying_party(ctx)?;
        let audit = Audit { ctx, action: "signin", method: Some(METHOD), client };
        let rule = ctx.project.settings.rate_limits.sign_in;
        enforce_rate_limit(svc, &audit, "passkey_sign_in", rule, client.ip.as_deref())
            .await
            .map_err(PasskeyError::RateLimited)?;
        let (mut options, authentication) =
            rp.start_discoverable_authentication().map_err(|e| unexpected("starting a passkey sign-in", e))?;
        // webauthn-rs asks for conditional mediation (autofill); the page decides how to ask.
        options.mediation = None;
        let options = serde_json::to_value(&options).map_err(|e| unexpected("writing the passkey options", e))?;
        let state = serde_json::to_value(&authentication).map_err(|e| unexpected("writing the ceremony", e))?;
        let binding = store_ceremony(svc, ctx, "signin", None, state).await?;
        Ok(Started { options, binding })
    }
    .await;
    record_outcome(result)
}

/// Finishes a discoverable sign-in: the credential must be a passkey of this project whose
/// user handle matches, and the assertion must verify (webauthn-rs also refuses a sign counter
/// that did not grow, the sign of a cloned authenticator).
#[tracing::instrument(skip_all, fields(project = %ctx.project.slug, method = METHOD, outcome = tracing::field::Empty))]
pub async fn finish_sign_in(
    svc: &Services,
    ctx: &ProjectContext,
    bindings: &[&str],
    response: &PublicKeyCredential,
    client: &ClientInfo,
) -> Result<SignInOutcome, PasskeyError> {
    let result = async {
        let rp = relying_party(ctx)?;
        let audit = Audit { ctx, action: "signin", method: Some(METHOD), client };
        let audit = &audit;
        let refuse = |reason: &'static str, user: Option<String>, error: PasskeyError| async move {
            audit.record_refusal(svc.store.as_ref(), reason, user.as_deref(), svc.clock.now()).await;
            Err(error)
        };
        let authentication: DiscoverableAuthentication = match take_ceremony(svc, ctx, bindings, "signin").await {
            Ok(ceremony) => state_of(ceremony)?,
            Err(e) => return refuse("passkey_ceremony_expired", None, e).await,
        };
        let Ok((handle, raw_id)) = rp.identify_discoverable_authentication(response) else {
            return refuse("passkey_rejected", None, PasskeyError::Rejected).await;
        };
        let stored = svc.store.passkey_by_credential(&ctx.project.id, &URL_SAFE_NO_PAD.encode(raw_id)).await?;
        let Some(stored) = stored.filter(|s| s.user_handle == handle.to_string()) else {
            return refuse("passkey_unknown", None, PasskeyError::UnknownCredential).await;
        };
        let mut passkey: Passkey =
            serde_json::from_value(stored.passkey.clone()).map_err(|e| unexpected("reading the passkey", e))?;
        let keys = [DiscoverableKey::from(&passkey)];
        let verified = match rp.finish_discoverable_authentication(response, authentication, &keys) {
            Ok(verified) => verified,
            Err(e) => {
                let reason = match e {
                    WebauthnError::CredentialPossibleCompromise => "passkey_counter_regressed",
                    _ => "passkey_rejected",
                };
                tracing::info!(error = %e, passkey = %stored.id, "passkey sign-in rejected");
                return refuse(reason, Some(stored.user_id), PasskeyError::Rejected).await;
            }
        };
        passkey.update_credential(&verified);
        let json = serde_json::to_value(&passkey).map_err(|e| unexpected("writing the passkey", e))?;

        let now = svc.clock.now();
        let mut tx = svc.store.begin().await?;
        let Some(user) = tx.user_by_id(&ctx.project.id, &stored.user_id).await? else {
            drop(tx);
            return refuse("passkey_unknown", None, PasskeyError::UnknownCredential).await;
        };
        tx.record_passkey_use(&stored.id, &json, verified.counter(), now).await?;
        let started = start_session(tx.as_mut(), ctx, &user, &PASSKEY_AMR, None, None, client, now).await?;
        let mut entry = audit.entry("ok", Some(&user.id), now);
        entry.detail = json!({ "passkeyId": stored.id });
        tx.insert_audit(&entry).await?;
        tx.commit().await?;
        let access = started.access_token(ctx, false, now).map_err(PasskeyError::Unexpected)?;
        Ok(SignInOutcome { user, session: started.session, access, refresh_secret: started.refresh_secret })
    }
    .await;
    record_outcome(result)
}

/// The user's passkeys as webauthn-rs credentials, with their rows.
fn parsed(stored: Vec<StoredPasskey>) -> Result<Vec<(StoredPasskey, Passkey)>, PasskeyError> {
    stored
        .into_iter()
        .map(|s| {
            let p = serde_json::from_value(s.passkey.clone()).map_err(|e| unexpected("reading a passkey", e))?;
            Ok((s, p))
        })
        .collect()
}

/// Starts adding a passkey to the signed-in user's account; the user's own passkeys are
/// excluded, so an authenticator is not registered twice.
#[tracing::instrument(skip_all, fields(project = %ctx.project.slug, method = METHOD, outcome = tracing::field::Empty))]
pub async fn start_add(
    svc: &Services,
    ctx: &ProjectContext,
    access_token: &str,
    name: Option<PasskeyName>,
) -> Result<Started, PasskeyError> {
    let result = async {
        let rp = relying_party(ctx)?;
        let (_, user) = authenticate(svc, ctx, access_token).await?;
        let own = parsed(svc.store.passkeys_of_user(&user.id).await?)?;
        // One user handle per user: the authenticator keeps the newest per (rp, handle).
        let handle = match own.first() {
            Some((s, _)) => Uuid::parse_str(&s.user_handle).map_err(|e| unexpected("reading a user handle", e))?,
            None => Uuid::new_v4(),
        };
        let user_name = account_name(&user);
        let display = user.name.clone().unwrap_or_else(|| user_name.clone());
        let exclude = own.into_iter().map(|(_, p)| p).collect();
        let (options, registration) = registration_options(&rp, handle, &user_name, &display, exclude)?;
        let state = AddState { registration, handle, name: PasskeyName::or_default(name) };
        let state = serde_json::to_value(&state).map_err(|e| unexpected("writing the passkey ceremony", e))?;
        let binding = store_ceremony(svc, ctx, "add", Some(&user.id), state).await?;
        Ok(Started { options, binding })
    }
    .await;
    record_outcome(result)
}

/// How the authenticator shows the account: its address, else its handle, else its id.
fn account_name(user: &User) -> String {
    user.email
        .as_ref()
        .map(|e| e.as_str().to_owned())
        .or_else(|| user.username.clone())
        .unwrap_or_else(|| user.id.clone())
}

/// Finishes adding a passkey; the ceremony must have been started by the same user.
#[tracing::instrument(skip_all, fields(project = %ctx.project.slug, method = METHOD, outcome = tracing::field::Empty))]
pub async fn finish_add(
    svc: &Services,
    ctx: &ProjectContext,
    access_token: &str,
    bindings: &[&str],
    response: &RegisterPublicKeyCredential,
    client: &ClientInfo,
) -> Result<StoredPasskey, PasskeyError> {
    let result = async {
        let rp = relying_party(ctx)?;
        let (_, user) = authenticate(svc, ctx, access_token).await?;
        let audit = Audit { ctx, action: "passkey.add", method: Some(METHOD), client };
        let ceremony = take_ceremony(svc, ctx, bindings, "add").await;
        let ceremony = match ceremony {
            Ok(c) if c.user_id.as_deref() == Some(user.id.as_str()) => c,
            Ok(_) | Err(_) => {
                audit
                    .record_refusal(svc.store.as_ref(), "passkey_ceremony_expired", Some(&user.id), svc.clock.now())
                    .await;
                return Err(PasskeyError::CeremonyExpired);
            }
        };
        let state: AddState = state_of(ceremony)?;
        let passkey = match finish_registration(&rp, response, &state.registration) {
            Ok(p) => p,
            Err(e) => {
                audit.record_refusal(svc.store.as_ref(), "passkey_rejected", Some(&user.id), svc.clock.now()).await;
                return Err(e);
            }
        };
        let now = svc.clock.now();
        let row = StoredPasskey {
            user_id: user.id.clone(),
            created_at: now,
            ..new_passkey(ctx, &passkey, state.handle, state.name)?
        };
        let mut tx = svc.store.begin().await?;
        match tx.insert_passkey(&row).await {
            Ok(()) => {}
            Err(StoreError::Conflict { .. }) => {
                drop(tx);
                audit.record_refusal(svc.store.as_ref(), "passkey_exists", Some(&user.id), now).await;
                return Err(PasskeyError::CredentialExists);
            }
            Err(e) => return Err(e.into()),
        }
        let mut entry = audit.entry("ok", Some(&user.id), now);
        entry.detail = json!({ "passkeyId": row.id });
        tx.insert_audit(&entry).await?;
        tx.commit().await?;
        Ok(row)
    }
    .await;
    record_outcome(result)
}

/// The signed-in user's passkeys, oldest first.
pub async fn list(
    svc: &Services,
    ctx: &ProjectContext,
    access_token: &str,
) -> Result<Vec<StoredPasskey>, PasskeyError> {
    let result = async {
        relying_party(ctx)?;
        let (_, user) = authenticate(svc, ctx, access_token).await?;
        Ok(svc.store.passkeys_of_user(&user.id).await?)
    }
    .await;
    record_outcome(result)
}

/// Removes one of the signed-in user's passkeys; another user's, or an unknown id, is `NotFound`.
pub async fn remove(
    svc: &Services,
    ctx: &ProjectContext,
    access_token: &str,
    passkey_id: &str,
    client: &ClientInfo,
) -> Result<(), PasskeyError> {
    let result = async {
        relying_party(ctx)?;
        let (_, user) = authenticate(svc, ctx, access_token).await?;
        let now = svc.clock.now();
        let mut tx = svc.store.begin().await?;
        if !tx.delete_passkey(&user.id, passkey_id).await? {
            return Err(PasskeyError::NotFound);
        }
        let mut entry =
            Audit { ctx, action: "passkey.remove", method: Some(METHOD), client }.entry("ok", Some(&user.id), now);
        entry.detail = json!({ "passkeyId": passkey_id });
        tx.insert_audit(&entry).await?;
        tx.commit().await?;
        Ok(())
    }
    .await;
    record_outcome(result)
}

#[cfg(test)]
mod tests {
    use super::PasskeyName;

    #[test]
    fn passkey_names_are_trimmed_and_bounded() {
        assert_eq!(PasskeyName::parse("  Laptop ").unwrap(), PasskeyName("Laptop".into()));
        assert!(PasskeyName::parse(" ").is_err());
        assert!(PasskeyName::parse(&"x".repeat(65)).is_err());
        assert!(PasskeyName::parse("a\u{7}b").is_err());
    }
}
