//! Passwords: a secret that never prints, and the per-project policy it must meet.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A password as typed. Never `Debug`-printed, never serialised.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub fn new(raw: String) -> Self {
        Self(raw)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// What a new password must contain. The default is seed 002's rule:
/// at least 8 characters, one uppercase letter, one number, one special character.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasswordPolicy {
    pub min_length: usize,
    /// Longer inputs are refused so hashing cost stays bounded.
    pub max_length: usize,
    pub require_uppercase: bool,
    pub require_lowercase: bool,
    pub require_digit: bool,
    pub require_special: bool,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_length: 8,
            max_length: 128,
            require_uppercase: true,
            require_lowercase: false,
            require_digit: true,
            require_special: true,
        }
    }
}

impl PasswordPolicy {
    /// Every rule the password breaks, as user-facing sentences.
    pub fn violations(&self, password: &Password) -> Vec<String> {
        let p = password.expose();
        let length = p.chars().count();
        let mut out = Vec::new();
        if length < self.min_length {
            out.push(format!("Password must be at least {} characters", self.min_length));
        }
        if length > self.max_length {
            out.push(format!("Password must be at most {} characters", self.max_length));
        }
        if self.require_uppercase && !p.chars().any(char::is_uppercase) {
            out.push("Password must contain at least one uppercase letter".to_owned());
        }
        if self.require_lowercase && !p.chars().any(char::is_lowercase) {
            out.push("Password must contain at least one lowercase letter".to_owned());
        }
        if self.require_digit && !p.chars().any(|c| c.is_ascii_digit()) {
            out.push("Password must contain at least one number".to_owned());
        }
        if self.require_special && !p.chars().any(|c| !c.is_alphanumeric() && !c.is_whitespace()) {
            out.push("Password must contain at least one special character".to_owned());
        }
        out
    }

    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if self.min_length == 0 || self.min_length > self.max_length {
            out.push(("password_policy.min_length", "must be between 1 and max_length".to_owned()));
        }
        if self.max_length > 1024 {
            out.push(("password_policy.max_length", "must be at most 1024".to_owned()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(p: &str) -> Vec<String> {
        PasswordPolicy::default().violations(&Password::new(p.to_owned()))
    }

    #[test]
    fn seed_rule_accepts_a_strong_password() {
        assert!(check("securePassword123!").is_empty());
    }

    #[test]
    fn names_every_broken_rule() {
        assert_eq!(
            check("abc"),
            vec![
                "Password must be at least 8 characters",
                "Password must contain at least one uppercase letter",
                "Password must contain at least one number",
                "Password must contain at least one special character",
            ]
        );
        assert_eq!(check("securepassword123!"), vec!["Password must contain at least one uppercase letter"]);
    }

    #[test]
    fn never_prints_the_secret() {
        assert_eq!(format!("{:?}", Password::new("hunter2".into())), "Password(***)");
    }
}
