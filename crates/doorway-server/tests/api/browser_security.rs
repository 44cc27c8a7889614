//! What a hostile page or a shared browser can do: cross-site POSTs that ride on cookies,
//! framing and sniffing, cached tokens, and one project's cookies shadowing another's.

use doorway_server::settings::ProjectConfig;
use serde_json::json as j;

use crate::harness::{Backend, STRONG_PASSWORD, TestApp, cookie_value, json, set_cookie, unique_email};
use crate::on_both_backends;

on_both_backends!(
    cross_site_posts_with_cookies_are_refused,
    allowed_origins_may_post_with_cookies,
    every_contract_refuses_cross_site_in_its_format,
    every_response_carries_the_security_headers,
    token_answers_are_never_cached,
    default_project_cookies_do_not_shadow_another_project,
    seed_named_cookies_pick_the_one_of_the_project,
);

const EVIL: &str = "https://evil.example.com";

/// A fresh sign-up's refresh and access tokens (the native cookies' values).
async fn signed_up(app: &TestApp, prefix: &str) -> (String, String) {
    let slug = prefix.trim_start_matches('/');
    let (access_name, refresh_name) = if slug.is_empty() {
        ("doorway_access".to_owned(), "doorway_refresh".to_owned())
    } else {
        (format!("doorway_{slug}_access"), format!("doorway_{slug}_refresh"))
    };
    let response = app.sign_up(prefix, &unique_email("csrf"), "Cross Site", None).await;
    assert_eq!(response.status(), 201);
    let refresh = cookie_value(&set_cookie(&response, &refresh_name).expect("refresh cookie"));
    let access = cookie_value(&set_cookie(&response, &access_name).expect("access cookie"));
    (refresh, access)
}

fn post(app: &TestApp, path: &str, cookie: String) -> reqwest::RequestBuilder {
    app.bare_client().post(app.url(path)).header("cookie", cookie)
}

