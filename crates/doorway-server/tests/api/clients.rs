//! One client per wire contract on `TestApp`: `app.native()`, `app.replyke("acme")`,
//! `app.storyden()`, `app.rivergen()`, `app.aufy("acme")`. Each sends what the contract's callers
//! send (paths, cookies, headers) from a client without a cookie jar, so a test sees exactly what
//! the server answered.

use serde_json::Value;

use crate::harness::TestApp;

/// The path prefix of a project: none for `default`, `/{slug}` otherwise.
fn prefix(slug: &str) -> String {
    if slug == "default" { String::new() } else { format!("/{slug}") }
}

impl TestApp {
    /// The native contract (`/api/auth/…`) of the default project.
    pub fn native(&self) -> Native<'_> {
        self.native_in("default")
    }

    /// The native contract of project `slug`.
    pub fn native_in(&self, slug: &str) -> Native<'_> {
        Native { app: self, prefix: prefix(slug) }
    }

    /// Seed 001 (Replyke): `/{slug}/auth/…`.
    pub fn replyke(&self, slug: &str) -> Replyke<'_> {
        Replyke { app: self, prefix: format!("/{slug}") }
    }

    /// Seed 004 (Storyden): `/auth/email/…` of the default project.
    pub fn storyden(&self) -> Storyden<'_> {
        Storyden { app: self }
    }

    /// Seed 003 (Rivergen): `/api/v1/auth/oauth/signup` of the default project.
    pub fn rivergen(&self) -> Rivergen<'_> {
        Rivergen { app: self }
    }

    /// Seed 000 (Aufy): `/{slug}/auth/…` external sign-up and sign-in, and the companion
    /// routes under `{auth}` (`/api/auth`) and `{account}` (`/api/account`).
    pub fn aufy(&self, slug: &str) -> Aufy<'_> {
        Aufy { app: self, prefix: prefix(slug) }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> reqwest::Response {
        request.send().await.expect("request failed")
    }

    async fn post_bare(&self, path: &str, body: &Value) -> reqwest::Response {
        self.send(self.bare_client().post(self.url(path)).json(body)).await
    }
}

pub struct Native<'a> {
    app: &'a TestApp,
    prefix: String,
}

impl Native<'_> {
    pub async fn sign_up(&self, body: &Value) -> reqwest::Response {
        self.app.post_bare(&format!("{}/api/auth/sign-up", self.prefix), body).await
    }

    pub async fn sign_in(&self, body: &Value) -> reqwest::Response {
        self.app.post_bare(&format!("{}/api/auth/sign-in", self.prefix), body).await
    }

    /// Rotates a refresh token, sent as the browser does: in the `doorway_refresh` cookie.
    pub async fn refresh(&self, refresh_token: &str) -> reqwest::Response {
        let request = self
            .app
            .bare_client()
            .post(self.app.url(&format!("{}/api/auth/refresh", self.prefix)))
            .header("cookie", format!("doorway_refresh={refresh_token}"));
        self.app.send(request).await
    }

    pub async fn me(&self, access_token: &str) -> reqwest::Response {
        let request =
            self.app.bare_client().get(self.app.url(&format!("{}/api/auth/me", self.prefix))).bearer_auth(access_token);
        self.app.send(request).await
    }

    /// `POST /api/auth/verify-email` with `{"email", "code"}`.
    pub async fn verify_email(&self, body: &Value) -> reqwest::Response {
        self.app.post_bare(&format!("{}/api/auth/verify-email", self.prefix), body).await
    }

    /// `POST /api/auth/sign-in/email-code` with `{"email"}`.
    pub async fn request_sign_in_code(&self, body: &Value) -> reqwest::Response {
        self.app.post_bare(&format!("{}/api/auth/sign-in/email-code", self.prefix), body).await
    }
}

pub struct Replyke<'a> {
    app: &'a TestApp,
    prefix: String,
}

impl Replyke<'_> {
    pub async fn sign_up(&self, body: &Value) -> reqwest::Response {
        self.post("sign-up", body).await
    }

    pub async fn sign_in(&self, body: &Value) -> reqwest::Response {
        self.post("sign-in", body).await
    }

    /// `POST /{projectId}/auth/{route}` with a JSON body, no cookie, no token.
    pub async fn post(&self, route: &str, body: &Value) -> reqwest::Response {
        self.app.post_bare(&format!("{}/auth/{route}", self.prefix), body).await
    }

    /// `POST /{projectId}/auth/{route}` as Replyke's client sends it: the JSON body (if any)
    /// and the `replyke-refresh-jwt` cookie (if any).
    pub async fn with_cookie(&self, route: &str, body: Option<Value>, cookie: Option<&str>) -> reqwest::Response {
        let mut request = self.app.bare_client().post(self.app.url(&format!("{}/auth/{route}", self.prefix)));
        if let Some(body) = body {
            request = request.json(&body);
        }
        if let Some(cookie) = cookie {
            request = request.header("cookie", format!("replyke-refresh-jwt={cookie}"));
        }
        self.app.send(request).await
    }

    /// `POST /{projectId}/auth/{route}` with `Authorization: Bearer` (if any).
    pub async fn with_bearer(&self, route: &str, access_token: Option<&str>, body: &Value) -> reqwest::Response {
        let mut request =
            self.app.bare_client().post(self.app.url(&format!("{}/auth/{route}", self.prefix))).json(body);
        if let Some(token) = access_token {
            request = request.bearer_auth(token);
        }
        self.app.send(request).await
    }
}

