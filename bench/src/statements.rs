//! The SQL each flow runs, statement for statement, in the order the server runs it: the
//! write-flow LIMITS replay these from a bare sqlx client (limits.rs).
//!
//! Sources: crates/doorway-store/src/sql/*.rs (the text) and crates/doorway-core/src/flows/
//! (which statements a flow runs, and which sit inside its transaction). Captured again from the
//! server itself on 2026-11-29 at commit 539cef6 and checked against the code: run a server with
//! `RUST_LOG=warn,sqlx::query=debug`, send one request of the flow, and read the `db.statement`
//! lines. When a flow's statements change in the store or the core, change them here too;
//! `doorway-bench limit --check` (the first step of bench/flows.sh) runs every flow once on a
//! database freshly migrated by the doorway binary, so a statement that no longer matches the
//! schema stops the benchmark.
//!
//! Statements per request (without BEGIN/COMMIT; the server adds both around each transaction):
//!
//! | flow | outside the transaction | in it | total |
//! |---|---|---|---|
//! | email-signup (flows/email_signup.rs, account.rs create_account) | 1 | 9 | 10 |
//! | oauth-signup (flows/oauth_signup.rs sign_up_with_code, account_linking.rs decide, create_account; Rivergen: personal organization, its three roles in one statement) | 2 | 14 | 16 |
//! | refresh (flows/session.rs refresh; token, locked session and roles in one statement) | 0 | 3 | 3 |
//! | sign-out (flows/session.rs sign_out, by access token) | 0 | 4 | 4 |
//! | password-signup (create_account with a password) | 0 | 7 | 7 |
//! | me (flows/session.rs authenticated_claims, profile.rs who_am_i; session cached 2 s) | 1 (2 on a miss) | – | 1–2 |
//!
//! Sign-ups no longer read the user's roles (they are the project's default roles, known).
//!
//! On PostgreSQL the server sends each run of deferred writes (`deferred!` below, the store's
//! `defer!`) as one statement, and so do the limits; `doorway-bench limit --check` prints each
//! flow's round trips (password-signup 4, email-signup 7, oauth-signup 13, sign-out 4, refresh 4).

/// One bound value; the types are the schema's (TEXT, BIGINT, BOOLEAN, DOUBLE PRECISION).
#[derive(Clone, Debug)]
pub enum Bind {
    Text(String),
    OptText(Option<String>),
    Int(i64),
    OptInt(Option<i64>),
    Bool(bool),
    OptFloat(Option<f64>),
}

use Bind::{Bool, Int, OptFloat, OptInt, OptText, Text};

/// A statement as each engine sees it (they differ only in the row-lock suffix).
#[derive(Clone, Copy, Debug)]
pub struct Sql {
    pub sqlite: &'static str,
    pub postgres: &'static str,
    /// An insert the server defers on PostgreSQL (the store's `defer!`): sent together with the
    /// other deferred inserts before it, as one statement, before the next one or `COMMIT`.
    pub deferred: bool,
}

macro_rules! same {
    ($s:expr) => {
        Sql { sqlite: $s, postgres: $s, deferred: false }
    };
}

macro_rules! deferred {
    ($s:expr) => {
        Sql { sqlite: $s, postgres: $s, deferred: true }
    };
}

/// `SELECT … FOR UPDATE` on PostgreSQL, plain on SQLite (whose transaction holds the write lock).
macro_rules! locking {
    ($s:expr) => {
        Sql { sqlite: $s, postgres: concat!($s, " FOR UPDATE"), deferred: false }
    };
}

pub struct Step {
    pub sql: Sql,
    pub binds: Vec<Bind>,
}

/// A flow's statements: those before its transaction, then its transaction.
pub struct Script {
    pub before: Vec<Step>,
    pub tx: Vec<Step>,
}

impl Script {
    pub fn count(&self) -> usize {
        self.before.len() + self.tx.len()
    }

