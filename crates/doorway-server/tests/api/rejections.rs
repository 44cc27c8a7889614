//! Every route refuses every kind of bad request in its own contract's error format: a 4xx,
//! never a 5xx, never axum's plain text. The routes come from `/openapi.json`, so a new route
//! is covered the day it is documented.
//!
//! Kinds: malformed JSON, wrong JSON types (a top-level array, and each documented field with
//! a value of the wrong type), an oversized body (413), a body that is not JSON (415), a method
//! the path does not serve (405), a query string that does not parse, and a project slug that
//! names no project (404).
//!
//! What applies to which operation:
//!  - the body kinds to operations with a JSON request body;
//!  - the query kind to operations with query parameters that document a 400 (Storyden's
//!    logout documents none: it reads its one parameter leniently and redirects to `/`);
//!  - 405 and the unknown slug to every path.
//!
//! Hosted pages (a `text/html` success answer and no JSON 4xx documented, e.g. `/docs/` or the
//! pages under `/ui`) answer people and refuse with pages: they get only the 405 and unknown
//! slug kinds, and their refusal may be `text/html` as well as the native envelope.
//!
//! The status must be the kind's own (405, 404 for the slug) or, for body and query kinds, one
//! the operation documents: a handler may refuse earlier, e.g. 401 without a session before it
//! reads the body, and the document must say so.
//!
//! Engines: the parsing kinds run on SQLite only, since they are answered by extractors and
//! layers before any flow touches storage, so the engine cannot change them; the unknown slug
//! is a lookup in the projects table and runs on both.

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{ADMIN_TOKEN, Backend, STRONG_PASSWORD, TestApp, oversized_as};
use crate::on_both_backends;

on_both_backends!(unknown_project_slugs_answer_404_in_each_contracts_format);

/// An error format, by the owning contract's OpenAPI tag.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Format {
    /// `{success: false, error: {code, message}}`: native, administration, operations,
    /// discovery and Rivergen.
    Envelope,
    /// `{error, code}`, the code `auth/…` (or `project/not-found`).
    Replyke,
    /// RFC 9457 `application/problem+json` (Aufy, Storyden).
    Problem,
}

struct Operation {
    method: Method,
    /// As documented, with `{…}` parameters.
    template: String,
    doc: Value,
    format: Format,
    page: bool,
}

impl Operation {
    fn path(&self) -> String {
        self.template
            .replace("{slug}", "default")
            .replace("{user_id}", "usr_0000000000")
            .replace("{id}", "00000000")
            .replace("{provider}", "google")
    }

    fn documents(&self, status: u16) -> bool {
        self.doc["responses"].get(status.to_string()).is_some()
    }

    fn json_body(&self) -> Option<&Value> {
        self.doc.pointer("/requestBody/content/application~1json")
    }

    fn query_parameters(&self) -> Vec<&Value> {
        let parameters = self.doc["parameters"].as_array().map(Vec::as_slice).unwrap_or_default();
        parameters.iter().filter(|p| p["in"] == "query").collect()
    }

    /// The administration token for `/admin` and `/metrics`, a user's access token elsewhere,
    /// so the routes that need a session read the body instead of stopping at 401.
    fn token<'a>(&self, user: &'a str) -> &'a str {
        if self.template.starts_with("/admin") || self.template == "/metrics" { ADMIN_TOKEN } else { user }
    }
}

/// Every operation of the document.
fn operations(doc: &Value) -> Vec<Operation> {
    let mut out = Vec::new();
    for (template, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            let Ok(method) = method.to_uppercase().parse::<Method>() else { continue };
            if !["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&method.as_str()) {
                continue;
            }
            let tag = operation["tags"][0].as_str().unwrap_or_default();
            let format = match tag {
                "replyke" => Format::Replyke,
                "aufy" | "storyden" => Format::Problem,
                _ => Format::Envelope,
            };
            out.push(Operation {
                method,
                template: template.clone(),
                doc: operation.clone(),
                format,
                page: is_page(operation),
            });
        }
    }
    assert!(out.len() > 50, "the document lists only {} operations", out.len());
    out
}

