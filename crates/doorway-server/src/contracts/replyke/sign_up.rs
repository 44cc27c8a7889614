//! `POST /auth/sign-up` (seed 001): email, password and a rich profile.

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use doorway_core::email::EmailAddress;
use doorway_core::flows::password_signup::{self, PasswordSignup, SignupError};
use doorway_core::lookalike;
use doorway_core::password::Password;
use doorway_core::user::{GeoPoint, Login, ProfileDraft, Username};
use serde_json::{Map, Value};

use super::views::{AuthResponse, RefreshCookie};
use super::{FieldProblem, ReplykeError, ReplykeJson, ReplykeSettings};
use crate::client_info::Client;
use crate::contracts::common::BotChecked;
use crate::contracts::common::bot_check::BotCheckHeader;
use crate::project_scope::{CurrentProject, RoutePrefix};
use crate::state::AppState;
use crate::telemetry::{record_signup, signup_outcome};

struct Parsed {
    email: EmailAddress,
    password: Password,
    profile: ProfileDraft,
}

/// Collects every problem of the optional fields; missing email or password wins, as documented.
/// `refuse_mixed_script`: the project's `names.refuse_mixed_script`.
fn parse(body: &Value, refuse_mixed_script: bool) -> Result<Parsed, ReplykeError> {
    let Value::Object(body) = body else {
        return Err(ReplykeError::new(StatusCode::BAD_REQUEST, "auth/invalid-body", "The body must be a JSON object"));
    };
    let present = |key: &str| match body.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(v) => Some(v),
    };
    let (Some(email), Some(password)) = (present("email"), present("password")) else {
        return Err(ReplykeError::missing_fields());
    };
    let mut problems = Vec::new();
    let mut problem = |field: &'static str, code: &'static str, message: &str| {
        problems.push(FieldProblem { field, code, message: message.to_owned() });
    };
    let email = match email.as_str().map(EmailAddress::parse) {
        Some(Ok(e)) => Some(e),
        _ => {
            problem("email", "auth/invalid-email", "Email must be a valid email address");
            None
        }
    };
    let password = match password.as_str() {
        Some(p) => Some(Password::new(p.to_owned())),
        None => {
            problem("password", "auth/invalid-password", "Password must be a string");
            None
        }
    };
    let text = |key: &str, max: usize| -> Result<Option<String>, ()> {
        match present(key) {
            None => Ok(None),
            Some(Value::String(s))
                if s.trim().chars().count() <= max && !s.chars().any(|c| c.is_control() && c != '\n') =>
            {
                Ok(Some(s.trim().to_owned()))
            }
            Some(_) => Err(()),
        }
    };
    let name = text("name", 100).unwrap_or_else(|()| {
        problem("name", "auth/invalid-name", "Name must be a string of at most 100 characters");
        None
    });
    let name = name.filter(|n| match lookalike::check_name(n, refuse_mixed_script) {
        Ok(()) => true,
        Err(e) => {
            problem("name", "auth/invalid-name", &format!("Name {e}"));
            false
        }
    });
    let username = match present("username") {
        None => None,
        Some(v) => match v.as_str().map(Username::parse) {
            Some(Ok(u)) => Some(u),
            _ => {
                problem(
                    "username",
                    "auth/invalid-username",
                    "Username must be 2 to 30 characters of letters, digits, '_', '.' or '-'",
                );
                None
            }
        },
    };
    let avatar_url = match text("avatar", 2048) {
        Ok(Some(a)) if is_web_url(&a) => Some(a),
        Ok(None) => None,
        _ => {
            problem("avatar", "auth/invalid-avatar", "Avatar must be an absolute http(s) URL");
            None
        }
    };
    let bio = text("bio", 1000).unwrap_or_else(|()| {
        problem("bio", "auth/invalid-bio", "Bio must be a string of at most 1000 characters");
        None
    });
    let location = match present("location") {
        None => None,
        Some(v) => geo_point(v).map(Some).unwrap_or_else(|| {
            problem(
                "location",
                "auth/invalid-location",
                "Location must be {longitude, latitude} with longitude in [-180, 180] and latitude in [-90, 90]",
            );
            None
        }),
    };
    let birthdate = match present("birthdate") {
        None => None,
        Some(v) => v.as_str().and_then(parse_birthdate).map(Some).unwrap_or_else(|| {
            problem("birthdate", "auth/invalid-birthdate", "Birthdate must be an ISO date (YYYY-MM-DD) in the past");
            None
        }),
    };
    let mut object = |key: &str, field: &'static str, code: &'static str, message: &str| match body.get(key) {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map.clone(),
        Some(_) => {
            problems.push(FieldProblem { field, code, message: message.to_owned() });
            Map::new()
        }
    };
    let metadata = object("metadata", "metadata", "auth/invalid-metadata", "Metadata must be a JSON object");
    let secure_metadata = object(
        "secureMetadata",
        "secureMetadata",
        "auth/invalid-secure-metadata",
        "Secure metadata must be a JSON object",
    );
    if !problems.is_empty() {
        return Err(ReplykeError::invalid(problems));
    }
    let profile = ProfileDraft { name, username, avatar_url, bio, location, birthdate, metadata, secure_metadata };
    let (Some(email), Some(password)) = (email, password) else {
        return Err(ReplykeError::missing_fields());
    };
    Ok(Parsed { email, password, profile })
}