    /// Round trips to PostgreSQL: each statement before the transaction, then `BEGIN`, each
    /// statement or run of deferred ones in the transaction, and `COMMIT`.
    pub fn round_trips_pg(&self) -> usize {
        let sent =
            self.tx.iter().enumerate().filter(|(i, s)| !s.sql.deferred || *i == 0 || !self.tx[i - 1].sql.deferred);
        self.before.len() + if self.tx.is_empty() { 0 } else { sent.count() + 2 }
    }
}

fn step(sql: Sql, binds: Vec<Bind>) -> Step {
    Step { sql, binds }
}

// crates/doorway-store/src/sql/accounts.rs
const IDENTITY_USER: Sql = same!(
    "SELECT u.* FROM identities i JOIN users u ON u.id = i.user_id
     WHERE i.project_id = $1 AND i.provider = $2 AND i.subject = $3"
);
const USER_WITH_PASSWORD: Sql = same!(
    "SELECT u.*, p.phc FROM users u LEFT JOIN password_credentials p ON p.user_id = u.id
     WHERE u.project_id = $1 AND u.email = $2"
);
const INSERT_USER: Sql = same!(
    "INSERT INTO users (id, project_id, email, email_verified, name, username, avatar_url, bio,
        longitude, latitude, birthdate, metadata, secure_metadata, reputation, created_at, updated_at,
        custom_fields)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
     RETURNING seq"
);
const INSERT_PASSWORD: Sql =
    deferred!("INSERT INTO password_credentials (user_id, phc, created_at, updated_at) VALUES ($1, $2, $3, $3)");
const INSERT_IDENTITY: Sql = same!(
    "INSERT INTO identities (id, project_id, user_id, provider, subject, email, email_verified, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
);
const INSERT_ORGANIZATION: Sql = same!(
    "INSERT INTO organizations (id, project_id, name, slug, created_at) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (project_id, slug) DO NOTHING"
);
const INSERT_MEMBERSHIP: Sql =
    deferred!("INSERT INTO memberships (organization_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)");
const INSERT_ROLES: Sql = Sql {
    sqlite: "INSERT INTO roles (organization_id, name, created_at) SELECT $1, value, $3 FROM json_each($2)",
    postgres: "INSERT INTO roles (organization_id, name, created_at) SELECT $1, json_array_elements_text($2::json), $3",
    deferred: false,
};
const INSERT_WORKSPACE: Sql =
    deferred!("INSERT INTO workspaces (id, organization_id, name, slug, created_at) VALUES ($1, $2, $3, $4, $5)");
const INSERT_TERMS: Sql =
    deferred!("INSERT INTO terms_acceptances (user_id, version, accepted_at) VALUES ($1, $2, $3)");
/// The user with their memberships as one JSON array (accounts.rs USER_WITH_MEMBERSHIPS_*).
const USER_WITH_MEMBERSHIPS: Sql = Sql {
    sqlite: "SELECT u.*, (
        SELECT json_group_array(json_array(o.id, o.project_id, o.name, o.slug, o.created_at, m.role,
                                           w.id, w.name, w.slug, w.created_at, m.created_at))
        FROM memberships m
        JOIN organizations o ON o.id = m.organization_id
        LEFT JOIN workspaces w ON w.organization_id = o.id
        WHERE m.user_id = u.id) AS memberships
     FROM users u WHERE u.project_id = $1 AND u.id = $2",
    postgres: "SELECT u.*, COALESCE((
        SELECT json_agg(json_build_array(o.id, o.project_id, o.name, o.slug, o.created_at, m.role,
                                         w.id, w.name, w.slug, w.created_at, m.created_at))
        FROM memberships m
        JOIN organizations o ON o.id = m.organization_id
        LEFT JOIN workspaces w ON w.organization_id = o.id
        WHERE m.user_id = u.id), '[]')::text AS memberships
     FROM users u WHERE u.project_id = $1 AND u.id = $2",
    deferred: false,
};