pub struct Storyden<'a> {
    app: &'a TestApp,
}

impl Storyden<'_> {
    pub async fn sign_up(&self, body: &Value) -> reqwest::Response {
        self.app.post_bare("/auth/email/signup", body).await
    }

    /// `POST /auth/email/verify`, from the browser holding `session` (the `storyden-session` cookie) if any.
    pub async fn verify(&self, body: &Value, session: Option<&str>) -> reqwest::Response {
        let mut request = self.app.bare_client().post(self.app.url("/auth/email/verify")).json(body);
        if let Some(session) = session {
            request = request.header("cookie", format!("storyden-session={session}"));
        }
        self.app.send(request).await
    }
}

pub struct Rivergen<'a> {
    app: &'a TestApp,
}

impl Rivergen<'_> {
    pub async fn sign_up(&self, body: &Value) -> reqwest::Response {
        self.app.post_bare("/api/v1/auth/oauth/signup", body).await
    }
}

pub struct Aufy<'a> {
    app: &'a TestApp,
    prefix: String,
}

impl Aufy<'_> {
    /// Challenge → provider (signing in as `identity`, `sub|email|verified|name`) → Doorway's
    /// callback, from a fresh browser; returns the callback's answer.
    pub async fn round_trip(&self, provider: &str, callback_url: &str, identity: &str) -> reqwest::Response {
        let browser = self.app.browser();
        let callback: String = url::form_urlencoded::byte_serialize(callback_url.as_bytes()).collect();
        let challenge = self
            .app
            .send(browser.get(
                self.app.url(&format!("{}/auth/external/challenge/{provider}?callbackUrl={callback}", self.prefix)),
            ))
            .await;
        assert_eq!(challenge.status(), 302);
        let mut to_provider =
            url::Url::parse(challenge.headers()["location"].to_str().unwrap()).expect("a URL to the provider");
        to_provider.query_pairs_mut().append_pair("login_hint", identity);
        let back = self.app.send(browser.get(to_provider)).await;
        let callback = back.headers()["location"].to_str().unwrap().to_owned();
        self.app.send(browser.get(callback)).await
    }

    /// `POST /auth/signup/external` with the `Aufy.ExternalSignUp` cookie, if any.
    pub async fn sign_up_external(&self, pending: Option<&str>, body: &Value) -> reqwest::Response {
        let mut request =
            self.app.bare_client().post(self.app.url(&format!("{}/auth/signup/external", self.prefix))).json(body);
        if let Some(cookie) = pending {
            request = request.header("cookie", format!("Aufy.ExternalSignUp={cookie}"));
        }
        self.app.send(request).await
    }

    /// `POST /auth/signin/external` with the `Aufy.ExternalSignIn` cookie, if any.
    pub async fn sign_in_external(&self, pending: Option<&str>) -> reqwest::Response {
        let mut request = self
            .app
            .bare_client()
            .post(self.app.url(&format!("{}/auth/signin/external", self.prefix)))
            .json(&Value::Null);
        if let Some(cookie) = pending {
            request = request.header("cookie", format!("Aufy.ExternalSignIn={cookie}"));
        }
        self.app.send(request).await
    }
}

/// What an Aufy request carries besides its body: cookies (`name=value`) and a Bearer token.
#[derive(Default, Clone)]
pub struct Carry {
    pub cookies: Vec<(String, String)>,
    pub bearer: Option<String>,
}

impl Carry {
    pub fn bearer(token: &str) -> Self {
        Self { bearer: Some(token.to_owned()), ..Default::default() }
    }

    pub fn cookie(name: &str, value: &str) -> Self {
        Self { cookies: vec![(name.to_owned(), value.to_owned())], ..Default::default() }
    }
}

impl Aufy<'_> {
    /// `{prefix}/api/auth/{path}`.
    pub fn auth(&self, path: &str) -> String {
        format!("{}/api/auth/{path}", self.prefix)
    }

    /// `{prefix}/api/account/{path}`.
    pub fn account(&self, path: &str) -> String {
        format!("{}/api/account/{path}", self.prefix)
    }

    fn carrying(&self, mut request: reqwest::RequestBuilder, carry: &Carry) -> reqwest::RequestBuilder {
        if !carry.cookies.is_empty() {
            let cookies: Vec<String> = carry.cookies.iter().map(|(n, v)| format!("{n}={v}")).collect();
            request = request.header("cookie", cookies.join("; "));
        }
        if let Some(token) = &carry.bearer {
            request = request.bearer_auth(token);
        }
        request
    }

    /// POSTs `body` as JSON (none when `None`) to a full path.
    pub async fn post(&self, path: &str, body: Option<&Value>, carry: &Carry) -> reqwest::Response {
        let mut request = self.app.bare_client().post(self.app.url(path));
        if let Some(body) = body {
            request = request.json(body);
        }
        self.app.send(self.carrying(request, carry)).await
    }

    pub async fn get(&self, path: &str, carry: &Carry) -> reqwest::Response {
        self.app.send(self.carrying(self.app.bare_client().get(self.app.url(path)), carry)).await
    }
}
