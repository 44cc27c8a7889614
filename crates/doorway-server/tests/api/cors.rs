//! CORS per project: preflights, credentials and `Vary: Origin` for an allowed origin; nothing
//! for any other origin, for administration or for a contract the project switched off. The
//! same calls from a real browser are in `cors_browser`.

use doorway_core::project::ContractSwitch;
use doorway_server::settings::ProjectConfig;
use serde_json::json as j;

use crate::harness::{Backend, STRONG_PASSWORD, TestApp, cookie_value, json, set_cookie, unique_email};
use crate::on_both_backends;

on_both_backends!(
    preflights_from_an_allowed_origin_list_the_route,
    preflights_from_other_origins_get_no_cors_headers,
    an_allowed_origin_reads_every_answer_with_credentials,
    other_origins_read_nothing_and_cookie_requests_are_refused,
    administration_and_operations_get_no_cors,
    a_switched_off_contract_answers_no_preflight,
);

const APP: &str = "https://app.acme.example";
const DEFAULT_APP: &str = "http://localhost:3000";
const EVIL: &str = "https://evil.example.com";

/// `acme` trusts `APP`; `default` trusts `DEFAULT_APP`.
async fn spawn(backend: Backend) -> TestApp {
    let mut acme = ProjectConfig { name: Some("Acme".into()), ..Default::default() };
    acme.settings.cors.allowed_origins = vec![APP.into()];
    let mut default = ProjectConfig { name: Some("Default".into()), ..Default::default() };
    default.settings.cors.allowed_origins = vec![DEFAULT_APP.into()];
    TestApp::builder(backend)
        .with_admin_token()
        .with_project_config("acme", acme)
        .with_project_config("default", default)
        .spawn()
        .await
}

async fn preflight(app: &TestApp, path: &str, origin: &str, method: &str) -> reqwest::Response {
    app.bare_client()
        .request(reqwest::Method::OPTIONS, app.url(path))
        .header("origin", origin)
        .header("access-control-request-method", method)
        .header("access-control-request-headers", "content-type,authorization")
        .send()
        .await
        .unwrap()
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).map(|v| v.to_str().unwrap())
}

fn varies_by_origin(response: &reqwest::Response) -> bool {
    response
        .headers()
        .get_all("vary")
        .iter()
        .flat_map(|v| v.to_str().unwrap().split(','))
        .any(|v| v.trim().eq_ignore_ascii_case("origin"))
}

fn cors_headers(response: &reqwest::Response) -> Vec<String> {
    response.headers().keys().map(|k| k.as_str().to_owned()).filter(|k| k.starts_with("access-control-")).collect()
}

async fn preflights_from_an_allowed_origin_list_the_route(backend: Backend) {
    let app = spawn(backend).await;
    let cases = [
        ("/acme/api/auth/sign-up", APP, "POST", "POST"),
        ("/acme/api/auth/me", APP, "GET", "GET"),
        ("/acme/auth/sign-up", APP, "POST", "POST"),
        ("/acme/api/v1/auth/oauth/signup", APP, "POST", "POST"),
        ("/acme/api/auth/oauth/google/callback", APP, "GET", "GET"),
        ("/acme/api/auth/sessions/ses_1", APP, "DELETE", "DELETE"),
        ("/api/auth/refresh", DEFAULT_APP, "POST", "POST"),
        ("/api/auth/me", DEFAULT_APP, "GET", "GET"),
    ];
    for (path, origin, method, methods) in cases {
        let response = preflight(&app, path, origin, method).await;
        assert_eq!(response.status(), 204, "{path}");
        assert_eq!(header(&response, "access-control-allow-origin"), Some(origin), "{path}");
        assert_eq!(header(&response, "access-control-allow-credentials"), Some("true"), "{path}");
        assert_eq!(header(&response, "access-control-allow-methods"), Some(methods), "{path}");
        assert_eq!(header(&response, "access-control-allow-headers"), Some("authorization, content-type"), "{path}");
        assert_eq!(header(&response, "access-control-max-age"), Some("600"), "{path}");
        assert!(varies_by_origin(&response), "{path}");
        assert!(response.text().await.unwrap().is_empty());
    }
    // A route that answers two methods lists both.
    let link = preflight(&app, "/acme/api/auth/verify-email", APP, "POST").await;
    assert_eq!(header(&link, "access-control-allow-methods"), Some("GET, POST"));
}

async fn preflights_from_other_origins_get_no_cors_headers(backend: Backend) {
    let app = spawn(backend).await;
    // Another site, a look-alike, another scheme, an opaque origin, and one project's front end
    // asking about another project (the lists are per project).
    let cases = [
        ("/acme/api/auth/sign-up", EVIL),
        ("/acme/api/auth/sign-up", "https://app.acme.example.evil.com"),
        ("/acme/api/auth/sign-up", "http://app.acme.example"),
        ("/acme/api/auth/sign-up", "null"),
        ("/acme/api/auth/sign-up", DEFAULT_APP),
        ("/api/auth/sign-up", APP),
    ];
    for (path, origin) in cases {
        let response = preflight(&app, path, origin, "POST").await;
        // 204 without any Access-Control-* header, as rs/cors, express `cors` and ASP.NET Core
        // answer: the browser refuses the call.
        assert_eq!(response.status(), 204, "{path} {origin}");
        assert_eq!(cors_headers(&response), Vec::<String>::new(), "{path} {origin}");
        assert!(varies_by_origin(&response), "{path} {origin}");
    }
    // A plain OPTIONS (no Access-Control-Request-Method) is no preflight: the route has no OPTIONS.
    let plain = app
        .bare_client()
        .request(reqwest::Method::OPTIONS, app.url("/acme/api/auth/sign-up"))
        .header("origin", APP)
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), 405);
    assert!(varies_by_origin(&plain));
}