// crates/doorway-store/src/sql/sessions.rs
pub const SESSION_BY_ID: Sql = same!("SELECT * FROM sessions WHERE id = $1");
const LOCK_SESSION: Sql = locking!("SELECT * FROM sessions WHERE id = $1");
pub const INSERT_SESSION: Sql = deferred!(
    "INSERT INTO sessions (id, project_id, user_id, amr, ip, user_agent, created_at, expires_at, revoked_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
);
pub const INSERT_REFRESH_TOKEN: Sql = deferred!(
    "INSERT INTO refresh_tokens (id, session_id, token_hash, parent_id, created_at, expires_at, used_at, revoked_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
);
const INSERT_SSO_SESSION: Sql = same!(
    "INSERT INTO sso_sessions (id, session_id, user_id, provider, subject, created_at)
     VALUES ($1, $2, $3, $4, $5, $6)"
);
/// The token, its locked session and the user's roles (sessions.rs TOKEN_WITH_SESSION_*).
const REFRESH_TOKEN_WITH_SESSION: Sql = Sql {
    sqlite: "SELECT s.*, t.id AS token_id, t.token_hash AS token_hash,
        t.parent_id AS token_parent_id, t.created_at AS token_created_at, t.expires_at AS token_expires_at,
        t.used_at AS token_used_at, t.revoked_at AS token_revoked_at,
        (SELECT json_group_array(r.role) FROM user_roles r WHERE r.user_id = s.user_id) AS roles
     FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id
     WHERE t.token_hash = $1",
    postgres: "SELECT s.*, t.id AS token_id, t.token_hash AS token_hash,
        t.parent_id AS token_parent_id, t.created_at AS token_created_at, t.expires_at AS token_expires_at,
        t.used_at AS token_used_at, t.revoked_at AS token_revoked_at,
        COALESCE((SELECT json_agg(r.role) FROM user_roles r WHERE r.user_id = s.user_id), '[]')::text AS roles
     FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id
     WHERE t.token_hash = $1
     FOR UPDATE OF t, s",
    deferred: false,
};
const MARK_REFRESH_TOKEN_USED: Sql = deferred!("UPDATE refresh_tokens SET used_at = $2 WHERE id = $1");
const REVOKE_SESSION: Sql = deferred!("UPDATE sessions SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1");
const REVOKE_SESSION_TOKENS: Sql =
    deferred!("UPDATE refresh_tokens SET revoked_at = COALESCE(revoked_at, $2) WHERE session_id = $1");

// crates/doorway-store/src/sql/outbox.rs, audit.rs, verification.rs
const INSERT_OUTBOX: Sql =
    deferred!("INSERT INTO outbox (id, project_id, topic, payload, created_at) VALUES ($1, $2, $3, $4, $5)");
const INSERT_AUDIT: Sql = deferred!(
    "INSERT INTO audit_log (id, project_id, at, action, outcome, method, user_id, ip, user_agent, detail)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
);
const LIVE_VERIFICATION: Sql = same!(
    "SELECT * FROM verifications WHERE project_id = $1 AND email = $2 AND purpose = $3 AND consumed_at IS NULL
     ORDER BY created_at DESC, id DESC LIMIT 1"
);
const INSERT_VERIFICATION: Sql = deferred!(
    "INSERT INTO verifications (id, project_id, user_id, email, purpose, kid, code_hash, link_hash, attempts,
        created_at, expires_at, consumed_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
);
const INSERT_DELIVERY: Sql = deferred!(
    "INSERT INTO deliveries (id, project_id, event_id, kind, target, body, status, attempts, next_attempt_at,
        claimed_until, last_error, created_at, delivered_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
);

/// Ids shaped like the server's (`usr_` + 32 hex digits), unique per task and iteration.
pub fn id(prefix: &str, key: &str, n: u32) -> String {
    format!("{prefix}_{key}{n:08x}")
}