/// A hosted page: its success answer is HTML and it documents no JSON refusal of its own.
fn is_page(operation: &Value) -> bool {
    let responses = operation["responses"].as_object().expect("responses");
    let html_success =
        responses.iter().any(|(status, r)| status.starts_with('2') && r["content"].get("text/html").is_some());
    let json_refusal = responses.iter().any(|(status, r)| {
        status.starts_with('4')
            && r["content"].as_object().is_some_and(|c| c.keys().any(|media| media.ends_with("json")))
    });
    html_success && !json_refusal
}

/// A method the path does not serve.
fn unserved_method(item: &Value) -> Method {
    [Method::PUT, Method::DELETE, Method::PATCH, Method::POST, Method::GET]
        .into_iter()
        .find(|m| item.get(m.as_str().to_lowercase()).is_none())
        .expect("a path serving every method")
}

/// A schema with its `$ref`s resolved against the document's components.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str().and_then(|r| r.strip_prefix("#/components/schemas/")) {
        Some(name) => resolve(doc, &doc["components"]["schemas"][name]),
        None => schema,
    }
}

/// Every documented field of a body schema (of each alternative, for `oneOf`/`anyOf`/`allOf`)
/// with its type.
fn fields(doc: &Value, schema: &Value, out: &mut Vec<(String, String)>) {
    let schema = resolve(doc, schema);
    for key in ["oneOf", "anyOf", "allOf"] {
        for alternative in schema[key].as_array().map(Vec::as_slice).unwrap_or_default() {
            fields(doc, alternative, out);
        }
    }
    for (name, property) in schema["properties"].as_object().into_iter().flatten() {
        let property = resolve(doc, property);
        let kind = match &property["type"] {
            Value::String(t) => t.clone(),
            Value::Array(types) => {
                types.iter().filter_map(Value::as_str).find(|t| *t != "null").unwrap_or("").to_owned()
            }
            _ => String::new(),
        };
        out.push((name.clone(), kind));
    }
}

/// A body with every documented field of the wrong type: strings get a number, everything
/// else a string.
fn wrongly_typed(doc: &Value, schema: &Value) -> Option<Value> {
    let mut found = Vec::new();
    fields(doc, schema, &mut found);
    let body: serde_json::Map<String, Value> = found
        .into_iter()
        .map(|(name, kind)| (name, if kind == "string" { json!(12345) } else { json!("not of this type") }))
        .collect();
    (!body.is_empty()).then_some(Value::Object(body))
}