async fn cross_site_posts_with_cookies_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (refresh, access) = signed_up(&app, "").await;
    let cookie = format!("doorway_refresh={refresh}");

    // What a page on another site can send without a CORS preflight: text/plain, forms, no body.
    let attacks = [
        post(&app, "/api/auth/refresh", cookie.clone())
            .header("origin", EVIL)
            .header("content-type", "text/plain")
            .body("x"),
        post(&app, "/api/auth/refresh", cookie.clone()).header("origin", EVIL).form(&[("a", "b")]),
        post(&app, "/api/auth/refresh", cookie.clone()).header("origin", EVIL),
        post(&app, "/api/auth/refresh", cookie.clone()).header("origin", "null").json(&j!({})),
        post(&app, "/api/auth/refresh", cookie.clone()).header("sec-fetch-site", "cross-site"),
        post(&app, "/api/auth/sign-out", cookie.clone()).header("origin", EVIL).header("content-type", "text/plain"),
        post(&app, "/api/auth/sign-out", format!("doorway_access={access}"))
            .header("origin", "https://sub.evil.example.com"),
    ];
    for attack in attacks {
        let response = attack.send().await.unwrap();
        assert_eq!(response.status(), 403);
        assert!(set_cookie(&response, "doorway_refresh").is_none(), "no cookie changes");
        assert_eq!(json(response).await["error"]["code"], "CROSS_SITE_REQUEST");
    }
    // A browser too old to say where it comes from: only JSON (or no body) rides on a cookie.
    for content_type in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"] {
        let response = post(&app, "/api/auth/refresh", cookie.clone())
            .header("content-type", content_type)
            .body("")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 415, "{content_type}");
        assert_eq!(json(response).await["error"]["code"], "UNSUPPORTED_MEDIA_TYPE");
    }

    // The session survived every attempt: the refresh token was never used, the session never ended.
    let me = app.bare_client().get(app.url("/api/auth/me")).bearer_auth(&access).send().await.unwrap();
    assert_eq!(me.status(), 200);
    let same_origin = post(&app, "/api/auth/refresh", cookie.clone())
        .header("origin", &app.address)
        .json(&j!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(same_origin.status(), 200, "same-origin JSON works");
    let rotated = cookie_value(&set_cookie(&same_origin, "doorway_refresh").unwrap());
    // Fetch metadata alone (no Origin) is believed too, and curl-like clients are unaffected.
    let fetch = post(&app, "/api/auth/refresh", format!("doorway_refresh={rotated}"))
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(fetch.status(), 200);
    let rotated = cookie_value(&set_cookie(&fetch, "doorway_refresh").unwrap());
    let curl = post(&app, "/api/auth/refresh", format!("doorway_refresh={rotated}")).send().await.unwrap();
    assert_eq!(curl.status(), 200);
    // Without cookies there is no ambient authority: a cross-origin sign-in is not refused here.
    let no_cookie = app
        .bare_client()
        .post(app.url("/api/auth/sign-in"))
        .header("origin", EVIL)
        .json(&j!({"email": "x@example.com", "password": STRONG_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(no_cookie.status(), 401);
}

async fn allowed_origins_may_post_with_cookies(backend: Backend) {
    let mut config = ProjectConfig { name: Some("Acme".into()), ..Default::default() };
    config.settings.cors.allowed_origins = vec!["https://app.acme.example".into()];
    let app = TestApp::builder(backend).with_project_config("acme", config).spawn().await;
    let (refresh, _) = signed_up(&app, "/acme").await;
    let cookie = format!("doorway_acme_refresh={refresh}");
    let allowed = post(&app, "/acme/api/auth/refresh", cookie.clone())
        .header("origin", "https://app.acme.example")
        .header("sec-fetch-site", "same-site")
        .json(&j!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), 200);
    let rotated = cookie_value(&set_cookie(&allowed, "doorway_acme_refresh").unwrap());
    // The list is per project: the default project does not trust acme's front end.
    let (default_refresh, _) = signed_up(&app, "").await;
    let other = post(&app, "/api/auth/refresh", format!("doorway_refresh={default_refresh}"))
        .header("origin", "https://app.acme.example")
        .json(&j!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 403);
    let lookalike = post(&app, "/acme/api/auth/refresh", format!("doorway_acme_refresh={rotated}"))
        .header("origin", "https://app.acme.example.evil.com")
        .json(&j!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(lookalike.status(), 403);
}

async fn every_contract_refuses_cross_site_in_its_format(backend: Backend) {
    let mut config = ProjectConfig { name: Some("Acme".into()), ..Default::default() };
    config.settings.external_signup.schema = Some(j!({"type": "object"}));
    let app = TestApp::builder(backend).with_project_config("acme", config).spawn().await;
    let cookie = || "storyden-session=x; Aufy.ExternalSignUp=y; replyke-refresh-jwt=z".to_owned();
    let replyke = post(&app, "/auth/sign-up", cookie()).header("origin", EVIL).json(&j!({})).send().await.unwrap();
    assert_eq!(replyke.status(), 403);
    assert_eq!(
        json(replyke).await,
        j!({"error": "Requests that carry cookies are accepted only from this site or an allowed origin", "code": "auth/forbidden"})
    );
    for path in ["/auth/email/signup", "/auth/email/verify", "/acme/auth/signup/external", "/acme/auth/signin/external"]
    {
        let response = post(&app, path, cookie())
            .header("origin", EVIL)
            .header("content-type", "text/plain")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403, "{path}");
        assert_eq!(response.headers()["content-type"], "application/problem+json", "{path}");
        assert_eq!(json(response).await["status"], 403, "{path}");
    }
    for path in ["/api/auth/sign-up", "/api/auth/sign-in", "/api/v1/auth/oauth/signup", "/api/auth/verify-email"] {
        let response = post(&app, path, cookie()).header("origin", EVIL).json(&j!({})).send().await.unwrap();
        assert_eq!(response.status(), 403, "{path}");
        assert_eq!(json(response).await["error"]["code"], "CROSS_SITE_REQUEST", "{path}");
    }
    let project = app.project_id("default").await;
    assert!(app.state.services.store.outbox(&project).await.unwrap().is_empty(), "nothing was created");
}

fn assert_hardened(response: &reqwest::Response, what: &str) {
    let h = response.headers();
    assert_eq!(h["x-content-type-options"], "nosniff", "{what}");
    assert_eq!(h["x-frame-options"], "DENY", "{what}");
    assert!(h["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"), "{what}");
    assert!(h.contains_key("referrer-policy"), "{what}");
}

async fn every_response_carries_the_security_headers(backend: Backend) {
    let app = TestApp::builder(backend).with_admin_token().spawn().await;
    for path in [
        "/healthz",
        "/api/auth/me",
        "/no/such/route",
        "/openapi.json",
        "/.well-known/jwks.json",
        "/ghost/api/auth/me",
        "/docs/",
        "/docs/swagger-ui-bundle.js",
    ] {
        let response = app.get(path).await;
        assert_hardened(&response, path);
    }
    let json_csp = app.get("/api/auth/me").await.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(json_csp.starts_with("default-src 'none'"), "{json_csp}");

    // Swagger UI still loads: its scripts are files, and the CSP allows only those.
    let docs = app.get("/docs/").await;
    let csp = docs.headers()["content-security-policy"].to_str().unwrap().to_owned();
    let script_src = csp.split(';').map(str::trim).find(|d| d.starts_with("script-src")).expect("script-src");
    assert_eq!(script_src, "script-src 'self'", "{csp}");
    assert!(csp.contains("connect-src 'self'"), "{csp}");
    let html = docs.text().await.unwrap();
    let inline_scripts = html.matches("<script").count() - html.matches("<script src=").count();
    assert_eq!(inline_scripts, 0, "no inline script the CSP would block: {html}");
    for asset in [
        "/docs/swagger-ui-bundle.js",
        "/docs/swagger-ui-standalone-preset.js",
        "/docs/swagger-initializer.js",
        "/docs/swagger-ui.css",
        "/openapi.json",
    ] {
        assert_eq!(app.get(asset).await.status(), 200, "{asset}");
    }
}

async fn token_answers_are_never_cached(backend: Backend) {
    let app = TestApp::builder(backend).with_admin_token().spawn().await;
    let email = unique_email("cache");
    let mut responses = vec![("sign-up", app.sign_up("", &email, "Cash Ier", None).await)];
    responses.push((
        "sign-in",
        app.post_json("/api/auth/sign-in", &j!({"email": email, "password": STRONG_PASSWORD})).await,
    ));
    responses.push(("refresh", app.client.post(app.url("/api/auth/refresh")).send().await.unwrap()));
    responses.push(("me", app.get("/api/auth/me").await));
    responses.push((
        "replyke",
        app.post_json("/auth/sign-up", &j!({"email": unique_email("r"), "password": "whatever-pass"})).await,
    ));
    responses.push(("storyden", app.post_json("/auth/email/signup", &j!({"email": unique_email("s")})).await));
    responses.push(("admin", app.admin_get("/admin/projects").await));
    responses.push(("error", app.post_json("/api/auth/sign-in", &j!({})).await));
    for (what, response) in &responses {
        assert!(response.status().as_u16() < 500, "{what}");
        assert_eq!(response.headers()["cache-control"], "no-store", "{what}");
        assert_eq!(response.headers()["pragma"], "no-cache", "{what}");
        assert_hardened(response, what);
    }
}

async fn me_with_cookie(app: &TestApp, path: &str, cookie: &str) -> reqwest::Response {
    app.bare_client().get(app.url(path)).header("cookie", cookie).send().await.unwrap()
}

async fn default_project_cookies_do_not_shadow_another_project(backend: Backend) {
    let app = TestApp::builder(backend).with_project("acme", "Acme").spawn().await;
    // One browser signs up in both projects; it now holds both projects' cookies.
    let browser = &app.client;
    let default_user = json(app.sign_up("", &unique_email("d"), "Dee Fault", None).await).await;
    let acme = app.sign_up("/acme", &unique_email("a"), "Ac Me", None).await;
    let acme_access = set_cookie(&acme, "doorway_acme_access").expect("acme's own cookie name");
    assert!(acme_access.contains("Path=/acme"), "{acme_access}");
    let acme_user = json(acme).await;
    let me = json(browser.get(app.url("/acme/api/auth/me")).send().await.unwrap()).await;
    assert_eq!(me["data"]["user"]["id"], acme_user["data"]["user"]["id"]);
    let me = json(browser.get(app.url("/api/auth/me")).send().await.unwrap()).await;
    assert_eq!(me["data"]["user"]["id"], default_user["data"]["user"]["id"]);

    // Both orders of the Cookie header, as browsers may send them.
    let d = default_user["data"]["session"]["token"].as_str().unwrap();
    let a = acme_user["data"]["session"]["token"].as_str().unwrap();
    for cookie in
        [format!("doorway_access={d}; doorway_acme_access={a}"), format!("doorway_acme_access={a}; doorway_access={d}")]
    {
        let response = me_with_cookie(&app, "/acme/api/auth/me", &cookie).await;
        assert_eq!(response.status(), 200, "{cookie}");
        assert_eq!(json(response).await["data"]["user"]["id"], acme_user["data"]["user"]["id"]);
    }
    // Acme's refresh and sign-out act on acme's session only.
    let out = browser.post(app.url("/acme/api/auth/sign-out")).send().await.unwrap();
    assert_eq!(out.status(), 200);
    assert_eq!(browser.get(app.url("/acme/api/auth/me")).send().await.unwrap().status(), 401);
    assert_eq!(browser.get(app.url("/api/auth/me")).send().await.unwrap().status(), 200);
}

async fn seed_named_cookies_pick_the_one_of_the_project(backend: Backend) {
    let app = TestApp::builder(backend).with_project("acme", "Acme").spawn().await;
    let storyden = |prefix: &'static str| {
        let app = &app;
        async move {
            let response = app
                .bare_client()
                .post(app.url(&format!("{prefix}/auth/email/signup")))
                .json(&j!({"email": unique_email("sd")}))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            let token = cookie_value(&set_cookie(&response, "storyden-session").unwrap());
            (token, json(response).await["id"].as_str().unwrap().to_owned())
        }
    };
    let (default_token, default_id) = storyden("").await;
    let (acme_token, acme_id) = storyden("/acme").await;
    for cookie in [
        format!("storyden-session={default_token}; storyden-session={acme_token}"),
        format!("storyden-session={acme_token}; storyden-session={default_token}"),
    ] {
        let acme = me_with_cookie(&app, "/acme/api/auth/me", &cookie).await;
        assert_eq!(acme.status(), 200, "{cookie}");
        assert_eq!(json(acme).await["data"]["user"]["id"], acme_id.as_str());
        let default = me_with_cookie(&app, "/api/auth/me", &cookie).await;
        assert_eq!(default.status(), 200, "{cookie}");
        assert_eq!(json(default).await["data"]["user"]["id"], default_id.as_str());
    }
    // Only another project's cookie: not signed in here.
    let foreign = me_with_cookie(&app, "/acme/api/auth/me", &format!("storyden-session={default_token}")).await;
    assert_eq!(foreign.status(), 401);
}