async fn an_allowed_origin_reads_every_answer_with_credentials(backend: Backend) {
    let app = spawn(backend).await;
    let client = app.bare_client();
    let email = unique_email("cors");
    let signed_up = client
        .post(app.url("/acme/api/auth/sign-up"))
        .header("origin", APP)
        .json(&j!({"email": email, "password": STRONG_PASSWORD, "name": "Cross Origin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_up.status(), 201);
    assert_eq!(header(&signed_up, "access-control-allow-origin"), Some(APP));
    assert_eq!(header(&signed_up, "access-control-allow-credentials"), Some("true"));
    assert_eq!(
        header(&signed_up, "access-control-expose-headers"),
        Some("retry-after, ratelimit-limit, ratelimit-remaining, ratelimit-reset, x-request-id")
    );
    assert!(varies_by_origin(&signed_up));
    let refresh = cookie_value(&set_cookie(&signed_up, "doorway_acme_refresh").unwrap());

    // Refusals too, so the page can read why.
    let wrong = client
        .post(app.url("/acme/api/auth/sign-in"))
        .header("origin", APP)
        .json(&j!({"email": email, "password": "wrongPassword123!"}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert_eq!(header(&wrong, "access-control-allow-origin"), Some(APP));
    assert!(varies_by_origin(&wrong));

    // The cross-site guard trusts the same list: a cookie-carrying refresh from APP is served.
    let refreshed = client
        .post(app.url("/acme/api/auth/refresh"))
        .header("origin", APP)
        .header("sec-fetch-site", "same-site")
        .header("cookie", format!("doorway_acme_refresh={refresh}"))
        .json(&j!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(refreshed.status(), 200);
    assert_eq!(header(&refreshed, "access-control-allow-origin"), Some(APP));
    assert_eq!(header(&refreshed, "access-control-allow-credentials"), Some("true"));

    // The default project's unprefixed routes answer its own front end.
    let me = client.get(app.url("/api/auth/me")).header("origin", DEFAULT_APP).send().await.unwrap();
    assert_eq!(me.status(), 401);
    assert_eq!(header(&me, "access-control-allow-origin"), Some(DEFAULT_APP));

    // Without an Origin the answer still says it depends on one (for caches), with no CORS.
    let no_origin = client.get(app.url("/acme/api/auth/me")).send().await.unwrap();
    assert_eq!(cors_headers(&no_origin), Vec::<String>::new());
    assert!(varies_by_origin(&no_origin));
}

async fn other_origins_read_nothing_and_cookie_requests_are_refused(backend: Backend) {
    let app = spawn(backend).await;
    let client = app.bare_client();
    let signed_up = client
        .post(app.url("/acme/api/auth/sign-up"))
        .header("origin", EVIL)
        .json(&j!({"email": unique_email("evil"), "password": STRONG_PASSWORD, "name": "Evil Page"}))
        .send()
        .await
        .unwrap();
    // Served (no cookie rode along), but the browser hands the page nothing.
    assert_eq!(signed_up.status(), 201);
    assert_eq!(cors_headers(&signed_up), Vec::<String>::new());
    assert!(varies_by_origin(&signed_up));
    let refresh = cookie_value(&set_cookie(&signed_up, "doorway_acme_refresh").unwrap());

    let refused = client
        .post(app.url("/acme/api/auth/refresh"))
        .header("origin", EVIL)
        .header("cookie", format!("doorway_acme_refresh={refresh}"))
        .json(&j!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    assert_eq!(cors_headers(&refused), Vec::<String>::new());
    assert!(varies_by_origin(&refused), "the refusal depends on the Origin too");
    assert_eq!(json(refused).await["error"]["code"], "CROSS_SITE_REQUEST");
}

async fn administration_and_operations_get_no_cors(backend: Backend) {
    let app = spawn(backend).await;
    let client = app.bare_client();
    for path in ["/admin/projects", "/acme/api/auth/nope", "/api/auth/nope"] {
        let response = preflight(&app, path, DEFAULT_APP, "GET").await;
        assert!(response.status().is_client_error(), "{path}: {}", response.status());
        assert_eq!(cors_headers(&response), Vec::<String>::new(), "{path}");
    }
    for path in ["/admin/projects", "/metrics", "/healthz", "/readyz", "/openapi.json", "/.well-known/jwks.json"] {
        let response = client
            .get(app.url(path))
            .header("origin", DEFAULT_APP)
            .bearer_auth(crate::harness::ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(cors_headers(&response), Vec::<String>::new(), "{path}");
        assert!(!varies_by_origin(&response), "{path}");
    }
}

async fn a_switched_off_contract_answers_no_preflight(backend: Backend) {
    let mut acme = ProjectConfig { name: Some("Acme".into()), ..Default::default() };
    acme.settings.cors.allowed_origins = vec![APP.into()];
    acme.settings.contracts.insert("replyke".into(), ContractSwitch { enabled: false });
    let app = TestApp::builder(backend).with_project_config("acme", acme).spawn().await;
    let off = preflight(&app, "/acme/auth/sign-up", APP, "POST").await;
    assert_eq!(off.status(), 404);
    assert_eq!(cors_headers(&off), Vec::<String>::new());
    let on = preflight(&app, "/acme/api/auth/sign-up", APP, "POST").await;
    assert_eq!(on.status(), 204);
    assert_eq!(header(&on, "access-control-allow-origin"), Some(APP));
}