/// A query string the operation's parameters cannot parse: a word for a number, `null` for a
/// boolean, a text parameter given twice.
fn unparsable_query(parameters: &[&Value]) -> String {
    parameters
        .iter()
        .map(|p| {
            let name = p["name"].as_str().expect("parameter name");
            match p["schema"]["type"].as_str() {
                Some("integer" | "number") => format!("{name}=many"),
                Some("boolean") => format!("{name}=null"),
                _ => format!("{name}=a&{name}=b"),
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Checks one refusal: 4xx, in the operation's format (or a page), and the expected status.
async fn check(op: &Operation, kind: &str, allowed: &[u16], response: reqwest::Response) {
    let what = format!("{} {} ({kind})", op.method, op.template);
    let status = response.status().as_u16();
    let media = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let text = response.text().await.expect("body");
    assert!((400..500).contains(&status), "{what}: {status} {media} {text}");
    assert!(
        allowed.contains(&status) || (allowed.is_empty() && op.documents(status)),
        "{what}: {status} is neither the kind's status {allowed:?} nor documented: {text}"
    );
    if op.page && media.starts_with("text/html") {
        return;
    }
    let body: Value =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("{what}: {status} {media} not JSON: {text}"));
    match op.format {
        Format::Envelope => {
            assert!(media.starts_with("application/json"), "{what}: {media}");
            assert_eq!(body["success"], false, "{what}: {body}");
            assert!(body["error"]["code"].as_str().is_some_and(|c| !c.is_empty()), "{what}: {body}");
            assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{what}: {body}");
        }
        Format::Replyke => {
            assert!(media.starts_with("application/json"), "{what}: {media}");
            // `auth/…`, or `project/not-found`.
            let code = body["code"].as_str().unwrap_or_default();
            assert!(code.split_once('/').is_some_and(|(a, b)| !a.is_empty() && !b.is_empty()), "{what}: {body}");
            assert!(body["error"].as_str().is_some_and(|m| !m.is_empty()), "{what}: {body}");
        }
        Format::Problem => {
            assert_eq!(media, "application/problem+json", "{what}: {body}");
            assert_eq!(body["status"], status, "{what}: {body}");
            assert!(body["title"].as_str().is_some_and(|t| !t.is_empty()), "{what}: {body}");
        }
    }
}

async fn document(app: &TestApp) -> Value {
    let response = app.get("/openapi.json").await;
    assert_eq!(response.status(), 200);
    response.json().await.expect("the document is JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_refuses_bad_requests_in_its_contracts_format() {
    let app = TestApp::builder(Backend::Sqlite).with_admin_token().spawn().await;
    let doc = document(&app).await;
    let signed_up = app
        .bare_client()
        .post(app.url("/api/auth/sign-up"))
        .json(&json!({"email": "rejections@example.com", "password": STRONG_PASSWORD, "name": "Rejections"}))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_up.status(), 201);
    let signed_up: Value = signed_up.json().await.unwrap();
    let user = signed_up["data"]["session"]["token"].as_str().expect("an access token").to_owned();

    let client = app.bare_client();
    let send = |op: &Operation, path: String, content_type: Option<&'static str>, body: Option<Vec<u8>>| {
        let mut request = client.request(op.method.clone(), app.url(&path)).bearer_auth(op.token(&user));
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        if let Some(body) = body {
            request = request.body(body);
        }
        request.send()
    };
    let mut cases = 0;
    for op in operations(&doc) {
        let path = op.path();
        if let (Some(media), false) = (op.json_body(), op.page) {
            let json = Some("application/json");
            let malformed = send(&op, path.clone(), json, Some(br#"{"email": "#.to_vec())).await.unwrap();
            check(&op, "malformed JSON", &[], malformed).await;
            let array = send(&op, path.clone(), json, Some(b"[1, 2]".to_vec())).await.unwrap();
            check(&op, "a JSON array", &[], array).await;
            if let Some(body) = wrongly_typed(&doc, &media["schema"]) {
                let typed = send(&op, path.clone(), json, Some(body.to_string().into_bytes())).await.unwrap();
                check(&op, &format!("wrong types {body}"), &[], typed).await;
                cases += 1;
            }
            let text = send(&op, path.clone(), Some("text/plain"), Some(b"{}".to_vec())).await.unwrap();
            check(&op, "text/plain body", &[], text).await;
            check(&op, "oversized body", &[], oversized_as(&app, op.method.clone(), &path).await).await;
            cases += 4;
        }
        let queries = op.query_parameters();
        if !queries.is_empty() && !op.page && op.documents(400) {
            let query = unparsable_query(&queries);
            let refused = send(&op, format!("{path}?{query}"), None, None).await.unwrap();
            check(&op, &format!("query {query}"), &[], refused).await;
            cases += 1;
        }
        let method = unserved_method(&doc["paths"][&op.template]);
        let other = Operation { method, ..op };
        let refused = send(&other, path, None, None).await.unwrap();
        check(&other, "method not allowed", &[405], refused).await;
        cases += 1;
    }
    assert!(cases > 300, "only {cases} cases");
}

/// A prefix that names no project: 404 in the format of the contract that owns the rest of
/// the path (routes served only unprefixed, like `/admin/…`, answer the native 404).
async fn unknown_project_slugs_answer_404_in_each_contracts_format(backend: Backend) {
    let app = TestApp::builder(backend).with_admin_token().spawn().await;
    let doc = document(&app).await;
    let client = app.bare_client();
    for op in operations(&doc) {
        let path = format!("/no-such-project{}", op.path());
        let mut request = client.request(op.method.clone(), app.url(&path)).bearer_auth(ADMIN_TOKEN);
        if op.json_body().is_some() {
            request = request.json(&json!({}));
        }
        check(&op, "unknown project", &[404], request.send().await.unwrap()).await;
    }
}
