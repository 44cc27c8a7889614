//! Reading Aufy's request bodies as ASP.NET does (property names match case-insensitively;
//! `[Required]` and `[EmailAddress]` checked on every field at once) and its validation
//! problems: 400 with `errors: {Field: [message]}`, keyed by the model's property names.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use doorway_core::email::EmailAddress;
use serde_json::{Value, json};

use crate::contracts::common::Problem;

pub(super) const VALIDATION_TITLE: &str = "One or more validation errors occurred.";

/// A 400 validation problem with these `errors`.
pub(super) fn validation_problem(errors: BTreeMap<String, Vec<String>>) -> Problem {
    let mut p = Problem::new(StatusCode::BAD_REQUEST, VALIDATION_TITLE);
    p.extensions.insert("errors".into(), json!(errors));
    p
}

/// One field's validation problem.
pub(super) fn field_problem(field: &str, message: impl Into<String>) -> Problem {
    validation_problem(BTreeMap::from([(field.to_owned(), vec![message.into()])]))
}

/// The fields of a JSON object body, read by name whatever their case.
pub(super) struct Model<'a> {
    body: Option<&'a serde_json::Map<String, Value>>,
    errors: BTreeMap<String, Vec<String>>,
}

impl<'a> Model<'a> {
    pub(super) fn of(body: &'a Value) -> Self {
        let mut errors = BTreeMap::new();
        if !body.is_object() {
            errors.insert("body".to_owned(), vec!["The request body must be a JSON object.".to_owned()]);
        }
        Self { body: body.as_object(), errors }
    }

    /// A `[Required]` string; `name` is the model's property name (`Email`).
    pub(super) fn required(&mut self, name: &str) -> Option<&'a str> {
        let found = self.body?.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v);
        match found {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.as_str()),
            Some(Value::String(_)) | Some(Value::Null) | None => {
                self.error(name, format!("The {name} field is required."));
                None
            }
            Some(_) => {
                self.error(name, format!("The {name} field must be a string."));
                None
            }
        }
    }

    /// A `[Required, EmailAddress]` string, parsed.
    pub(super) fn email(&mut self, name: &str) -> Option<EmailAddress> {
        let raw = self.required(name)?;
        match EmailAddress::parse(raw) {
            Ok(email) => Some(email),
            Err(_) => {
                self.error(name, format!("The {name} field is not a valid e-mail address."));
                None
            }
        }
    }

    fn error(&mut self, name: &str, message: String) {
        self.errors.entry(name.to_owned()).or_default().push(message);
    }

    /// The value when every field was fine, else every problem at once.
    pub(super) fn finish<T>(self, value: Option<T>) -> Result<T, Problem> {
        match value {
            Some(v) if self.errors.is_empty() => Ok(v),
            _ => Err(validation_problem(self.errors)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_whatever_their_case_and_every_problem_is_named() {
        let body = json!({"EMAIL": "ada@example.com", "password": "x"});
        let mut m = Model::of(&body);
        let pair = m.email("Email").zip(m.required("Password"));
        assert!(m.finish(pair).is_ok());

        let body = json!({"email": "not-an-address", "password": 7});
        let mut m = Model::of(&body);
        let pair = m.email("Email").zip(m.required("Password"));
        let problem = m.finish(pair).unwrap_err();
        assert_eq!(problem.status, StatusCode::BAD_REQUEST);
        let errors = &problem.extensions["errors"];
        assert_eq!(errors["Email"][0], "The Email field is not a valid e-mail address.");
        assert_eq!(errors["Password"][0], "The Password field must be a string.");

        let mut m = Model::of(&Value::Null);
        let missing = m.required("Email");
        assert!(m.finish(missing).is_err());
    }
}
