//! The pre-sign-up hook: a signed HTTP call that may allow (and enrich) or deny a sign-up
//! before anything is written. The HTTP side is a port so the core stays free of a client.

use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HooksSettings {
    pub pre_signup: Option<PreSignupHook>,
}

#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreSignupHook {
    pub url: String,
    /// Standard Webhooks secret, `whsec_<base64>`.
    pub secret: String,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    #[serde(default)]
    pub on_failure: OnFailure,
}

fn default_timeout_ms() -> u64 {
    3000
}

impl fmt::Debug for PreSignupHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PreSignupHook")
            .field("url", &self.url)
            .field("timeout_ms", &self.timeout_ms)
            .field("on_failure", &self.on_failure)
            .finish_non_exhaustive()
    }
}

/// What to do when the hook cannot give an answer (timeout, error status, garbage).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnFailure {
    #[default]
    Reject,
    Allow,
}

impl PreSignupHook {
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if !url_is_http(&self.url) {
            out.push(("hooks.pre_signup.url", "must be an absolute http(s) URL".to_owned()));
        }
        let key = self.secret.strip_prefix("whsec_").map(|b| {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.decode(b)
        });
        if !matches!(key, Some(Ok(ref k)) if !k.is_empty()) {
            out.push((
                "hooks.pre_signup.secret",
                "must be a Standard Webhooks secret: whsec_ followed by base64".to_owned(),
            ));
        }
        if !(1..=30_000).contains(&self.timeout_ms) {
            out.push(("hooks.pre_signup.timeout_ms", "must be between 1 and 30000".to_owned()));
        }
        out
    }
}

fn url_is_http(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    (lower.starts_with("http://") || lower.starts_with("https://")) && url.len() > "http://".len() + 1
}

impl HooksSettings {
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        self.pre_signup.as_ref().map(PreSignupHook::problems).unwrap_or_default()
    }

    /// The settings as an admin may see them: secrets masked.
    pub fn redacted(&self) -> Self {
        let mut out = self.clone();
        if let Some(hook) = &mut out.pre_signup {
            hook.secret = "whsec_***".to_owned();
        }
        out
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HookFailure {
    #[error("the hook did not answer within its timeout")]
    Timeout,
    #[error("the hook answered HTTP {0}")]
    Status(u16),
    #[error("the hook's answer is not the expected JSON")]
    InvalidResponse,
    #[error("the hook is unreachable: {0}")]
    Unreachable(String),
}

/// Delivers one signed JSON call and returns the JSON answer of a 2xx response.
#[async_trait]
pub trait HookCaller: Send + Sync + 'static {
    async fn call(&self, hook: &PreSignupHook, payload: &Value) -> Result<Value, HookFailure>;
}

pub enum Verdict {
    Allow { metadata: Option<Map<String, Value>>, secure_metadata: Option<Map<String, Value>> },
    Deny { message: String },
}

pub enum HookOutcome {
    Decided(Verdict),
    /// No usable answer and `on_failure = "reject"`.
    Failed(HookFailure),
}

pub async fn run_pre_signup(caller: &dyn HookCaller, hook: &PreSignupHook, payload: &Value) -> HookOutcome {
    let answer = match caller.call(hook, payload).await.and_then(|v| parse_verdict(&v)) {
        Ok(verdict) => return HookOutcome::Decided(verdict),
        Err(failure) => failure,
    };
    tracing::warn!(error = %answer, url = %hook.url, "pre-sign-up hook failed");
    match hook.on_failure {
        OnFailure::Allow => HookOutcome::Decided(Verdict::Allow { metadata: None, secure_metadata: None }),
        OnFailure::Reject => HookOutcome::Failed(answer),
    }
}

fn parse_verdict(answer: &Value) -> Result<Verdict, HookFailure> {
    let object = |key: &str| match answer.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map.clone())),
        Some(_) => Err(HookFailure::InvalidResponse),
    };
    match answer.get("allow") {
        Some(Value::Bool(true)) => {
            Ok(Verdict::Allow { metadata: object("metadata")?, secure_metadata: object("secureMetadata")? })
        }
        Some(Value::Bool(false)) => {
            let message = answer
                .get("message")
                .and_then(Value::as_str)
                .filter(|m| !m.trim().is_empty())
                .unwrap_or("Sign-up was refused")
                .chars()
                .take(500)
                .collect();
            Ok(Verdict::Deny { message })
        }
        _ => Err(HookFailure::InvalidResponse),
    }
}

/// Shallow merge: keys from the hook win.
pub fn merge_into(target: &mut Value, extra: Option<Map<String, Value>>) {
    if let (Value::Object(target), Some(extra)) = (target, extra) {
        target.extend(extra);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_allow_deny_and_rejects_garbage() {
        assert!(matches!(parse_verdict(&json!({"allow": true})), Ok(Verdict::Allow { metadata: None, .. })));
        assert!(
            matches!(parse_verdict(&json!({"allow": false, "message": "no"})), Ok(Verdict::Deny { message }) if message == "no")
        );
        assert!(matches!(parse_verdict(&json!({"allow": "yes"})), Err(HookFailure::InvalidResponse)));
        assert!(matches!(parse_verdict(&json!({"allow": true, "metadata": 5})), Err(HookFailure::InvalidResponse)));
        assert!(matches!(parse_verdict(&json!([])), Err(HookFailure::InvalidResponse)));
    }

    #[test]
    fn validates_settings_and_hides_the_secret() {
        let hook = PreSignupHook {
            url: "ftp://x".into(),
            secret: "nope".into(),
            timeout_ms: 0,
            on_failure: OnFailure::Reject,
        };
        let fields: Vec<_> = hook.problems().into_iter().map(|(k, _)| k).collect();
        assert_eq!(fields, ["hooks.pre_signup.url", "hooks.pre_signup.secret", "hooks.pre_signup.timeout_ms"]);
        let ok = PreSignupHook {
            url: "https://h.example/x".into(),
            secret: "whsec_c2VjcmV0".into(),
            timeout_ms: 3000,
            on_failure: OnFailure::Allow,
        };
        assert!(ok.problems().is_empty());
        assert!(!format!("{ok:?}").contains("c2VjcmV0"));
        let settings = HooksSettings { pre_signup: Some(ok) };
        assert_eq!(settings.redacted().pre_signup.unwrap().secret, "whsec_***");
    }
}
