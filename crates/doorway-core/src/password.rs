//! Passwords: a secret that never prints, and the per-project policy it must meet.

use std::collections::HashSet;
use std::fmt;
use std::sync::LazyLock;

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

/// The rule a policy starts from before any explicit key is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicyPreset {
    /// Seed 002's documented rule: at least 8 characters, an uppercase letter, a number and a
    /// special character.
    #[default]
    Seed,
    /// NIST SP 800-63B: length over composition. At least 8 characters, up to 128, no
    /// character classes required, common and breached passwords refused.
    Nist,
}

impl PolicyPreset {
    fn policy(self) -> PasswordPolicy {
        let seed = PasswordPolicy {
            min_length: 8,
            max_length: 128,
            require_uppercase: true,
            require_lowercase: false,
            require_digit: true,
            require_special: true,
            refuse_common: true,
        };
        match self {
            Self::Seed => seed,
            Self::Nist => PasswordPolicy {
                require_uppercase: false,
                require_lowercase: false,
                require_digit: false,
                require_special: false,
                ..seed
            },
        }
    }
}

/// What a new password must be. Read from configuration as a `preset` (default `seed`) with
/// any key overriding it; stored and shown as the resolved rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "PolicyKeys")]
pub struct PasswordPolicy {
    pub min_length: usize,
    /// Longer inputs are refused so hashing cost stays bounded.
    pub max_length: usize,
    pub require_uppercase: bool,
    pub require_lowercase: bool,
    pub require_digit: bool,
    pub require_special: bool,
    /// Refuse passwords on the embedded list of common and breached passwords.
    pub refuse_common: bool,
}

/// A policy as written: a preset and the keys that override it.
#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct PolicyKeys {
    preset: PolicyPreset,
    min_length: Option<usize>,
    max_length: Option<usize>,
    require_uppercase: Option<bool>,
    require_lowercase: Option<bool>,
    require_digit: Option<bool>,
    require_special: Option<bool>,
    refuse_common: Option<bool>,
}

impl Default for PolicyKeys {
    fn default() -> Self {
        Self {
            preset: PolicyPreset::Seed,
            min_length: None,
            max_length: None,
            require_uppercase: None,
            require_lowercase: None,
            require_digit: None,
            require_special: None,
            refuse_common: None,
        }
    }
}

impl From<PolicyKeys> for PasswordPolicy {
    fn from(k: PolicyKeys) -> Self {
        let base = k.preset.policy();
        Self {
            min_length: k.min_length.unwrap_or(base.min_length),
            max_length: k.max_length.unwrap_or(base.max_length),
            require_uppercase: k.require_uppercase.unwrap_or(base.require_uppercase),
            require_lowercase: k.require_lowercase.unwrap_or(base.require_lowercase),
            require_digit: k.require_digit.unwrap_or(base.require_digit),
            require_special: k.require_special.unwrap_or(base.require_special),
            refuse_common: k.refuse_common.unwrap_or(base.refuse_common),
        }
    }
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        PolicyPreset::Seed.policy()
    }
}

/// Common and breached passwords, lowercased, one per line: zxcvbn's list of the 30,000 most
/// frequent passwords in leaked sets (MIT, Dropbox / the zxcvbn crate) plus frequent leaked
/// passwords with symbols that satisfy composition rules (`Password1!`, `P@ssw0rd1`, …).
static COMMON_PASSWORDS: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| include_str!("common_passwords.txt").lines().collect());

/// Whether the password, ignoring case, is one attackers try first (NIST SP 800-63B 5.1.1.2).
pub fn is_common(password: &Password) -> bool {
    COMMON_PASSWORDS.contains(password.expose().to_lowercase().as_str())
}

impl PasswordPolicy {
    /// Every rule the password breaks, as user-facing sentences. The one place every contract's
    /// sign-up checks a new password.
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
        if self.refuse_common && is_common(password) {
            out.push("Password is too common: it appears in lists of leaked passwords".to_owned());
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
    fn refuses_common_passwords_whatever_the_case() {
        for common in ["password123", "Password1!", "P@ssw0rd1", "QWERTY123", "iloveyou"] {
            let reasons = PasswordPolicy { min_length: 1, ..nist() }.violations(&Password::new(common.to_owned()));
            assert_eq!(reasons, ["Password is too common: it appears in lists of leaked passwords"], "{common}");
        }
        let off = PasswordPolicy { refuse_common: false, ..nist() };
        assert!(off.violations(&Password::new("password123".into())).is_empty());
    }

    #[test]
    fn passwords_of_the_seeds_tests_and_bench_pass() {
        for ok in ["securePassword123!", "Secure#Pass1", "Secure#Pass123", "Durable#Pass1", "Wrong#Pass1"] {
            assert!(check(ok).is_empty(), "{ok}");
        }
        for ok in ["securePassword123", "longenough", "guessing123"] {
            assert!(nist().violations(&Password::new(ok.to_owned())).is_empty(), "{ok}");
        }
    }

    fn nist() -> PasswordPolicy {
        PolicyPreset::Nist.policy()
    }

    #[test]
    fn nist_preset_is_length_over_composition_and_keys_override_it() {
        let policy: PasswordPolicy = serde_json::from_str(r#"{"preset": "nist"}"#).unwrap();
        assert_eq!(policy, nist());
        assert!(policy.violations(&Password::new("correct horse battery staple".into())).is_empty());
        assert!(policy.violations(&Password::new("x".repeat(64).replace('x', "ab"))).is_empty());
        assert_eq!(policy.violations(&Password::new("short".into())), ["Password must be at least 8 characters"]);
        let tuned: PasswordPolicy = serde_json::from_str(r#"{"preset": "nist", "min_length": 12}"#).unwrap();
        assert_eq!(tuned.min_length, 12);
        assert!(!tuned.require_uppercase);
        let seed: PasswordPolicy = serde_json::from_str(r#"{"min_length": 10}"#).unwrap();
        assert_eq!(seed, PasswordPolicy { min_length: 10, ..PasswordPolicy::default() });
        assert!(serde_json::from_str::<PasswordPolicy>(r#"{"preset": "nist", "typo": 1}"#).is_err());
        // What is stored is the resolved policy, and it reads back the same.
        let stored = serde_json::to_string(&tuned).unwrap();
        assert_eq!(serde_json::from_str::<PasswordPolicy>(&stored).unwrap(), tuned);
    }

    #[test]
    fn never_prints_the_secret() {
        assert_eq!(format!("{:?}", Password::new("hunter2".into())), "Password(***)");
    }
}
