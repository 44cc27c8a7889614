//! The external sign-up model (Aufy): extra fields a user must give after the provider round
//! trip, described by a JSON Schema per project. Off until a project configures one.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExternalSignupSettings {
    /// A JSON Schema (written as a TOML table) for the sign-up body.
    pub schema: Option<Value>,
    /// Or a file holding it; read at start.
    pub schema_file: Option<String>,
}

/// A compiled model; formats such as `email` and `uri` are enforced.
pub struct SignUpModel(jsonschema::Validator);

impl SignUpModel {
    pub fn compile(schema: &Value) -> Result<Self, String> {
        jsonschema::options().should_validate_formats(true).build(schema).map(Self).map_err(|e| e.to_string())
    }

    /// Every failing field with its messages; `$` for the body as a whole.
    pub fn check(&self, body: &Value) -> Result<(), BTreeMap<String, Vec<String>>> {
        let mut errors: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for error in self.0.iter_errors(body) {
            let field = match error.kind() {
                jsonschema::error::ValidationErrorKind::Required { property } => {
                    let parent = error.instance_path().to_string();
                    let name = property.as_str().unwrap_or_default();
                    format!("{}{name}", pointer_to_field(&parent).map(|p| format!("{p}.")).unwrap_or_default())
                }
                _ => pointer_to_field(&error.instance_path().to_string()).unwrap_or_else(|| "$".to_owned()),
            };
            errors.entry(field).or_default().push(error.to_string());
        }
        if errors.is_empty() { Ok(()) } else { Err(errors) }
    }
}

/// `/site/url` → `site.url`; the root → None.
fn pointer_to_field(pointer: &str) -> Option<String> {
    let trimmed = pointer.trim_start_matches('/');
    (!trimmed.is_empty()).then(|| trimmed.replace('/', ".").replace("~1", "/").replace("~0", "~"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn model() -> SignUpModel {
        SignUpModel::compile(&json!({
            "type": "object",
            "required": ["aboutMe", "mySiteUrl"],
            "properties": {
                "aboutMe": {"type": "string", "minLength": 3},
                "mySiteUrl": {"type": "string", "format": "uri"},
                "contact": {"type": "string", "format": "email"}
            },
            "additionalProperties": false
        }))
        .unwrap()
    }

    /// Arbitrary JSON values, nested a few levels.
    fn any_json() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            ".{0,12}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
                proptest::collection::btree_map("[a-zA-Z/~.]{0,6}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        /// No body panics the check, and a refusal always names at least one field.
        #[test]
        fn any_body_is_checked_without_panic(body in any_json()) {
            if let Err(errors) = model().check(&body) {
                proptest::prop_assert!(!errors.is_empty() && errors.values().all(|m| !m.is_empty()));
            }
        }

        /// Compiling any value as a schema never panics (it compiles or says why not), and a
        /// compiled one checks any body without panicking.
        #[test]
        fn any_schema_compiles_or_is_refused(schema in any_json(), body in any_json()) {
            if let Ok(model) = SignUpModel::compile(&schema) {
                let _ = model.check(&body);
            }
        }
    }

    #[test]
    fn names_every_failing_field() {
        let errors = model().check(&json!({"aboutMe": "x", "contact": "not-an-email"})).unwrap_err();
        let fields: Vec<&str> = errors.keys().map(String::as_str).collect();
        assert_eq!(fields, ["aboutMe", "contact", "mySiteUrl"]);
        assert!(model().check(&json!({"aboutMe": "hello", "mySiteUrl": "https://example.com"})).is_ok());
        assert!(model().check(&json!({"aboutMe": "hello", "mySiteUrl": "not a uri"})).is_err());
    }

    #[test]
    fn refuses_a_broken_schema() {
        assert!(SignUpModel::compile(&json!({"type": 12})).is_err());
    }
}