fn is_web_url(raw: &str) -> bool {
    url::Url::parse(raw).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
}

fn geo_point(v: &Value) -> Option<GeoPoint> {
    let longitude = v.get("longitude")?.as_f64()?;
    let latitude = v.get("latitude")?.as_f64()?;
    ((-180.0..=180.0).contains(&longitude) && (-90.0..=90.0).contains(&latitude))
        .then_some(GeoPoint { longitude, latitude })
}

/// `1995-01-01` or a full ISO timestamp; kept as the date.
fn parse_birthdate(raw: &str) -> Option<String> {
    let date_part = raw.get(..10)?;
    let date = time::Date::parse(date_part, time::macros::format_description!("[year]-[month]-[day]")).ok()?;
    if raw.len() > 10 {
        time::OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc3339).ok()?;
    }
    let today = time::OffsetDateTime::now_utc().date();
    (date.year() >= 1900 && date <= today).then(|| date_part.to_owned())
}

fn signup_error(e: SignupError) -> ReplykeError {
    match e {
        SignupError::EmailTaken => {
            ReplykeError::new(StatusCode::CONFLICT, "auth/email-taken", "An account with this email already exists")
        }
        SignupError::UsernameTaken => {
            ReplykeError::new(StatusCode::CONFLICT, "auth/username-taken", "This username is already taken")
        }
        SignupError::WeakPassword(reasons) => ReplykeError::weak_password("password", reasons),
        SignupError::Denied { message } => ReplykeError::new(StatusCode::FORBIDDEN, "auth/signup-denied", message),
        SignupError::HookUnavailable => {
            ReplykeError::unavailable("auth/hook-unavailable", "Sign-up validation is unavailable; retry shortly", 5)
        }
        SignupError::Busy { retry_after_secs } => ReplykeError::busy(retry_after_secs),
        SignupError::RateLimited(r) => ReplykeError::rate_limited(r),
        SignupError::PasswordNotAccepted(message) => ReplykeError::invalid(vec![FieldProblem {
            field: "password",
            code: "auth/invalid-password",
            message: message.to_owned(),
        }]),
        SignupError::Unexpected(cause) => ReplykeError::internal(&cause),
    }
}

/// `POST /auth/sign-up` body (Replyke).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(as = ReplykeSignUpRequest)]
#[serde(rename_all = "camelCase")]
pub struct SignUpDoc {
    #[schema(format = Email, min_length = 3, max_length = 254, example = "ada@example.com")]
    email: String,
    /// The project's `replyke.password_policy` (default 8–128 characters).
    #[schema(format = Password, min_length = 8, max_length = 128, example = "correct horse battery")]
    password: String,
    #[schema(nullable, max_length = 100, example = "Ada Lovelace")]
    name: Option<String>,
    /// 2–30 letters, digits, `_`, `.` or `-`.
    /// Empty or blank counts as none.
    #[schema(nullable, pattern = "^([A-Za-z0-9_.-]{2,30}|\\s*)$", example = "ada")]
    username: Option<String>,
    /// Absolute http(s) URL.
    #[schema(
        nullable,
        format = "uri",
        pattern = "^https?://[A-Za-z0-9.-]+(/[A-Za-z0-9._~/-]*)?$",
        max_length = 2048,
        example = "https://example.com/ada.png"
    )]
    avatar: Option<String>,
    #[schema(nullable, max_length = 1000)]
    bio: Option<String>,
    #[schema(nullable)]
    location: Option<GeoPointDoc>,
    /// ISO date (`YYYY-MM-DD`), 1900 or later, not in the future.
    #[schema(nullable, format = Date, example = "1990-12-10")]
    birthdate: Option<String>,
    /// Public metadata, returned with the user.
    #[schema(value_type = Option<Object>, nullable)]
    metadata: Option<serde_json::Value>,
    /// Stored, never returned.
    #[schema(value_type = Option<Object>, nullable)]
    secure_metadata: Option<serde_json::Value>,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(as = ReplykeGeoPoint)]
