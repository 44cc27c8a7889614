//! `Authorization: Bearer <admin_token>` for `/admin/*`, compared in constant time.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::errors::ApiError;
use crate::state::AppState;

/// Proof that the caller holds the admin token.
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(expected) = &state.settings.admin_token else {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "ADMIN_DISABLED",
                "The admin API is off: set admin_token (DOORWAY_ADMIN_TOKEN) to enable it",
            ));
        };
        let presented = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        // Hashing first gives equal-length inputs, so the comparison time says nothing about length.
        let matches: bool = Sha256::digest(presented.as_bytes()).ct_eq(&Sha256::digest(expected.as_bytes())).into();
        if presented.is_empty() || !matches {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
                "A valid admin bearer token is required",
            ));
        }
        Ok(Admin)
    }
}
