//! The OpenAPI document, assembled from the handlers' annotations. Contracts add their own
//! tags (see `contracts::routes`).

use axum::http::StatusCode;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, PathItem};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::server::{ServerBuilder, ServerVariableBuilder};
use utoipa::openapi::{ContentBuilder, ObjectBuilder, ResponseBuilder, Type};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "Doorway", description = "Self-hosted sign-up and session server.\n\n\
Every route except `/admin/…`, `/healthz`, `/readyz`, `/metrics`, `/openapi.json` and `/docs/` is also served under \
`/{project}/…` for a project other than `default` (the second server entry, with its `project` variable).\n\n\
Discovery: each project publishes its signing keys at `/.well-known/jwks.json` and RFC 8414 authorization server \
metadata (`issuer`, `jwks_uri`) at `/.well-known/oauth-authorization-server`. Doorway has no authorization or token \
endpoint, so it publishes no `/.well-known/openid-configuration`: OpenID Connect Discovery requires \
`authorization_endpoint` and `response_types_supported`, and an incomplete document would be invalid.\n\n\
Errors come in the owning contract's format: `{success: false, error: {code, message, details?}}` for the native \
API and administration, and each compatible contract's own format for its routes."),
    modifiers(&AdminToken, &ServersAndDocs),
    tags(
        (name = "operations", description = "Health, readiness and metrics"),
        (name = "discovery", description = "Signing keys and issuer metadata"),
        (name = "admin", description = "Administration (Bearer admin_token)"),
    )
)]
pub struct ApiDoc;

struct AdminToken;

impl Modify for AdminToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin_token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
    }
}

/// The per-project servers and the two routes the document itself is served on.
struct ServersAndDocs;

impl Modify for ServersAndDocs {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        openapi.servers = Some(vec![
            ServerBuilder::new().url("/").description(Some("The `default` project (and administration)")).build(),
            ServerBuilder::new()
                .url("/{project}")
                .description(Some("Any project, by slug"))
                .parameter(
                    "project",
                    ServerVariableBuilder::new().default_value("default").description(Some("The project's slug")),
                )
                .build(),
        ]);
        let document = OperationBuilder::new()
            .operation_id(Some("getOpenApiDocument"))
            .tag("operations")
            .summary(Some("This OpenAPI document"))
            .response(
                "200",
                ResponseBuilder::new().description("The OpenAPI 3.1 document").content(
                    "application/json",
                    ContentBuilder::new().schema(Some(ObjectBuilder::new().schema_type(Type::Object))).build(),
                ),
            )
            .build();
        let docs = OperationBuilder::new()
            .operation_id(Some("getDocsPage"))
            .tag("operations")
            .summary(Some("Interactive documentation (Swagger UI, served offline)"))
            .response(
                "200",
                ResponseBuilder::new().description("The documentation page").content(
                    "text/html",
                    ContentBuilder::new().schema(Some(ObjectBuilder::new().schema_type(Type::String))).build(),
                ),
            )
            .build();
        openapi.paths.paths.insert("/openapi.json".into(), PathItem::new(HttpMethod::Get, document));
        openapi.paths.paths.insert("/docs/".into(), PathItem::new(HttpMethod::Get, docs));
    }
}

/// RFC 9457 problem details, the error format of the Storyden and Aufy contracts
/// (`application/problem+json`).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(as = Problem)]
struct ProblemDoc {
    /// Always `about:blank`.
    #[schema(example = "about:blank")]
    r#type: String,
    /// The status's reason phrase.
    #[schema(example = "Bad Request")]
    title: String,
    #[schema(example = 400)]
    status: u16,
    #[schema(example = "'email' is required")]
    detail: String,
    /// Every failing field: Storyden lists the reasons, Aufy maps each field to its messages
    /// (ASP.NET's validation problem details).
    #[schema(schema_with = problem_errors)]
    errors: Option<serde_json::Value>,
}

fn problem_errors() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{AdditionalProperties, ArrayBuilder, ObjectBuilder, OneOfBuilder, Type};
    let strings = || ArrayBuilder::new().items(ObjectBuilder::new().schema_type(Type::String));
    OneOfBuilder::new()
        .item(strings())
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .additional_properties(Some(AdditionalProperties::RefOr(strings().build().into()))),
        )
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .description(Some("Every failing field: a list of reasons, or each field's messages"))
        .build()
        .into()
}