fn hash(key: &str, what: &str) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(format!("{what}:{key}").as_bytes());
    base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, d)
}

fn t(s: &str) -> Bind {
    Text(s.to_owned())
}

/// What the payloads look like (their size is what matters to the engine).
fn user_event(user_id: &str, email: &str, now: i64) -> String {
    format!(
        r#"{{"user":{{"id":"{user_id}","email":"{email}","name":null,"emailVerified":false,"createdAt":"{now}"}}}}"#
    )
}

fn session_event(session_id: &str, user_id: &str, now: i64) -> String {
    format!(
        r#"{{"session":{{"id":"{session_id}","userId":"{user_id}","amr":[],"createdAt":"{now}","expiresAt":"{now}"}}}}"#
    )
}

fn insert_user(user_id: &str, project: &str, email: &str, verified: bool, name: Option<&str>, now: i64) -> Step {
    step(
        INSERT_USER,
        vec![
            t(user_id),
            t(project),
            OptText(Some(email.to_owned())),
            Bool(verified),
            OptText(name.map(str::to_owned)),
            OptText(None),
            OptText(None),
            OptText(None),
            OptFloat(None),
            OptFloat(None),
            OptText(None),
            t("{}"),
            t("{}"),
            Int(0),
            Int(now),
            Int(now),
            t("{}"),
        ],
    )
}

fn outbox(key: &str, n: u32, project: &str, topic: &str, payload: String, now: i64) -> Step {
    step(
        INSERT_OUTBOX,
        vec![Text(id(&format!("evt{}", topic.len()), key, n)), t(project), t(topic), Text(payload), Int(now)],
    )
}

fn audit(key: &str, n: u32, project: &str, action: &str, method: Option<&str>, user_id: &str, now: i64) -> Step {
    step(
        INSERT_AUDIT,
        vec![
            Text(id("aud", key, n)),
            t(project),
            Int(now),
            t(action),
            t("ok"),
            OptText(method.map(str::to_owned)),
            OptText(Some(user_id.to_owned())),
            OptText(Some("127.0.0.1".into())),
            OptText(Some("doorway-bench".into())),
            OptText(None),
        ],
    )
}

/// A session with its refresh token (and `session.created`): start_session in flows/session.rs.
fn start_session(
    key: &str,
    n: u32,
    project: &str,
    user_id: &str,
    amr: &str,
    sso: Option<(&str, &str)>,
    now: i64,
) -> Vec<Step> {
    let session_id = id("ses", key, n);
    let mut steps = vec![step(
        INSERT_SESSION,
        vec![
            Text(session_id.clone()),
            t(project),
            t(user_id),
            t(amr),
            OptText(Some("127.0.0.1".into())),
            OptText(Some("doorway-bench".into())),
            Int(now),
            Int(now + 30 * 86_400_000),
            OptInt(None),
        ],
    )];
    if let Some((provider, subject)) = sso {
        steps.push(step(
            INSERT_SSO_SESSION,
            vec![Text(id("sso", key, n)), Text(session_id.clone()), t(user_id), t(provider), t(subject), Int(now)],
        ));
    }
    steps.push(step(
        INSERT_REFRESH_TOKEN,
        vec![
            Text(id("rt", key, n)),
            Text(session_id.clone()),
            Text(hash(&format!("{key}/{n}"), "refresh")),
            OptText(None),
            Int(now),
            Int(now + 30 * 86_400_000),
            OptInt(None),
            OptInt(None),
        ],
    ));
    steps.push(outbox(key, n, project, "session.created", session_event(&session_id, user_id, now), now));
    steps
}

