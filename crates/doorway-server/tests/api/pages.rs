//! The hosted pages over HTTP, on both engines: every page's headers (CSP, `no-store`, the CSRF
//! cookie), CSRF refusals, open-redirect refusals, the unknown project's 404 page, forms that
//! create the native API's session, errors next to their fields, locale and branding.

use doorway_server::settings::ProjectConfig;
use serde_json::json as j;

use crate::harness::{Backend, STRONG_PASSWORD, TestApp, set_cookie, unique_email};
use crate::on_both_backends;

on_both_backends!(
    every_page_answers_html_with_a_strict_csp_and_no_store,
    a_form_post_without_its_csrf_token_is_refused,
    return_to_never_leaves_the_allow_list,
    an_unknown_project_gets_a_404_page,
    a_form_sign_up_opens_the_native_session,
    refused_forms_show_each_error_next_to_its_field,
    pages_speak_the_browsers_language_and_wear_the_projects_brand,
    mailed_links_land_on_the_pages_unless_they_are_switched_off,
);

const ALLOWED: &str = "https://app.example.com/after";

async fn app(backend: Backend) -> TestApp {
    let mut acme = ProjectConfig { name: Some("Acme".into()), ..Default::default() };
    acme.settings.redirect_allowlist = vec!["https://app.example.com".into()];
    acme.settings.contract_settings.insert(
        "branding".into(),
        j!({"display_name": "Acme Cloud", "primary_color": "#0B7A75", "logo_url": "https://cdn.example.com/logo.svg",
            "support_url": "https://help.example.com/"}),
    );
    let mut default = ProjectConfig { name: Some("Default".into()), ..Default::default() };
    default.settings.redirect_allowlist = vec!["https://app.example.com".into()];
    TestApp::builder(backend).with_project_config("acme", acme).with_project_config("default", default).spawn().await
}

/// The hidden CSRF field of a page.
fn csrf_of(html: &str) -> String {
    let start = html.find(r#"name="csrf" value=""#).expect("a CSRF field") + r#"name="csrf" value=""#.len();
    html[start..].split('"').next().unwrap().to_owned()
}

/// A browser: its own cookie jar, redirects not followed, and the `Origin` a browser sends
/// with a form post.
struct Browser<'a> {
    app: &'a TestApp,
    client: reqwest::Client,
}

impl<'a> Browser<'a> {
    fn new(app: &'a TestApp) -> Self {
        Self { app, client: app.browser() }
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.app.url(path)).send().await.unwrap()
    }

    /// The CSRF token of the page at `path` (which sets the cookie).
    async fn token(&self, path: &str) -> String {
        csrf_of(&self.get(path).await.text().await.unwrap())
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.client.post(self.app.url(path)).header("origin", &self.app.address).form(form).send().await.unwrap()
    }

    async fn sign_up(&self, prefix: &str, email: &str, return_to: &str) -> reqwest::Response {
        let csrf = self.token(&format!("{prefix}/ui/sign-up")).await;
        let form = [
            ("csrf", csrf.as_str()),
            ("name", "Ada Lovelace"),
            ("email", email),
            ("password", STRONG_PASSWORD),
            ("return_to", return_to),
        ];
        self.post(&format!("{prefix}/ui/sign-up"), &form).await
    }
}

fn location(response: &reqwest::Response) -> String {
    response.headers().get("location").map(|l| l.to_str().unwrap().to_owned()).unwrap_or_default()
}

