//! Users and their profiles.

use serde_json::Value;

use crate::clock::Timestamp;
use crate::email::EmailAddress;

/// A point on Earth, rendered to clients as a GeoJSON Point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GeoPoint {
    pub longitude: f64,
    pub latitude: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct User {
    /// Integer identity, for contracts whose `user_id` is a number.
    pub seq: i64,
    /// Public identity (`usr_…`).
    pub id: String,
    pub project_id: String,
    /// None for an account known by its handle only (Storyden's `password/signup`).
    pub email: Option<EmailAddress>,
    pub email_verified: bool,
    pub name: Option<String>,
    pub username: Option<String>,
    pub avatar_url: Option<String>,
    pub bio: Option<String>,
    pub location: Option<GeoPoint>,
    /// ISO date (`YYYY-MM-DD`).
    pub birthdate: Option<String>,
    pub metadata: Value,
    /// Stored and given to hooks and admins; never part of a client response.
    pub secure_metadata: Value,
    pub reputation: i64,
    /// Fields of the project's sign-up model (Aufy external sign-up).
    pub custom_fields: Value,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl User {
    /// A user not yet stored (`seq` is assigned by the store).
    pub fn draft(id: String, project_id: String, email: Option<EmailAddress>, now: Timestamp) -> Self {
        Self {
            seq: 0,
            id,
            project_id,
            email,
            email_verified: false,
            name: None,
            username: None,
            avatar_url: None,
            bio: None,
            location: None,
            birthdate: None,
            metadata: Value::Object(Default::default()),
            secure_metadata: Value::Object(Default::default()),
            reputation: 0,
            custom_fields: Value::Object(Default::default()),
            created_at: now,
            updated_at: now,
        }
    }
}

/// A user's password, as its PHC string.
#[derive(Debug, Clone)]
pub struct PasswordCredential {
    pub user_id: String,
    pub phc: String,
}

/// A handle: NFKC-normalised and lowercased, then 2–30 of `a-z`, `0-9`, `_`, `.` and `-`. Being
/// ASCII, a handle can hold neither invisible characters nor letters of other scripts that look
/// like Latin ones; fullwidth forms (`ｋｉｍ`) fold to their ASCII twins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UsernameError {
    #[error("Username must be 2 to 30 characters of letters, digits, '_', '.' or '-'")]
    Invalid,
}

impl Username {
    pub fn parse(raw: &str) -> Result<Self, UsernameError> {
        let lower = crate::lookalike::fold(raw.trim());
        let length = lower.chars().count();
        let allowed =
            lower.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-'));
        if !(2..=30).contains(&length) || !allowed {
            return Err(UsernameError::Invalid);
        }
        Ok(Self(lower))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The name an account signs in with: its address, or, for an account without one, its handle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Login {
    Email(EmailAddress),
    Username(Username),
}

/// Profile fields a sign-up may carry beyond email and password, already validated.
#[derive(Debug, Clone, Default)]
pub struct ProfileDraft {
    pub name: Option<String>,
    pub username: Option<Username>,
    pub avatar_url: Option<String>,
    pub bio: Option<String>,
    pub location: Option<GeoPoint>,
    pub birthdate: Option<String>,
    pub metadata: serde_json::Map<String, Value>,
    pub secure_metadata: serde_json::Map<String, Value>,
}

impl ProfileDraft {
    pub fn apply_to(self, user: &mut User) {
        user.name = self.name;
        user.username = self.username.map(|u| u.0);
        user.avatar_url = self.avatar_url;
        user.bio = self.bio;
        user.location = self.location;
        user.birthdate = self.birthdate;
        user.metadata = Value::Object(self.metadata);
        user.secure_metadata = Value::Object(self.secure_metadata);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_lowercased_and_checked() {
        assert_eq!(Username::parse(" JaneDoe ").unwrap().as_str(), "janedoe");
        assert_eq!(Username::parse("jane.doe_1-x").unwrap().as_str(), "jane.doe_1-x");
        assert_eq!(Username::parse("ｊａｎｅｄｏｅ").unwrap().as_str(), "janedoe");
        for bad in ["j", "jane doe", "jané", &"a".repeat(31), "j\u{0430}ne", "ja\u{200B}ne", "jane\u{202E}"] {
            assert!(Username::parse(bad).is_err(), "{bad}");
        }
    }
}
