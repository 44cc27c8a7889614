//! Pieces every contract adapter shares: body extractors, field reading, session cookies, the
//! presented access token, the OAuth callback query and RFC 9457 problem details.

pub mod body;
pub mod bot_check;
pub mod cookies;
pub mod fields;
pub mod oauth;
pub mod problem;
pub mod settings;
pub mod tokens;

pub(crate) use body::{BodyRejection, NativeJson, ProblemJson, json_value};
pub(crate) use bot_check::BotChecked;
pub(crate) use cookies::{CookieNames, SessionCookies};
pub(crate) use fields::Fields;
pub(crate) use oauth::CallbackQuery;
pub(crate) use problem::Problem;
pub(crate) use tokens::presented_access_token;