/// Storyden `POST /auth/email/signup` without a password: flows/email_signup.rs.
pub fn email_signup(key: &str, n: u32, project: &str, now: i64) -> Script {
    let user_id = id("usr", key, n);
    let email = format!("{key}-{n}@limit.bench.example.com");
    let mut tx = vec![
        insert_user(&user_id, project, &email, false, None, now),
        outbox(key, n, project, "user.created", user_event(&user_id, &email, now), now),
    ];
    tx.extend(start_session(key, n, project, &user_id, "", None, now));
    // send_code (flows/verification.rs): the live code, a new one, and its mail.
    tx.push(step(LIVE_VERIFICATION, vec![t(project), Text(email.clone()), t("verify_email")]));
    tx.push(step(
        INSERT_VERIFICATION,
        vec![
            Text(id("ver", key, n)),
            t(project),
            OptText(Some(user_id.clone())),
            Text(email.clone()),
            t("verify_email"),
            t("kid"),
            Text(hash(&format!("{key}/{n}"), "code")),
            Text(hash(&format!("{key}/{n}"), "link")),
            Int(0),
            Int(now),
            Int(now + 900_000),
            OptInt(None),
        ],
    ));
    tx.push(step(
        INSERT_DELIVERY,
        vec![
            Text(id("msg", key, n)),
            t(project),
            Text(id("evtm", key, n)),
            t("mail"),
            Text(email.clone()),
            // A code mail's row body is ~830 bytes (the server's, measured).
            Text("x".repeat(833)),
            t("pending"),
            Int(0),
            Int(now),
            OptInt(None),
            OptText(None),
            Int(now),
            OptInt(None),
        ],
    ));
    tx.push(audit(key, n, project, "signup", Some("email"), &user_id, now));
    Script { before: vec![step(USER_WITH_PASSWORD, vec![t(project), Text(email)])], tx }
}