async fn every_page_answers_html_with_a_strict_csp_and_no_store(backend: Backend) {
    let app = app(backend).await;
    let pages = [
        "sign-up",
        "sign-in",
        "sign-in/code",
        "verify-email",
        "verify-email?token=abc",
        "forgot-password",
        "reset-password",
        "reset-password?token=abc",
    ];
    for prefix in ["", "/acme"] {
        for page in pages {
            let response = app.bare_client().get(app.url(&format!("{prefix}/ui/{page}"))).send().await.unwrap();
            assert_eq!(response.status(), 200, "{prefix}/ui/{page}");
            let h = response.headers();
            assert_eq!(h["content-type"], "text/html; charset=utf-8");
            assert_eq!(h["cache-control"], "no-store", "{page}");
            assert_eq!(h["x-frame-options"], "DENY");
            let csp = h["content-security-policy"].to_str().unwrap();
            for directive in [
                "default-src 'none'",
                "script-src 'self';",
                "form-action 'self'",
                "frame-ancestors 'none'",
                "base-uri 'none'",
            ] {
                assert!(csp.contains(directive), "{page}: {directive} in {csp}");
            }
            assert!(!csp.contains("unsafe"), "{csp}");
            let cookie = set_cookie(&response, "doorway_csrf").expect("the CSRF cookie");
            assert!(
                cookie.contains(&format!("Path={prefix}/ui"))
                    && cookie.contains("HttpOnly")
                    && cookie.contains("SameSite=Strict"),
                "{cookie}"
            );
            let html = response.text().await.unwrap();
            assert!(!html.contains("<script>") && !html.contains(" style="), "no inline script or style: {page}");
        }
    }
    // The landing without a session sends the browser to sign in, keeping return_to.
    let landing = app.bare_client().get(app.url("/acme/ui/welcome?return_to=%2Fdocs%2F")).send().await.unwrap();
    assert_eq!(landing.status(), 303);
    assert_eq!(location(&landing), "/acme/ui/sign-in?return_to=%2Fdocs%2F");

    // Assets: hashed names, a year of caching; an unknown name is a 404 page.
    let html = app.bare_client().get(app.url("/acme/ui/sign-in")).send().await.unwrap().text().await.unwrap();
    let css = html.split(r#"rel="stylesheet" href=""#).nth(1).unwrap().split('"').next().unwrap().to_owned();
    assert!(css.starts_with("/acme/ui/assets/ui.") && css.ends_with(".css"), "{css}");
    let sheet = app.bare_client().get(app.url(&css)).send().await.unwrap();
    assert_eq!(sheet.status(), 200);
    assert_eq!(sheet.headers()["cache-control"], "public, max-age=31536000, immutable");
    assert!(sheet.headers()["content-type"].to_str().unwrap().starts_with("text/css"));
    let script = html.split(r#"<script src=""#).nth(1).unwrap().split('"').next().unwrap().to_owned();
    assert!(
        app.bare_client().get(app.url(&script)).send().await.unwrap().headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    let missing = app.bare_client().get(app.url("/ui/assets/ui.0000000000.css")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    assert!(missing.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
}

async fn a_form_post_without_its_csrf_token_is_refused(backend: Backend) {
    let app = app(backend).await;
    let browser = Browser::new(&app);
    let good = browser.token("/ui/sign-up").await;
    let email = unique_email("csrf");
    let other = Browser::new(&app).token("/ui/sign-up").await;
    let posts = [
        "sign-up",
        "sign-up/oauth",
        "sign-in",
        "sign-in/send-code",
        "sign-in/code",
        "verify-email",
        "verify-email/resend",
        "forgot-password",
        "reset-password",
        "sign-out",
    ];
    for path in posts {
        for csrf in ["", "not-a-token", other.as_str()] {
            let form = [("csrf", csrf), ("name", "Mallory"), ("email", email.as_str()), ("password", STRONG_PASSWORD)];
            let refused = browser.post(&format!("/ui/{path}"), &form).await;
            assert_eq!(refused.status(), 403, "{path} with csrf={csrf:?}");
            assert!(refused.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
        }
    }
    // A browser without the cookie fails even with a well-formed token.
    let cookieless = app
        .bare_client()
        .post(app.url("/ui/sign-up"))
        .header("origin", &app.address)
        .form(&[("csrf", good.as_str()), ("name", "Mallory"), ("email", email.as_str()), ("password", STRONG_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(cookieless.status(), 403);
    // A foreign page posting with the browser's cookies is stopped before the token matters.
    let foreign = browser
        .client
        .post(app.url("/ui/sign-up"))
        .header("origin", "https://evil.example")
        .form(&[("csrf", good.as_str()), ("name", "Mallory"), ("email", email.as_str()), ("password", STRONG_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 403);
    // Nothing was created by any of them.
    let sign_in = app.post_json("/api/auth/sign-in", &j!({"email": email, "password": STRONG_PASSWORD})).await;
    assert_eq!(sign_in.status(), 401);
    // The right token passes.
    let form =
        [("csrf", good.as_str()), ("name", "Ada Lovelace"), ("email", email.as_str()), ("password", STRONG_PASSWORD)];
    assert_eq!(browser.post("/ui/sign-up", &form).await.status(), 303);
}

async fn return_to_never_leaves_the_allow_list(backend: Backend) {
    let app = app(backend).await;
    let browser = Browser::new(&app);
    let created = browser.sign_up("", &unique_email("redirect"), ALLOWED).await;
    assert_eq!(created.status(), 303);
    assert_eq!(location(&created), format!("/ui/welcome?return_to={}", urlencode(ALLOWED)));
    let welcome = browser.get(&location(&created)).await;
    assert_eq!(welcome.status(), 303);
    assert_eq!(location(&welcome), ALLOWED, "an allow-listed return_to is followed");
    let own = browser.get("/ui/welcome?return_to=%2Fdocs%2F%3Fx%3D1").await;
    assert_eq!(location(&own), "/docs/?x=1", "a path of Doorway's own is followed");

    let attacks = [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example",
        "/%2F%2Fevil.example",
        "https://app.example.com.evil.example/",
        "https://app.example.com@evil.example/",
        "javascript:alert(document.cookie)",
        "http://app.example.com/after",
        "/a/..//evil.example",
        " https://evil.example",
    ];
    for attack in attacks {
        let query = format!("?return_to={}", urlencode(attack));
        for page in ["welcome", "sign-in", "sign-up", "verify-email", "sign-in/code"] {
            let refused = browser.get(&format!("/ui/{page}{query}")).await;
            assert_eq!(refused.status(), 400, "{page}: {attack}");
            assert!(refused.headers().get("location").is_none(), "{page}: {attack}");
            assert!(!refused.text().await.unwrap().contains("evil.example"), "the refusal does not echo the URL");
        }
        let email = unique_email("redirected");
        let posted = browser.sign_up("", &email, attack).await;
        assert_eq!(posted.status(), 400, "sign-up form: {attack}");
        assert!(posted.headers().get("location").is_none());
        let sign_in = app.post_json("/api/auth/sign-in", &j!({"email": email, "password": STRONG_PASSWORD})).await;
        assert_eq!(sign_in.status(), 401, "nothing created for a refused return_to");
    }
}

fn urlencode(raw: &str) -> String {
    url::form_urlencoded::byte_serialize(raw.as_bytes()).collect()
}

async fn an_unknown_project_gets_a_404_page(backend: Backend) {
    let app = app(backend).await;
    for path in ["/nope/ui/sign-up", "/nope/ui/sign-in", "/nope/ui/assets/ui.css"] {
        let response = app.bare_client().get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/html"), "{path}");
        assert_eq!(response.headers()["cache-control"], "no-store");
        assert!(response.text().await.unwrap().contains("There is no project at this address."));
    }
    let no_page = app.bare_client().get(app.url("/acme/ui/nothing-here")).send().await.unwrap();
    assert_eq!(no_page.status(), 404);
    assert!(no_page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let wrong_method = app.bare_client().delete(app.url("/ui/sign-in")).send().await.unwrap();
    assert_eq!(wrong_method.status(), 405);
    assert!(wrong_method.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let json_body = app.bare_client().post(app.url("/ui/sign-in")).json(&j!({"email": "a@b.c"})).send().await.unwrap();
    assert_eq!(json_body.status(), 415);
    assert!(json_body.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
}

async fn a_form_sign_up_opens_the_native_session(backend: Backend) {
    let app = app(backend).await;
    let browser = Browser::new(&app);
    let email = unique_email("pagesession");
    let created = browser.sign_up("/acme", &email, "").await;
    assert_eq!(created.status(), 303);
    assert_eq!(location(&created), "/acme/ui/welcome");
    assert!(set_cookie(&created, "doorway_acme_access").unwrap().contains("Path=/acme"));
    assert!(set_cookie(&created, "doorway_acme_refresh").unwrap().contains("Path=/acme/api/auth"));
    // The native API sees the same session, by its cookies.
    let me = browser.client.get(app.url("/acme/api/auth/me")).send().await.unwrap();
    assert_eq!(me.status(), 200);
    assert_eq!(me.json::<serde_json::Value>().await.unwrap()["data"]["user"]["email"], email.as_str());
    let welcome = browser.get("/acme/ui/welcome").await;
    assert_eq!(welcome.status(), 200);
    assert!(welcome.text().await.unwrap().contains(&email));

    // Sign out, then in again by password.
    let csrf = browser.token("/acme/ui/welcome").await;
    let out = browser.post("/acme/ui/sign-out", &[("csrf", csrf.as_str())]).await;
    assert_eq!((out.status().as_u16(), location(&out)), (303, "/acme/ui/sign-in?notice=signed-out".to_owned()));
    assert_eq!(browser.client.get(app.url("/acme/api/auth/me")).send().await.unwrap().status(), 401);
    let csrf = browser.token("/acme/ui/sign-in").await;
    let wrong = browser
        .post(
            "/acme/ui/sign-in",
            &[("csrf", csrf.as_str()), ("email", email.as_str()), ("password", "Wrong-password-1")],
        )
        .await;
    assert_eq!(wrong.status(), 401);
    assert!(wrong.text().await.unwrap().contains("The email address or the password is wrong."));
    let signed_in = browser
        .post(
            "/acme/ui/sign-in",
            &[
                ("csrf", csrf.as_str()),
                ("email", email.as_str()),
                ("password", STRONG_PASSWORD),
                ("return_to", ALLOWED),
            ],
        )
        .await;
    assert_eq!(signed_in.status(), 303);
    assert_eq!(browser.client.get(app.url("/acme/api/auth/me")).send().await.unwrap().status(), 200);
    // Another project's pages do not see this session.
    assert_eq!(browser.get("/ui/welcome").await.status(), 303);
}

async fn refused_forms_show_each_error_next_to_its_field(backend: Backend) {
    let app = app(backend).await;
    let browser = Browser::new(&app);
    let csrf = browser.token("/ui/sign-up").await;
    let weak = browser
        .post(
            "/ui/sign-up",
            &[("csrf", csrf.as_str()), ("name", ""), ("email", "not an address"), ("password", "short")],
        )
        .await;
    assert_eq!(weak.status(), 422);
    let html = weak.text().await.unwrap();
    for field in ["name", "email", "password"] {
        assert!(html.contains(&format!(r#"id="{field}-error""#)), "{field}: {html}");
        assert!(html.contains(&format!(r##"<a href="#{field}">"##)), "the summary links {field}");
    }
    assert!(html.contains(r#"aria-describedby="password-hint password-error""#), "{html}");
    assert!(html.contains(r#"aria-invalid="true""#));
    assert!(html.contains(r#"role="alert""#));
    assert!(html.contains(r#"value="not an address""#), "the typed address is kept");
    assert!(!html.contains(r#"value="short""#), "a password is never echoed");

    let email = unique_email("taken");
    assert_eq!(browser.sign_up("", &email, "").await.status(), 303);
    let taken = Browser::new(&app).sign_up("", &email, "").await;
    assert_eq!(taken.status(), 409);
    assert!(taken.text().await.unwrap().contains("An account with this address already exists."));

    // A link's token that does not work: the error is the form's (the page has no code field).
    let csrf = browser.token("/ui/verify-email?token=forged").await;
    let forged = browser.post("/ui/verify-email", &[("csrf", csrf.as_str()), ("token", "forged")]).await;
    assert_eq!(forged.status(), 400);
    let html = forged.text().await.unwrap();
    assert!(html.contains("<li>The code is wrong.</li>") && !html.contains(r#"id="code""#), "{html}");

    let csrf = browser.token("/ui/sign-in/code").await;
    let code = browser
        .post("/ui/sign-in/code", &[("csrf", csrf.as_str()), ("email", email.as_str()), ("code", "000000")])
        .await;
    assert_eq!(code.status(), 401);
    assert!(code.text().await.unwrap().contains(r#"id="code-error""#));
}

async fn pages_speak_the_browsers_language_and_wear_the_projects_brand(backend: Backend) {
    let app = app(backend).await;
    let german = app
        .bare_client()
        .get(app.url("/acme/ui/sign-up"))
        .header("accept-language", "de-CH, de;q=0.9, en;q=0.5")
        .send()
        .await
        .unwrap();
    let csp = german.headers()["content-security-policy"].to_str().unwrap().to_owned();
    let html = german.text().await.unwrap();
    assert!(html.contains(r#"<html lang="de">"#) && html.contains("Konto erstellen"), "{html}");
    assert!(html.contains("Acme Cloud") && html.contains(r#"src="https://cdn.example.com/logo.svg""#), "{html}");
    assert!(html.contains(r#"href="https://help.example.com/""#));
    assert!(html.contains("<style>:root{--primary:#0b7a75}</style>"), "{html}");
    assert!(
        csp.contains("img-src 'self' https://cdn.example.com;") && csp.contains("style-src 'self' 'sha256-"),
        "{csp}"
    );
    let english =
        app.bare_client().get(app.url("/ui/sign-up")).header("accept-language", "fr, en;q=0.8").send().await.unwrap();
    let html = english.text().await.unwrap();
    assert!(html.contains(r#"<html lang="en">"#) && html.contains("Create your account") && html.contains("Default"));
    assert!(!html.contains("<style>"), "no brand colour, no style block");
}

async fn mailed_links_land_on_the_pages_unless_they_are_switched_off(backend: Backend) {
    let mut off = ProjectConfig { name: Some("Off".into()), ..Default::default() };
    off.settings.contracts.insert("pages".into(), doorway_core::project::ContractSwitch { enabled: false });
    let app = TestApp::builder(backend)
        .with_smtp()
        .with_project("acme", "Acme")
        .with_project_config("off", off)
        .spawn()
        .await;
    for (prefix, pages_on) in [("/acme", true), ("/off", false)] {
        let email = unique_email("links");
        assert_eq!(app.sign_up(prefix, &email, "Link Lander", None).await.status(), 201);
        app.post_json(&format!("{prefix}/api/auth/forgot-password"), &j!({"email": email})).await;
        let link = app.wait_for_mails_to(&email, 1).await[0].link();
        assert!(link.contains(&format!("{prefix}/api/auth/reset-password?token=")), "{link}");
        let token = url::Url::parse(&link).unwrap().query_pairs().find(|(k, _)| k == "token").unwrap().1.into_owned();
        let opened = app.bare_client().get(&link).send().await.unwrap();
        if pages_on {
            assert_eq!(opened.status(), 303);
            assert_eq!(location(&opened), format!("{prefix}/ui/reset-password?token={}", urlencode(&token)));
        } else {
            assert_eq!(opened.status(), 200, "the native confirmation page");
            assert!(opened.text().await.unwrap().contains(r#"action="reset-password""#));
            let page = app.bare_client().get(app.url(&format!("{prefix}/ui/sign-up"))).send().await.unwrap();
            assert_eq!(page.status(), 404, "switched-off pages do not exist");
        }
    }
}