pub struct GeoPointDoc {
    #[schema(minimum = -180, maximum = 180)]
    longitude: f64,
    #[schema(minimum = -90, maximum = 90)]
    latitude: f64,
}

/// Sign up with email, password and an optional rich profile (Replyke, seed 001).
#[utoipa::path(post, path = "/auth/sign-up", operation_id = "replykeSignUp", tag = "replyke",
    description = "Served for any project as `/{projectId}/auth/sign-up`. `secureMetadata` is stored but never returned.",
    params(BotCheckHeader),
    request_body(content = SignUpDoc, description = "email, password (required); name, username, avatar (URL), bio, location {longitude, latitude}, birthdate (ISO date), metadata, secureMetadata (objects)"),
    responses(
        (status = 201, body = AuthResponse, description = "Account created; the refresh token is also set in the `replyke-refresh-jwt` cookie"),
        (status = 400, description = "`auth/missing-fields`, `auth/invalid-body`, or `auth/invalid-<field>` with `details`"),
        (status = 403, description = "`auth/bot-check-failed`: bot protection is on and `X-Altcha` is missing, invalid, expired or already used; `auth/signup-denied`: the pre-sign-up hook refused"),
        (status = 404, description = "`project/not-found`"),
        (status = 409, description = "`auth/email-taken` or `auth/username-taken`"),
        (status = 429, description = "`auth/too-many-requests`, with Retry-After"),
        (status = 503, description = "`auth/hook-unavailable` or `auth/server-busy`, with Retry-After"),
    ))]
pub async fn sign_up(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
    prefix: Option<Extension<RoutePrefix>>,
    Client(client): Client,
    _bot: BotChecked,
    jar: CookieJar,
    ReplykeJson(body): ReplykeJson,
) -> Result<Response, ReplykeError> {
    let parsed = parse(&body, ctx.project.settings.names.refuse_mixed_script)
        .inspect_err(|_| record_signup("replyke", "password", "invalid"))?;
    let command = PasswordSignup {
        login: Login::Email(parsed.email),
        password: parsed.password,
        policy: ReplykeSettings::password_policy(&ctx)?,
        profile: parsed.profile,
        organization_name: None,
        client,
    };
    let outcome = password_signup::sign_up(&state.services, &ctx, command).await.map_err(|e| {
        record_signup("replyke", "password", signup_outcome(&e));
        signup_error(e)
    })?;
    record_signup("replyke", "password", "created");
    let jar = RefreshCookie::new(&state, &ctx, prefix).issue(jar, &outcome.refresh_secret);
    let body = AuthResponse::new(&ctx, &outcome.access, &outcome.refresh_secret, &outcome.user);
    Ok((StatusCode::CREATED, jar, Json(body)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn birthdates_are_past_iso_dates() {
        assert_eq!(parse_birthdate("1995-01-01").as_deref(), Some("1995-01-01"));
        assert_eq!(parse_birthdate("1995-01-01T00:00:00.000Z").as_deref(), Some("1995-01-01"));
        for bad in ["1995-13-01", "01/01/1995", "2999-01-01", "1800-01-01", "1995-01-01Tnonsense", ""] {
            assert!(parse_birthdate(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn locations_must_be_on_earth() {
        assert!(geo_point(&json!({"longitude": -73.9, "latitude": 40.7})).is_some());
        assert!(geo_point(&json!({"longitude": 181, "latitude": 0})).is_none());
        assert!(geo_point(&json!({"longitude": 0, "latitude": -91})).is_none());
        assert!(geo_point(&json!({"longitude": "0", "latitude": 0})).is_none());
        assert!(geo_point(&json!([0, 0])).is_none());
    }
}
