//! Row shapes shared by both engines and their conversion into domain types.

use doorway_core::email::EmailAddress;
use doorway_core::events::{AuditEntry, ClientInfo, OutboxMessage};
use doorway_core::keys::ProjectKey;
use doorway_core::mail::CodePurpose;
use doorway_core::organization::{Membership, Organization, Workspace};
use doorway_core::session::{RefreshToken, Session};
use doorway_core::store::{OAuthState, PasskeyCeremony, PendingExternal, StoredPasskey, TokenWithSession};
use doorway_core::user::{GeoPoint, User};
use doorway_core::verification::Verification;
use doorway_core::webhooks::{Delivery, DeliveryAttempt, DeliveryKind, DeliveryStatus};
use doorway_core::{Project, ProjectSlug, StoreError, Timestamp};

use crate::errors::corrupt;
use crate::key_sealing::{self, MasterKey};
use crate::sqlite::{Columns, FromSqlite};

/// A row struct with `sqlx::FromRow` (PostgreSQL) and [`FromSqlite`] (SQLite), from one
/// field list; a leading `#[flatten]` field reads its own columns from the same row.
macro_rules! row {
    ($(#[$meta:meta])* $vis:vis struct $row:ident {
        $(#[flatten] $flat:ident: $flat_ty:ty,)?
        $($fvis:vis $field:ident: $ty:ty),* $(,)?
    }) => {
        $(#[$meta])*
        #[derive(sqlx::FromRow)]
        $vis struct $row {
            $(#[sqlx(flatten)] $flat: $flat_ty,)?
            $($fvis $field: $ty),*
        }

        impl FromSqlite for $row {
            fn from_sqlite(row: &rusqlite::Row<'_>, columns: &Columns) -> rusqlite::Result<Self> {
                Ok(Self {
                    $($flat: <$flat_ty as FromSqlite>::from_sqlite(row, columns)?,)?
                    $($field: row.get(columns.index(stringify!($field))?)?),*
                })
            }
        }
    };
}

row! {
    pub(crate) struct ProjectRow {
        id: String,
        slug: String,
        name: String,
        settings: String,
        created_at: i64,
        updated_at: i64,
    }
}

impl TryFrom<ProjectRow> for Project {
    type Error = StoreError;
    fn try_from(r: ProjectRow) -> Result<Self, StoreError> {
        Ok(Project {
            slug: ProjectSlug::parse(&r.slug).map_err(|e| corrupt(format!("project slug: {e}")))?,
            settings: serde_json::from_str(&r.settings)
                .map_err(|e| corrupt(format!("settings of project {}: {e}", r.slug)))?,
            id: r.id,
            name: r.name,
            created_at: Timestamp::from_millis(r.created_at),
            updated_at: Timestamp::from_millis(r.updated_at),
        })
    }
}

row! {
    pub(crate) struct KeyRow {
        kid: String,
        secret: Vec<u8>,
        secret_format: String,
        created_at: i64,
        retires_at: Option<i64>,
    }
}

impl KeyRow {
    /// The key, its secret opened with the master key when it is sealed.
    pub(crate) fn into_key(self, master: Option<&MasterKey>) -> Result<ProjectKey, StoreError> {
        let secret = key_sealing::from_stored(master, &self.kid, &self.secret, &self.secret_format)
            .map_err(StoreError::unexpected)?;
        ProjectKey::from_stored(
            self.kid,
            &secret,
            Timestamp::from_millis(self.created_at),
            self.retires_at.map(Timestamp::from_millis),
        )
        .map_err(|e| corrupt(e.to_string()))
    }
}

#[allow(clippy::expect_used, reason = "settings are structs and string-keyed maps, which always serialise")]
pub(crate) fn settings_json(p: &Project) -> String {
    serde_json::to_string(&p.settings).expect("settings always serialise")
}

row! {
    pub(crate) struct UserRow {
        seq: i64,
        id: String,
        project_id: String,
        email: Option<String>,
        email_verified: bool,
        name: Option<String>,
        username: Option<String>,
        avatar_url: Option<String>,
        bio: Option<String>,
        longitude: Option<f64>,
        latitude: Option<f64>,
        birthdate: Option<String>,
        metadata: String,
        secure_metadata: String,
        reputation: i64,
        custom_fields: String,
        created_at: i64,
        updated_at: i64,
    }
}

impl TryFrom<UserRow> for User {
    type Error = StoreError;
    fn try_from(r: UserRow) -> Result<Self, StoreError> {
        let json = |what: &str, text: &str| {
            serde_json::from_str(text).map_err(|e| corrupt(format!("{what} of user {}: {e}", r.id)))
        };
        Ok(User {
            metadata: json("metadata", &r.metadata)?,
            secure_metadata: json("secure_metadata", &r.secure_metadata)?,
            custom_fields: json("custom_fields", &r.custom_fields)?,
            location: match (r.longitude, r.latitude) {
                (Some(longitude), Some(latitude)) => Some(GeoPoint { longitude, latitude }),
                _ => None,
            },
            seq: r.seq,
            id: r.id,
            project_id: r.project_id,
            email: r.email.map(EmailAddress::from_trusted),
            email_verified: r.email_verified,
            name: r.name,
            username: r.username,
            avatar_url: r.avatar_url,
            bio: r.bio,
            birthdate: r.birthdate,
            reputation: r.reputation,
            created_at: Timestamp::from_millis(r.created_at),
            updated_at: Timestamp::from_millis(r.updated_at),
        })
    }
}

row! {
    pub(crate) struct UserWithPasswordRow {
        #[flatten] user: UserRow,
        phc: Option<String>,
    }
}

impl TryFrom<UserWithPasswordRow> for (User, Option<String>) {
    type Error = StoreError;
    fn try_from(r: UserWithPasswordRow) -> Result<Self, StoreError> {
        Ok((User::try_from(r.user)?, r.phc))
    }
}

row! {
    /// A user with their memberships as one JSON array of rows (see `USER_WITH_MEMBERSHIPS_*`).
    pub(crate) struct UserWithMembershipsRow {
        #[flatten] user: UserRow,
        memberships: String,
    }
}

/// One membership row as the JSON array holds it: the organization, the role, a workspace, and
/// when the membership began.
type MembershipJson =
    (String, String, String, String, i64, String, Option<String>, Option<String>, Option<String>, Option<i64>, i64);

/// Oldest membership first, then by organization; within one, oldest workspace first.
fn membership_order(r: &MembershipJson) -> (i64, &str, Option<i64>, Option<&str>) {
    (r.10, &r.0, r.9, r.6.as_deref())
}

impl TryFrom<UserWithMembershipsRow> for (User, Vec<Membership>) {
    type Error = StoreError;
    fn try_from(r: UserWithMembershipsRow) -> Result<Self, StoreError> {
        let mut rows: Vec<MembershipJson> = serde_json::from_str(&r.memberships).map_err(StoreError::unexpected)?;
        // Ordered here rather than in the aggregate: SQLite builds a temporary table for an
        // aggregate's ORDER BY on every execution (~5 % of a `me` request's CPU).
        rows.sort_by(|a, b| membership_order(a).cmp(&membership_order(b)));
        let rows = rows
            .into_iter()
            .map(|(id, project_id, name, slug, created_at, role, w_id, w_name, w_slug, w_created_at, _)| {
                MembershipWorkspaceRow {
                    membership: MembershipRow { id, project_id, name, slug, created_at, role },
                    workspace_id: w_id,
                    workspace_name: w_name,
                    workspace_slug: w_slug,
                    workspace_created_at: w_created_at,
                }
            })
            .collect();
        Ok((User::try_from(r.user)?, memberships_from(rows)))
    }
}

row! {
    pub(crate) struct SessionRow {
        id: String,
        project_id: String,
        user_id: String,
        amr: String,
        ip: Option<String>,
        user_agent: Option<String>,
        created_at: i64,
        expires_at: i64,
        revoked_at: Option<i64>,
    }
}

impl From<SessionRow> for Session {
    fn from(r: SessionRow) -> Self {
        Session {
            id: r.id,
            project_id: r.project_id,
            user_id: r.user_id,
            amr: r.amr.split_whitespace().map(str::to_owned).collect(),
            created_at: Timestamp::from_millis(r.created_at),
            expires_at: Timestamp::from_millis(r.expires_at),
            revoked_at: r.revoked_at.map(Timestamp::from_millis),
            client: ClientInfo { ip: r.ip, user_agent: r.user_agent },
        }
    }
}

row! {
    pub(crate) struct RefreshTokenRow {
        id: String,
        session_id: String,
        token_hash: String,
        parent_id: Option<String>,
        created_at: i64,
        expires_at: i64,
        used_at: Option<i64>,
        revoked_at: Option<i64>,
    }
}

impl From<RefreshTokenRow> for RefreshToken {
    fn from(r: RefreshTokenRow) -> Self {
        RefreshToken {
            id: r.id,
            session_id: r.session_id,
            token_hash: r.token_hash,
            parent_id: r.parent_id,
            created_at: Timestamp::from_millis(r.created_at),
            expires_at: Timestamp::from_millis(r.expires_at),
            used_at: r.used_at.map(Timestamp::from_millis),
            revoked_at: r.revoked_at.map(Timestamp::from_millis),
        }
    }
}

row! {
    /// A refresh token (columns `token_*`) joined to its session.
    pub(crate) struct TokenWithSessionRow {
        #[flatten] session: SessionRow,
        token_id: String,
        token_hash: String,
        token_parent_id: Option<String>,
        token_created_at: i64,
        token_expires_at: i64,
        token_used_at: Option<i64>,
        token_revoked_at: Option<i64>,
        roles: String,
    }
}

impl TryFrom<TokenWithSessionRow> for TokenWithSession {
    type Error = StoreError;
    fn try_from(r: TokenWithSessionRow) -> Result<Self, StoreError> {
        let mut roles: Vec<String> = serde_json::from_str(&r.roles).map_err(StoreError::unexpected)?;
        // In name order, as an access token lists them: sorted here, not by the aggregate (an
        // aggregate's ORDER BY costs SQLite a temporary table per read).
        roles.sort_unstable();
        let token = RefreshTokenRow {
            id: r.token_id,
            session_id: r.session.id.clone(),
            token_hash: r.token_hash,
            parent_id: r.token_parent_id,
            created_at: r.token_created_at,
            expires_at: r.token_expires_at,
            used_at: r.token_used_at,
            revoked_at: r.token_revoked_at,
        };
        Ok(TokenWithSession { token: token.into(), session: r.session.into(), roles })
    }
}

pub(crate) struct MembershipRow {
    id: String,
    project_id: String,
    name: String,
    slug: String,
    created_at: i64,
    role: String,
}

impl From<MembershipRow> for (Organization, String) {
    fn from(r: MembershipRow) -> Self {
        let org = Organization {
            id: r.id,
            project_id: r.project_id,
            name: r.name,
            slug: r.slug,
            created_at: Timestamp::from_millis(r.created_at),
        };
        (org, r.role)
    }
}

row! {
    pub(crate) struct OutboxRow {
        id: String,
        project_id: String,
        topic: String,
        payload: String,
        created_at: i64,
    }
}

impl TryFrom<OutboxRow> for OutboxMessage {
    type Error = StoreError;
    fn try_from(r: OutboxRow) -> Result<Self, StoreError> {
        Ok(OutboxMessage {
            payload: serde_json::from_str(&r.payload).map_err(|e| corrupt(format!("outbox {}: {e}", r.id)))?,
            id: r.id,
            project_id: r.project_id,
            topic: r.topic,
            created_at: Timestamp::from_millis(r.created_at),
        })
    }
}

row! {
    pub(crate) struct AuditRow {
        id: String,
        project_id: String,
        at: i64,
        action: String,
        outcome: String,
        method: Option<String>,
        user_id: Option<String>,
        ip: Option<String>,
        user_agent: Option<String>,
        detail: Option<String>,
    }
}

impl From<AuditRow> for AuditEntry {
    fn from(r: AuditRow) -> Self {
        AuditEntry {
            id: r.id,
            project_id: r.project_id,
            at: Timestamp::from_millis(r.at),
            action: r.action,
            outcome: r.outcome,
            method: r.method,
            user_id: r.user_id,
            ip: r.ip,
            user_agent: r.user_agent,
            detail: r.detail.and_then(|d| serde_json::from_str(&d).ok()).unwrap_or(serde_json::Value::Null),
        }
    }
}

pub(crate) fn json_text(value: &serde_json::Value) -> String {
    value.to_string()
}

row! {
    pub(crate) struct DeliveryRow {
        id: String,
        project_id: String,
        event_id: String,
        kind: String,
        target: String,
        body: String,
        status: String,
        attempts: i64,
        next_attempt_at: i64,
        claimed_until: Option<i64>,
        last_error: Option<String>,
        created_at: i64,
        delivered_at: Option<i64>,
    }
}

impl TryFrom<DeliveryRow> for Delivery {
    type Error = StoreError;
    fn try_from(r: DeliveryRow) -> Result<Self, StoreError> {
        let kind = match r.kind.as_str() {
            "webhook" => DeliveryKind::Webhook,
            "mail" => DeliveryKind::Mail,
            other => return Err(corrupt(format!("delivery {} has kind {other}", r.id))),
        };
        let status = DeliveryStatus::parse(&r.status).ok_or_else(|| corrupt(format!("delivery {} status", r.id)))?;
        Ok(Delivery {
            id: r.id,
            project_id: r.project_id,
            event_id: r.event_id,
            kind,
            target: r.target,
            body: r.body,
            status,
            attempts: r.attempts,
            next_attempt_at: Timestamp::from_millis(r.next_attempt_at),
            claimed_until: r.claimed_until.map(Timestamp::from_millis),
            last_error: r.last_error,
            created_at: Timestamp::from_millis(r.created_at),
            delivered_at: r.delivered_at.map(Timestamp::from_millis),
        })
    }
}

row! {
    pub(crate) struct AttemptRow {
        delivery_id: String,
        attempt: i64,
        at: i64,
        status_code: Option<i64>,
        latency_ms: i64,
        error: Option<String>,
    }
}

impl From<AttemptRow> for DeliveryAttempt {
    fn from(r: AttemptRow) -> Self {
        DeliveryAttempt {
            delivery_id: r.delivery_id,
            attempt: r.attempt,
            at: Timestamp::from_millis(r.at),
            status_code: r.status_code,
            latency_ms: r.latency_ms,
            error: r.error,
        }
    }
}

row! {
    pub(crate) struct VerificationRow {
        id: String,
        project_id: String,
        user_id: Option<String>,
        email: String,
        purpose: String,
        kid: String,
        code_hash: String,
        link_hash: String,
        attempts: i64,
        created_at: i64,
        expires_at: i64,
        consumed_at: Option<i64>,
    }
}

impl TryFrom<VerificationRow> for Verification {
    type Error = StoreError;
    fn try_from(r: VerificationRow) -> Result<Self, StoreError> {
        let purpose = match r.purpose.as_str() {
            "verify_email" => CodePurpose::VerifyEmail,
            "sign_in" => CodePurpose::SignIn,
            "password_reset" => CodePurpose::PasswordReset,
            other => return Err(corrupt(format!("verification {} has purpose {other}", r.id))),
        };
        Ok(Verification {
            id: r.id,
            project_id: r.project_id,
            user_id: r.user_id,
            email: EmailAddress::from_trusted(r.email),
            purpose,
            kid: r.kid,
            code_hash: r.code_hash,
            link_hash: r.link_hash,
            attempts: r.attempts,
            created_at: Timestamp::from_millis(r.created_at),
            expires_at: Timestamp::from_millis(r.expires_at),
            consumed_at: r.consumed_at.map(Timestamp::from_millis),
        })
    }
}

row! {
    pub(crate) struct OAuthStateRow {
        id: String,
        project_id: String,
        state_hash: String,
        provider: String,
        nonce: String,
        pkce_verifier: String,
        redirect_uri: String,
        callback_url: String,
        purpose: String,
        created_at: i64,
        expires_at: i64,
    }
}

impl From<OAuthStateRow> for OAuthState {
    fn from(r: OAuthStateRow) -> Self {
        OAuthState {
            id: r.id,
            project_id: r.project_id,
            state_hash: r.state_hash,
            provider: r.provider,
            nonce: r.nonce,
            pkce_verifier: r.pkce_verifier,
            redirect_uri: r.redirect_uri,
            callback_url: r.callback_url,
            purpose: r.purpose,
            created_at: Timestamp::from_millis(r.created_at),
            expires_at: Timestamp::from_millis(r.expires_at),
        }
    }
}

row! {
    pub(crate) struct PendingExternalRow {
        id: String,
        project_id: String,
        kind: String,
        profile: String,
        created_at: i64,
        expires_at: i64,
    }
}

impl TryFrom<PendingExternalRow> for PendingExternal {
    type Error = StoreError;
    fn try_from(r: PendingExternalRow) -> Result<Self, StoreError> {
        Ok(PendingExternal {
            profile: serde_json::from_str(&r.profile).map_err(|e| corrupt(format!("pending profile: {e}")))?,
            id: r.id,
            project_id: r.project_id,
            kind: r.kind,
            created_at: Timestamp::from_millis(r.created_at),
            expires_at: Timestamp::from_millis(r.expires_at),
        })
    }
}

/// One row per (membership, workspace); an organization without workspaces gives one row
/// with the workspace columns NULL.
pub(crate) struct MembershipWorkspaceRow {
    membership: MembershipRow,
    workspace_id: Option<String>,
    workspace_name: Option<String>,
    workspace_slug: Option<String>,
    workspace_created_at: Option<i64>,
}

/// Folds rows ordered by membership into memberships with their workspaces.
pub(crate) fn memberships_from(rows: Vec<MembershipWorkspaceRow>) -> Vec<Membership> {
    let mut memberships: Vec<Membership> = Vec::new();
    for r in rows {
        let workspace = match (r.workspace_id, r.workspace_name, r.workspace_slug, r.workspace_created_at) {
            (Some(id), Some(name), Some(slug), Some(created_at)) => Some(Workspace {
                id,
                organization_id: r.membership.id.clone(),
                name,
                slug,
                created_at: Timestamp::from_millis(created_at),
            }),
            _ => None,
        };
        if memberships.last().is_none_or(|m| m.organization.id != r.membership.id) {
            let (organization, role) = r.membership.into();
            memberships.push(Membership { organization, role, workspaces: Vec::new() });
        }
        if let (Some(w), Some(m)) = (workspace, memberships.last_mut()) {
            m.workspaces.push(w);
        }
    }
    memberships
}

#[cfg(test)]
mod membership_tests {
    use super::*;

    fn row(org: &str, workspace: Option<&str>) -> MembershipWorkspaceRow {
        MembershipWorkspaceRow {
            membership: MembershipRow {
                id: org.into(),
                project_id: "prj_1".into(),
                name: org.into(),
                slug: org.into(),
                created_at: 1,
                role: "owner".into(),
            },
            workspace_id: workspace.map(Into::into),
            workspace_name: workspace.map(Into::into),
            workspace_slug: workspace.map(Into::into),
            workspace_created_at: workspace.map(|_| 2),
        }
    }

    #[test]
    fn folds_workspaces_into_their_membership() {
        let memberships =
            memberships_from(vec![row("org_a", Some("wsp_1")), row("org_a", Some("wsp_2")), row("org_b", None)]);
        let shape: Vec<(&str, Vec<&str>)> = memberships
            .iter()
            .map(|m| (m.organization.id.as_str(), m.workspaces.iter().map(|w| w.id.as_str()).collect()))
            .collect();
        assert_eq!(shape, vec![("org_a", vec!["wsp_1", "wsp_2"]), ("org_b", vec![])]);
        assert_eq!(memberships[0].workspaces[1].organization_id, "org_a");
    }
}

row! {
    pub(crate) struct PasskeyRow {
        id: String,
        project_id: String,
        user_id: String,
        credential_id: String,
        user_handle: String,
        name: String,
        passkey: String,
        counter: i64,
        created_at: i64,
        last_used_at: Option<i64>,
    }
}

impl TryFrom<PasskeyRow> for StoredPasskey {
    type Error = StoreError;
    fn try_from(r: PasskeyRow) -> Result<Self, StoreError> {
        Ok(StoredPasskey {
            passkey: serde_json::from_str(&r.passkey).map_err(|e| corrupt(format!("passkey: {e}")))?,
            counter: u32::try_from(r.counter).map_err(|e| corrupt(format!("passkey counter: {e}")))?,
            id: r.id,
            project_id: r.project_id,
            user_id: r.user_id,
            credential_id: r.credential_id,
            user_handle: r.user_handle,
            name: r.name,
            created_at: Timestamp::from_millis(r.created_at),
            last_used_at: r.last_used_at.map(Timestamp::from_millis),
        })
    }
}

row! {
    pub(crate) struct PasskeyCeremonyRow {
        id: String,
        project_id: String,
        pub(crate) kind: String,
        binding_hash: String,
        user_id: Option<String>,
        state: String,
        created_at: i64,
        pub(crate) expires_at: i64,
    }
}

impl TryFrom<PasskeyCeremonyRow> for PasskeyCeremony {
    type Error = StoreError;
    fn try_from(r: PasskeyCeremonyRow) -> Result<Self, StoreError> {
        Ok(PasskeyCeremony {
            state: serde_json::from_str(&r.state).map_err(|e| corrupt(format!("passkey ceremony: {e}")))?,
            id: r.id,
            project_id: r.project_id,
            kind: r.kind,
            binding_hash: r.binding_hash,
            user_id: r.user_id,
            created_at: Timestamp::from_millis(r.created_at),
            expires_at: Timestamp::from_millis(r.expires_at),
        })
    }
}
