//! Reading a JSON object field by field, collecting every problem (native envelope).

use serde_json::Value;

use crate::errors::{ApiError, FieldError};

/// Reads the fields of a JSON object, collecting every problem instead of stopping at the first.
pub(crate) struct Fields<'a> {
    body: &'a serde_json::Map<String, Value>,
    errors: Vec<FieldError>,
}

impl<'a> Fields<'a> {
    pub(crate) fn of(body: &'a Value) -> Result<Self, ApiError> {
        match body {
            Value::Object(body) => Ok(Self { body, errors: Vec::new() }),
            _ => Err(ApiError::validation(vec![FieldError::new("body", "The body must be a JSON object")])),
        }
    }

    /// A required string; `label` names it in messages ("Email is required").
    pub(crate) fn required(&mut self, field: &str, label: &str) -> Option<&'a str> {
        match self.body.get(field) {
            None | Some(Value::Null) => {
                self.errors.push(FieldError::new(field, format!("{label} is required")));
                None
            }
            Some(Value::String(s)) => Some(s.as_str()),
            Some(_) => {
                self.errors.push(FieldError::new(field, format!("{label} must be a string")));
                None
            }
        }
    }

    pub(crate) fn optional(&mut self, field: &str, label: &str) -> Option<&'a str> {
        match self.body.get(field) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.as_str()),
            Some(_) => {
                self.errors.push(FieldError::new(field, format!("{label} must be a string")));
                None
            }
        }
    }

    pub(crate) fn error(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, message));
    }

    pub(crate) fn finish<T>(self, value: Option<T>) -> Result<T, ApiError> {
        match value {
            Some(v) if self.errors.is_empty() => Ok(v),
            _ => Err(ApiError::validation(self.errors)),
        }
    }
}
