//! A contract's own settings: `projects.<slug>.<key>` in the configuration (and in a project's
//! stored settings), kept untyped by core and read here into the contract's own type.

use doorway_core::ProjectSettings;
use doorway_core::password::PasswordPolicy;
use serde::de::DeserializeOwned;

/// The settings a contract keeps under `projects.<slug>.<KEY>`.
pub trait ContractSettings: DeserializeOwned + Default {
    const KEY: &'static str;

    /// Problems of a value that parsed, as `(field under KEY, message)` pairs.
    fn problems(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }

    /// The project's settings for this contract; the defaults when it has none.
    fn of(settings: &ProjectSettings) -> Result<Self, serde_json::Error> {
        match settings.contract_settings.get(Self::KEY) {
            None => Ok(Self::default()),
            Some(value) => Self::deserialize(value),
        }
    }

    /// Every problem of the project's settings for this contract, keyed `KEY.field`.
    fn check(settings: &ProjectSettings) -> Vec<(String, String)> {
        match Self::of(settings) {
            Ok(parsed) => {
                parsed.problems().into_iter().map(|(field, m)| (format!("{}.{field}", Self::KEY), m)).collect()
            }
            Err(e) => vec![(Self::KEY.to_owned(), e.to_string())],
        }
    }
}

/// The policy of contracts whose seeds document no password rules: the seed preset's length
/// limits and common-password check, without character classes.
pub fn relaxed_policy() -> PasswordPolicy {
    PasswordPolicy { require_uppercase: false, require_digit: false, require_special: false, ..Default::default() }
}