/// The Replyke contract's error body.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(as = ReplykeErrorBody)]
struct ReplykeErrorDoc {
    #[schema(example = "Missing required fields")]
    error: String,
    /// e.g. `auth/missing-fields`, `auth/invalid-email`, `auth/email-taken`.
    #[schema(example = "auth/missing-fields")]
    code: String,
    /// Per-field problems on invalid fields; a hint on `auth/server-error`.
    #[schema(schema_with = replyke_details)]
    details: Option<serde_json::Value>,
}

fn replyke_details() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Type};
    let text = || ObjectBuilder::new().schema_type(Type::String);
    let problem = ObjectBuilder::new()
        .property("field", text().description(Some("The body's field, e.g. `email`")))
        .property("code", text().description(Some("e.g. `auth/invalid-email`")))
        .property("message", text())
        .required("field")
        .required("code")
        .required("message");
    OneOfBuilder::new()
        .item(ArrayBuilder::new().items(problem).min_items(Some(1)))
        .item(text())
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .description(Some("Every failing field (`field`, `code`, `message`), or a hint on `auth/server-error`"))
        .build()
        .into()
}

/// The rejections every route shares, documented in the owning contract's format from one
/// place: the layers that answer them (`errors::contract_errors`, `same_origin`, the body limit)
/// are the same for every route, so each operation gets them here instead of in its annotation.
///  - every operation with a body: 400 (unparsable JSON, when not documented more precisely),
///    408 (the body came too slowly), 413 (over 64 KiB) and 415 (not JSON);
///  - every POST: 403 `CROSS_SITE_REQUEST` (cookies from a foreign origin);
///  - every operation: 500;
///  - an error status documented without a body gets the contract's error schema;
///  - the refusals a layer answers (408, 413, 403, 500, 503) carry the contract's real body as their
///    example.
pub fn finish(mut api: utoipa::openapi::OpenApi) -> serde_json::Value {
    use utoipa::openapi::{RefOr, Response};
    let components = api.components.get_or_insert_with(Default::default);
    for (name, schema) in [
        ("Problem", <ProblemDoc as utoipa::PartialSchema>::schema()),
        ("ReplykeErrorBody", <ReplykeErrorDoc as utoipa::PartialSchema>::schema()),
    ] {
        components.schemas.insert(name.to_owned(), schema);
    }
    for (path, item) in api.paths.paths.iter_mut() {
        let is_document = path == "/openapi.json" || path == "/docs/" || path == "/healthz";
        let operations = [
            (true, item.post.as_mut()),
            (false, item.get.as_mut()),
            (true, item.put.as_mut()),
            (true, item.patch.as_mut()),
            (true, item.delete.as_mut()),
        ];
        for (unsafe_method, operation) in operations {
            let Some(operation) = operation else { continue };
            let tag = operation.tags.as_ref().and_then(|t| t.first()).map(String::as_str).unwrap_or("");
            let (media, schema) = match tag {
                "aufy" | "storyden" => ("application/problem+json", "Problem"),
                "replyke" => ("application/json", "ReplykeErrorBody"),
                _ => ("application/json", "ErrorBody"),
            };
            let contract = crate::contracts::CONTRACTS
                .iter()
                .copied()
                .find(|c| c.tag().0 == tag)
                .unwrap_or(&crate::contracts::native::Native);
            // The refusals answered before a handler runs, each with its contract's real body
            // as the example (400 and 415 come from each handler's own body reader: no example).
            let error = |status: StatusCode, description: &str| -> RefOr<Response> {
                let example = match status {
                    StatusCode::REQUEST_TIMEOUT => Some((
                        crate::connections::BODY_TIMEOUT_CODE,
                        crate::connections::body_timeout_message(std::time::Duration::from_millis(
                            crate::connections::ConnectionSettings::default().body_read_timeout_ms,
                        )),
                    )),
                    StatusCode::PAYLOAD_TOO_LARGE => Some((
                        "PAYLOAD_TOO_LARGE",
                        format!("The body is larger than {} KiB", crate::errors::MAX_BODY_BYTES / 1024),
                    )),
                    StatusCode::FORBIDDEN => {
                        Some(("CROSS_SITE_REQUEST", crate::same_origin::CROSS_SITE_MESSAGE.to_owned()))
                    }
                    StatusCode::INTERNAL_SERVER_ERROR => {
                        Some(("INTERNAL_ERROR", crate::errors::INTERNAL_MESSAGE.to_owned()))
                    }
                    StatusCode::SERVICE_UNAVAILABLE => {
                        Some(("SERVICE_UNAVAILABLE", doorway_core::store::Outage::Unreachable.message().to_owned()))
                    }
                    _ => None,
                };
                let example = example.and_then(|(code, message)| refusal_example(contract, status, code, message));
                RefOr::T(
                    ResponseBuilder::new()
                        .description(description)
                        .content(
                            media,
                            ContentBuilder::new()
                                .schema(Some(utoipa::openapi::Ref::from_schema_name(schema)))
                                .example(example)
                                .build(),
                        )
                        .build(),
                )
            };
            let responses = &mut operation.responses.responses;
            for (status, response) in responses.iter_mut() {
                if let (true, RefOr::T(r)) = (status.starts_with('4') || status.starts_with('5'), response)
                    && r.content.is_empty()
                {
                    r.content.insert(
                        media.to_owned(),
                        ContentBuilder::new().schema(Some(utoipa::openapi::Ref::from_schema_name(schema))).build(),
                    );
                }
            }
            if operation.request_body.is_some() {
                responses
                    .entry("400".into())
                    .or_insert_with(|| error(StatusCode::BAD_REQUEST, "The body is not valid JSON"));
                let late = "The body did not arrive whole within `connections.body_read_timeout_ms`";
                responses.entry("408".into()).or_insert_with(|| match tag {
                    // The hosted pages refuse with a page.
                    "pages" => RefOr::T(
                        ResponseBuilder::new()
                            .description(late)
                            .content(
                                "text/html",
                                ContentBuilder::new()
                                    .schema(Some(
                                        utoipa::openapi::ObjectBuilder::new()
                                            .schema_type(utoipa::openapi::schema::Type::String),
                                    ))
                                    .build(),
                            )
                            .build(),
                    ),
                    _ => error(StatusCode::REQUEST_TIMEOUT, late),
                });
                responses
                    .entry("413".into())
                    .or_insert_with(|| error(StatusCode::PAYLOAD_TOO_LARGE, "The body is over 64 KiB"));
                responses
                    .entry("415".into())
                    .or_insert_with(|| error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "The body is not sent as JSON"));
            }
            if unsafe_method {
                responses.entry("403".into()).or_insert_with(|| {
                    error(StatusCode::FORBIDDEN, "Cross-site: cookies sent from another origin, or a form or text body with cookies and no origin")
                });
            }
            if !is_document {
                responses
                    .entry("500".into())
                    .or_insert_with(|| error(StatusCode::INTERNAL_SERVER_ERROR, "Unexpected failure"));
                // Every route reads projects from the database (cached briefly).
                responses.entry("503".into()).or_insert_with(|| {
                    error(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "The database is unavailable or its storage is full; retry after `Retry-After` seconds",
                    )
                });
            }
        }
    }
    let mut doc = serde_json::to_value(&api).unwrap_or_default();
    add_links(&mut doc);
    optional_bodies_are_absent_not_null(&mut doc);
    project_settings(&mut doc);
    doc
}

