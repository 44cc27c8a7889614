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
    pub email: EmailAddress,
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
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl User {
    /// A user not yet stored (`seq` is assigned by the store).
    pub fn draft(id: String, project_id: String, email: EmailAddress, now: Timestamp) -> Self {
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
