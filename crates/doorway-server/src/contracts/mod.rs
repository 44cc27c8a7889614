//! Wire contracts: each parses its requests into core commands and renders outcomes in its
//! own format. No flow logic lives here.

pub mod aufy;
pub mod native;
pub mod native_email;
pub mod native_oauth;
pub mod replyke;
pub mod rivergen;
pub mod storyden;

use axum::response::{IntoResponse, Response};

use axum::http::StatusCode;

use crate::errors::ApiError;
use crate::problem::Problem;

/// Which contract a (prefix-stripped) path belongs to, so errors raised before a handler runs
/// (unknown project, storage failure) still come in that contract's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contract {
    Native,
    Replyke,
    Storyden,
    Aufy,
}

impl Contract {
    pub fn of_path(path: &str) -> Self {
        match path.trim_end_matches('/') {
            "/auth/sign-up" => Self::Replyke,
            "/auth/email/signup" | "/auth/email/verify" => Self::Storyden,
            "/auth/signup/external" | "/auth/signin/external" => Self::Aufy,
            p if p.starts_with("/auth/external/") => Self::Aufy,
            _ => Self::Native,
        }
    }

    pub fn project_not_found(self, slug: &str) -> Response {
        match self {
            Self::Native => ApiError::project_not_found(slug).into_response(),
            Self::Replyke => replyke::ReplykeError::project_not_found(slug).into_response(),
            Self::Storyden | Self::Aufy => {
                Problem::new(StatusCode::NOT_FOUND, format!("No project named '{slug}'")).into_response()
            }
        }
    }

    /// A refusal raised outside the contract's handlers (the cross-site guard, axum's own
    /// rejections), in the contract's format. `code` is the native code.
    pub fn refuse(self, status: StatusCode, code: &'static str, message: impl Into<String>) -> Response {
        match self {
            Self::Native => ApiError::new(status, code, message).into_response(),
            Self::Replyke => replyke::ReplykeError::refusal(status, message).into_response(),
            Self::Storyden | Self::Aufy => Problem::new(status, message).into_response(),
        }
    }

    pub fn internal(self, cause: &dyn std::fmt::Display) -> Response {
        match self {
            Self::Native => ApiError::internal(cause).into_response(),
            Self::Replyke => replyke::ReplykeError::internal(cause).into_response(),
            Self::Storyden | Self::Aufy => Problem::internal(cause).into_response(),
        }
    }
}