/// Project settings are a core type (no OpenAPI there), so their schema is read off what they
/// serialize to: every key of the defaults, with its type, nested objects alike. Answers carry
/// every key (required); a request may give any of them (each omitted one takes its default).
/// Objects stay open: contracts keep their own settings under keys of their own.
fn project_settings(doc: &mut serde_json::Value) {
    let defaults = serde_json::to_value(doorway_core::ProjectSettings::default()).unwrap_or_default();
    let description = "Per-project settings (the keys of `projects.<slug>` in the configuration file)";
    if let Some(view) = doc.pointer_mut("/components/schemas/ProjectView/properties/settings") {
        *view = shape_of(&defaults, true);
        view["description"] = description.into();
    }
    if let Some(create) = doc.pointer_mut("/components/schemas/CreateProject/properties/settings") {
        let mut schema = shape_of(&defaults, false);
        schema["type"] = serde_json::json!(["object", "null"]);
        schema["description"] = format!("{description}; omitted keys take their defaults").into();
        *create = schema;
    }
}

/// The JSON Schema of a value's shape: its type, and for an object its keys (all required when
/// `required`). A null or an empty list says nothing of the type, so it is left open.
fn shape_of(value: &serde_json::Value, required: bool) -> serde_json::Value {
    use serde_json::{Value, json};
    match value {
        Value::Null => json!({}),
        Value::Bool(_) => json!({"type": "boolean"}),
        Value::Number(n) if n.is_i64() || n.is_u64() => json!({"type": "integer"}),
        Value::Number(_) => json!({"type": "number"}),
        Value::String(_) => json!({"type": "string"}),
        Value::Array(items) => match items.first() {
            Some(first) => json!({"type": "array", "items": shape_of(first, required)}),
            None => json!({"type": "array"}),
        },
        Value::Object(fields) => {
            let properties: serde_json::Map<String, Value> =
                fields.iter().map(|(k, v)| (k.clone(), shape_of(v, required))).collect();
            let mut schema = json!({"type": "object", "properties": properties, "additionalProperties": true});
            if required && !fields.is_empty() {
                schema["required"] = fields.keys().cloned().collect();
            }
            schema
        }
    }
}