/// Rivergen `POST /api/v1/auth/oauth/signup` for a new subject: flows/oauth_signup.rs, with the
/// personal organization (three roles in one statement, a workspace) and the terms acceptance.
pub fn oauth_signup(key: &str, n: u32, project: &str, now: i64) -> Script {
    let user_id = id("usr", key, n);
    let subject = format!("bench-{key}-{n}");
    let email = format!("{key}-{n}@oauth.limit.bench.example.com");
    let org = id("org", key, n);
    let mut tx = vec![
        insert_user(&user_id, project, &email, true, Some("Bench User"), now),
        step(
            INSERT_IDENTITY,
            vec![
                Text(id("idn", key, n)),
                t(project),
                t(&user_id),
                t("bench"),
                Text(subject.clone()),
                OptText(Some(email.clone())),
                Bool(true),
                Int(now),
            ],
        ),
        outbox(key, n, project, "user.created", user_event(&user_id, &email, now), now),
        step(
            INSERT_ORGANIZATION,
            vec![
                Text(org.clone()),
                t(project),
                t("Bench User's Organization"),
                Text(format!("bench-{key}-{n}-organization")),
                Int(now),
            ],
        ),
        step(INSERT_MEMBERSHIP, vec![Text(org.clone()), t(&user_id), t("owner"), Int(now)]),
        outbox(
            key,
            n,
            project,
            "organization.created",
            format!(r#"{{"organization":{{"id":"{org}"}},"ownerId":"{user_id}"}}"#),
            now,
        ),
    ];
    tx.push(step(INSERT_ROLES, vec![Text(org.clone()), t(r#"["owner","admin","member"]"#), Int(now)]));
    tx.push(step(
        INSERT_WORKSPACE,
        vec![Text(id("wsp", key, n)), Text(org.clone()), t("Default"), t("default"), Int(now)],
    ));
    tx.push(step(INSERT_TERMS, vec![t(&user_id), t("1.0"), Int(now)]));
    tx.extend(start_session(key, n, project, &user_id, "oauth bench", Some(("bench", &subject)), now));
    tx.push(audit(key, n, project, "signup", Some("oauth:bench"), &user_id, now));
    Script {
        before: vec![
            step(IDENTITY_USER, vec![t(project), t("bench"), Text(subject)]),
            step(USER_WITH_PASSWORD, vec![t(project), Text(email)]),
        ],
        tx,
    }
}

/// Native `POST /api/auth/sign-up` (the statements only; its limit is the hash rate).
pub fn password_signup(key: &str, n: u32, project: &str, now: i64) -> Script {
    let user_id = id("usr", key, n);
    let email = format!("{key}-{n}@pw.limit.bench.example.com");
    let mut tx = vec![
        insert_user(&user_id, project, &email, false, Some("Bench User"), now),
        step(
            INSERT_PASSWORD,
            vec![
                t(&user_id),
                t("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA"),
                Int(now),
            ],
        ),
        outbox(key, n, project, "user.created", user_event(&user_id, &email, now), now),
    ];
    tx.extend(start_session(key, n, project, &user_id, "pwd", None, now));
    tx.push(audit(key, n, project, "signup", Some("password"), &user_id, now));
    Script { before: Vec::new(), tx }
}

/// A refresh rotation (flows/session.rs refresh) of the token (`current_id`, `current_hash`);
/// returns the child's (id, hash), which the next rotation presents.
pub fn refresh(key: &str, n: u32, current: (&str, &str), session_id: &str, now: i64) -> (Script, (String, String)) {
    let child_id = id("rtr", key, n);
    let child_hash = hash(&format!("{key}/r{n}"), "refresh");
    let tx = vec![
        step(REFRESH_TOKEN_WITH_SESSION, vec![t(current.1)]),
        step(MARK_REFRESH_TOKEN_USED, vec![t(current.0), Int(now)]),
        step(
            INSERT_REFRESH_TOKEN,
            vec![
                Text(child_id.clone()),
                t(session_id),
                Text(child_hash.clone()),
                OptText(Some(current.0.to_owned())),
                Int(now),
                Int(now + 30 * 86_400_000),
                OptInt(None),
                OptInt(None),
            ],
        ),
    ];
    (Script { before: Vec::new(), tx }, (child_id, child_hash))
}

/// A further session (with its refresh token) for an existing user: sign-out's supply.
pub fn extra_session(key: &str, n: u32, project: &str, user_id: &str, now: i64) -> Vec<Step> {
    let mut steps = start_session(key, n, project, user_id, "", None, now);
    steps.truncate(2);
    steps
}

/// The (id, hash) of the refresh token `start_session` made for (key, n).
pub fn first_refresh_token(key: &str, n: u32) -> (String, String) {
    (id("rt", key, n), hash(&format!("{key}/{n}"), "refresh"))
}

/// Sign-out by access token (flows/session.rs sign_out): the token is verified first (no SQL).
pub fn sign_out(key: &str, n: u32, project: &str, session_id: &str, user_id: &str, now: i64) -> Script {
    Script {
        before: Vec::new(),
        tx: vec![
            step(LOCK_SESSION, vec![t(session_id)]),
            step(REVOKE_SESSION, vec![t(session_id), Int(now)]),
            step(REVOKE_SESSION_TOKENS, vec![t(session_id), Int(now)]),
            audit(key, n, project, "signout", None, user_id, now),
        ],
    }
}

/// `GET /api/auth/me` reads on a session-cache miss (no transaction): the session, then the
/// user with their memberships in one statement (roles come from the access token).
pub fn me_reads(project: &str, session_id: &str, user_id: &str) -> Script {
    Script {
        before: vec![
            step(SESSION_BY_ID, vec![t(session_id)]),
            step(USER_WITH_MEMBERSHIPS, vec![t(project), t(user_id)]),
        ],
        tx: Vec::new(),
    }
}

/// `GET /api/auth/me` reads when the session check is cached (every request but one per 2 s).
pub fn me_cached_reads(project: &str, user_id: &str) -> Script {
    Script { before: vec![step(USER_WITH_MEMBERSHIPS, vec![t(project), t(user_id)])], tx: Vec::new() }
}