/// The body `contract` answers a refusal with (it is ready at once: no I/O).
fn refusal_example(
    contract: &dyn crate::contracts::ContractAdapter,
    status: StatusCode,
    code: &'static str,
    message: String,
) -> Option<serde_json::Value> {
    use futures_util::FutureExt;
    let body = contract.refuse(status, code, message).into_body();
    let bytes = axum::body::to_bytes(body, 64 * 1024).now_or_never()?.ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// utoipa writes an optional body (`Option<T>`) as `oneOf: [null, T]`, which says a JSON `null`
/// is a fine body; the servers mean "no body, or a T" — what `required: false` already says.
fn optional_bodies_are_absent_not_null(doc: &mut serde_json::Value) {
    let Some(paths) = doc.get_mut("paths").and_then(|p| p.as_object_mut()) else { return };
    for body in paths.values_mut().filter_map(|i| i.as_object_mut()).flat_map(|i| i.values_mut()) {
        let Some(body) = body.get_mut("requestBody") else { continue };
        if body.get("required") == Some(&serde_json::Value::Bool(true)) {
            continue;
        }
        let Some(content) = body.get_mut("content").and_then(|c| c.as_object_mut()) else { continue };
        for media in content.values_mut() {
            let Some(schema) = media.get_mut("schema") else { continue };
            let not_null = match schema.get("oneOf").and_then(|o| o.as_array()).map(Vec::as_slice) {
                Some([null, other]) if null == &serde_json::json!({"type": "null"}) => other.clone(),
                _ => continue,
            };
            *schema = not_null;
        }
    }
}

/// OpenAPI links from what one operation creates to the operations that read it, so clients
/// (and the fuzzer's stateful phase) can follow a created project or user. Written as JSON:
/// utoipa 5.5 serializes its `Link` with snake_case keys, which the specification refuses.
fn add_links(doc: &mut serde_json::Value) {
    use serde_json::json;
    let slug = json!({"slug": "$response.body#/data/slug"});
    let links = [
        ("/admin/projects", "post", "201", "adminGetProject", slug.clone()),
        ("/admin/projects", "post", "201", "adminListAudit", slug.clone()),
        ("/admin/projects", "post", "201", "adminListWebhookDeliveries", slug.clone()),
        ("/admin/projects", "post", "201", "adminRotateSigningKey", slug),
        (
            "/api/auth/sign-up",
            "post",
            "201",
            "adminGetUser",
            json!({"slug": "default", "user_id": "$response.body#/data/user/id"}),
        ),
        ("/api/auth/sign-up", "post", "201", "adminListAudit", json!({"slug": "default"})),
    ];
    for (path, method, status, to, parameters) in links {
        if let Some(response) =
            doc.pointer_mut(&format!("/paths/{}/{method}/responses/{status}", path.replace('/', "~1")))
            && let Some(response) = response.as_object_mut()
        {
            let links = response.entry("links").or_insert_with(|| json!({}));
            links[to] = json!({"operationId": to, "parameters": parameters});
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::shape_of;

    #[test]
    fn a_shape_types_every_key_and_leaves_what_it_cannot_know_open() {
        let value =
            json!({"ttl": 60, "ratio": 0.5, "on": true, "name": "x", "hook": null, "list": [], "nested": {"limit": 5}});
        let schema = shape_of(&value, true);
        assert_eq!(schema["properties"]["ttl"], json!({"type": "integer"}));
        assert_eq!(schema["properties"]["ratio"], json!({"type": "number"}));
        assert_eq!(schema["properties"]["hook"], json!({}));
        assert_eq!(schema["properties"]["list"], json!({"type": "array"}));
        assert_eq!(schema["properties"]["nested"]["required"], json!(["limit"]));
        assert_eq!(schema["required"].as_array().map(Vec::len), Some(7));
        assert_eq!(schema["additionalProperties"], true);
        assert!(shape_of(&value, false).get("required").is_none());
    }
}
