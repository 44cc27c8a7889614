//! Seed 001 (Replyke), the routes around sign-up that Replyke's client calls: sign-in,
//! request-new-access-token, sign-out and the verification mail.

use serde_json::{Value, json as j};

use crate::harness::{Backend, TestApp, cookie_value, json, oversized, set_cookie, unique_email, wait_for_mails};
use crate::on_both_backends;

on_both_backends!(
    sign_in_answers_the_auth_user,
    sign_in_refusals,
    sign_in_is_rate_limited,
    refresh_rotates_by_body_or_cookie,
    refresh_token_reuse_revokes_the_session,
    refresh_refusals_and_the_signed_out_answer,
    sign_out_answers_204_whatever_it_was_given,
    refresh_cookie_attributes,
    verification_mail_and_verify_email,
    send_verification_email_is_rate_limited,
    an_allowed_origin_may_call_every_replyke_route_with_credentials,
);

pub const PASSWORD: &str = "longenough1";

/// Every field of `@replyke/core`'s `AuthUser` (plus the seed's `location`, `createdAt`,
/// `updatedAt`), in the order Doorway writes them.
pub const AUTH_USER_KEYS: [&str; 19] = [
    "id",
    "email",
    "username",
    "name",
    "avatar",
    "bio",
    "location",
    "birthdate",
    "metadata",
    "suspensions",
    "reputation",
    "createdAt",
    "updatedAt",
    "projectId",
    "foreignId",
    "role",
    "isVerified",
    "isActive",
    "lastActive",
];

fn profile(email: &str) -> Value {
    j!({
        "email": email,
        "password": PASSWORD,
        "username": "Jane_Doe",
        "name": "Jane Doe",
        "avatar": "https://example.com/avatar.jpg",
        "bio": "Tech enthusiast",
        "location": { "longitude": -73.935242, "latitude": 40.73061 },
        "birthdate": "1995-01-01",
        "metadata": { "office": "boston" },
        "secureMetadata": { "internalId": "abc123" }
    })
}

/// Checks the shape and JSON types of an `AuthUser`.
pub fn assert_auth_user(user: &Value, email: &str, project: &str) {
    let keys: Vec<&str> = user.as_object().expect("user object").keys().map(String::as_str).collect();
    assert_eq!(keys, AUTH_USER_KEYS, "{user}");
    assert!(user["id"].as_str().is_some_and(|id| !id.is_empty()));
    assert_eq!(user["email"], email);
    assert_eq!(user["projectId"], project);
    assert_eq!(user["foreignId"], Value::Null);
    assert_eq!(user["role"], "visitor");
    assert!(user["isVerified"].is_boolean() && user["isActive"] == true, "{user}");
    assert_eq!(user["lastActive"], Value::Null);
    assert!(user["reputation"].is_i64() && user["metadata"].is_object());
    assert_eq!(user["suspensions"], j!([]));
    for key in ["username", "name", "avatar", "bio", "birthdate"] {
        assert!(user[key].is_string() || user[key].is_null(), "{key}: {user}");
    }
    assert!(user["location"].is_null() || user["location"]["type"] == "Point", "{user}");
    for key in ["createdAt", "updatedAt"] {
        assert!(user[key].as_str().is_some_and(|s| s.len() == 24 && s.ends_with('Z')), "{key}: {user}");
    }
}

/// Signs up in `slug`; returns the sign-up answer.
async fn signed_up(app: &TestApp, slug: &str, email: &str) -> Value {
    let response = app.replyke(slug).sign_up(&j!({"email": email, "password": PASSWORD})).await;
    assert_eq!(response.status(), 201);
    json(response).await
}

fn token(body: &Value, key: &str) -> String {
    body[key].as_str().unwrap_or_else(|| panic!("no {key} in {body}")).to_owned()
}

async fn sign_in_answers_the_auth_user(backend: Backend) {
    let app = TestApp::builder(backend).with_project("acme", "Acme").spawn().await;
    let replyke = app.replyke("acme");
    let created = json(replyke.sign_up(&profile("jane@example.com")).await).await;
    assert_auth_user(&created["user"], "jane@example.com", "acme");

    let response = replyke.sign_in(&j!({"email": "jane@example.com", "password": PASSWORD})).await;
    assert_eq!(response.status(), 200);
    let cookie = set_cookie(&response, "replyke-refresh-jwt").expect("refresh cookie");
    let raw = response.text().await.unwrap();
    assert!(!raw.contains("secureMetadata") && !raw.contains("abc123"), "secure metadata leaked: {raw}");
    assert!(!raw.contains(PASSWORD), "password leaked");
    let body: Value = serde_json::from_str(&raw).unwrap();
    let keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["success", "accessToken", "refreshToken", "user"]);
    assert_eq!(body["success"], true);
    assert_eq!(cookie_value(&cookie), token(&body, "refreshToken"));
    assert_ne!(body["refreshToken"], created["refreshToken"], "a session of its own");
    assert_auth_user(&body["user"], "jane@example.com", "acme");
    assert_eq!(body["user"], created["user"], "the same user as sign-up answered");
    assert_eq!(body["user"]["username"], "jane_doe");
    assert_eq!(body["user"]["location"], j!({"type": "Point", "coordinates": [-73.935242, 40.73061]}));
    assert_eq!(body["user"]["birthdate"], "1995-01-01T00:00:00.000Z");
    assert_eq!(body["user"]["isVerified"], false);

    // The access token is a Doorway session token for this project.
    let me = app.native_in("acme").me(&token(&body, "accessToken")).await;
    assert_eq!(me.status(), 200);
    // The default project's users are its own: `projectId` says `default`.
    let default = signed_up(&app, "default", "dee@example.com").await;
    assert_auth_user(&default["user"], "dee@example.com", "default");
}

async fn sign_in_refusals(backend: Backend) {
    let app = TestApp::builder(backend).with_project("acme", "Acme").spawn().await;
    let replyke = app.replyke("acme");
    signed_up(&app, "acme", "kim@example.com").await;
    for body in [
        j!({}),
        j!({"email": "kim@example.com"}),
        j!({"password": PASSWORD}),
        j!({"email": "", "password": PASSWORD}),
        j!({"email": null, "password": null}),
    ] {
        let response = replyke.sign_in(&body).await;
        assert_eq!(response.status(), 400, "{body}");
        assert_eq!(
            json(response).await,
            j!({"error": "Email, and password are required.", "code": "auth/missing-fields"})
        );
    }
    for body in [j!({"email": 5, "password": PASSWORD}), j!({"email": "kim@example.com", "password": [1]}), j!([1])] {
        let response = replyke.sign_in(&body).await;
        assert_eq!(response.status(), 400, "{body}");
        assert_eq!(json(response).await["code"], "auth/invalid-body");
    }
    let raw = |body: &'static [u8], content_type: &'static str| {
        app.bare_client().post(app.url("/acme/auth/sign-in")).header("content-type", content_type).body(body).send()
    };
    let malformed = raw(b"{nope", "application/json").await.unwrap();
    assert_eq!(malformed.status(), 400);
    assert_eq!(json(malformed).await["code"], "auth/invalid-body");
    let text = raw(b"email=a", "text/plain").await.unwrap();
    assert_eq!(text.status(), 415);
    assert_eq!(json(text).await["code"], "auth/unsupported-media-type");
    let huge = oversized(&app, "/acme/auth/sign-in").await;
    assert_eq!(huge.status(), 413);
    assert_eq!(json(huge).await["code"], "auth/payload-too-large");

    // A wrong password and an unknown address get the same answer.
    let wrong = replyke.sign_in(&j!({"email": "kim@example.com", "password": "not the password"})).await;
    assert_eq!(wrong.status(), 401);
    assert!(set_cookie(&wrong, "replyke-refresh-jwt").is_none());
    let wrong = json(wrong).await;
    assert_eq!(wrong, j!({"error": "Incorrect email or password.", "code": "auth/invalid-credentials"}));
    let unknown = replyke.sign_in(&j!({"email": "nobody@example.com", "password": PASSWORD})).await;
    assert_eq!(unknown.status(), 401);
    assert_eq!(json(unknown).await, wrong);
    // The account of one project does not open another.
    let elsewhere = app.replyke("default").sign_in(&j!({"email": "kim@example.com", "password": PASSWORD})).await;
    assert_eq!(elsewhere.status(), 401);

    let ghost = app.replyke("ghost").sign_in(&j!({"email": "kim@example.com", "password": PASSWORD})).await;
    assert_eq!(ghost.status(), 404);
    assert_eq!(json(ghost).await["code"], "project/not-found");
}

async fn sign_in_is_rate_limited(backend: Backend) {
    let app = TestApp::builder(backend).with_rate_limits().spawn().await;
    let replyke = app.replyke("default");
    for attempt in 0..100 {
        let response = replyke.sign_in(&j!({"email": "who@example.com", "password": "guess-{attempt}"})).await;
        if response.status() == 429 {
            assert!(response.headers().contains_key("retry-after"));
            let body = json(response).await;
            assert_eq!(body["code"], "auth/too-many-requests");
            assert!(body["error"].is_string());
            return;
        }
        assert_eq!(response.status(), 401, "attempt {attempt}");
    }
    panic!("100 sign-ins from one client were never limited");
}

async fn refresh_rotates_by_body_or_cookie(backend: Backend) {
    let app = TestApp::builder(backend).with_project("acme", "Acme").spawn().await;
    let replyke = app.replyke("acme");
    let created = signed_up(&app, "acme", "rot@example.com").await;
    let first = token(&created, "refreshToken");

    // By body, as a client without cookies sends it.
    let response = replyke.with_cookie("request-new-access-token", Some(j!({"refreshToken": first})), None).await;
    assert_eq!(response.status(), 200);
    let cookie = cookie_value(&set_cookie(&response, "replyke-refresh-jwt").expect("the new token's cookie"));
    let body = json(response).await;
    let keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["success", "accessToken", "refreshToken", "user"]);
    let second = token(&body, "refreshToken");
    assert_ne!(second, first, "the refresh token rotates");
    assert_eq!(cookie, second);
    assert_auth_user(&body["user"], "rot@example.com", "acme");
    assert_eq!(body["user"]["id"], created["user"]["id"]);
    assert_eq!(app.native_in("acme").me(&token(&body, "accessToken")).await.status(), 200);

    // By cookie, as a browser sends it (Replyke's client also sends `{refreshToken}`, which may be stale).
    let response =
        replyke.with_cookie("request-new-access-token", Some(j!({"refreshToken": null})), Some(&second)).await;
    assert_eq!(response.status(), 200);
    let third = token(&json(response).await, "refreshToken");
    assert_ne!(third, second);

    // Both: the cookie wins, whatever the body says.
    let response =
        replyke.with_cookie("request-new-access-token", Some(j!({"refreshToken": "not-a-token"})), Some(&third)).await;
    assert_eq!(response.status(), 200, "a valid cookie and a stale body");
    let fourth = token(&json(response).await, "refreshToken");
    let response =
        replyke.with_cookie("request-new-access-token", Some(j!({"refreshToken": fourth})), Some("not-a-token")).await;
    assert_eq!(response.status(), 403, "the cookie is read first");
    assert_eq!(json(response).await["code"], "auth/refresh-token-invalid");
    // Without a body at all, the cookie alone.
    let response = replyke.with_cookie("request-new-access-token", None, Some(&fourth)).await;
    assert_eq!(response.status(), 200);
}

async fn refresh_token_reuse_revokes_the_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let replyke = app.replyke("default");
    let created = signed_up(&app, "default", "reuse@example.com").await;
    let first = token(&created, "refreshToken");
    let refresh = |t: &str| replyke.with_cookie("request-new-access-token", Some(j!({"refreshToken": t})), None);
    let response = refresh(&first).await;
    assert_eq!(response.status(), 200);
    let second = json(response).await;

    let reused = refresh(&first).await;
    assert_eq!(reused.status(), 403);
    let cleared = set_cookie(&reused, "replyke-refresh-jwt").expect("the cookie is cleared");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert_eq!(
        json(reused).await,
        j!({
            "error": "This refresh token was already used; the session has been revoked. Sign in again.",
            "code": "auth/refresh-token-reused"
        })
    );
    // The whole session is gone: the newest refresh token and the access token with it.
    let newest = refresh(&token(&second, "refreshToken")).await;
    assert_eq!(newest.status(), 403);
    assert_eq!(json(newest).await["code"], "auth/refresh-token-invalid");
    assert_eq!(app.native().me(&token(&second, "accessToken")).await.status(), 401);
    let audit = app.state.services.store.audit(&app.project_id("default").await).await.unwrap();
    assert!(audit.iter().any(|a| a.action == "refresh" && a.outcome == "denied:refresh_token_reused"));
}

async fn refresh_refusals_and_the_signed_out_answer(backend: Backend) {
    let app = TestApp::builder(backend).with_project("acme", "Acme").spawn().await;
    let replyke = app.replyke("acme");
    // Nothing presented: Replyke's signed-out state, not an error.
    for body in [None, Some(j!({})), Some(j!({"refreshToken": null})), Some(j!({"refreshToken": ""}))] {
        let response = replyke.with_cookie("request-new-access-token", body.clone(), None).await;
        assert_eq!(response.status(), 200, "{body:?}");
        assert!(set_cookie(&response, "replyke-refresh-jwt").is_none());
        assert_eq!(json(response).await, j!({"user": null, "accessToken": null}));
    }
    for body in [j!({"refreshToken": 5}), j!("token"), j!([1])] {
        let response = replyke.with_cookie("request-new-access-token", Some(body.clone()), None).await;
        assert_eq!(response.status(), 400, "{body}");
        assert_eq!(json(response).await["code"], "auth/invalid-body");
    }
    let malformed = app
        .bare_client()
        .post(app.url("/acme/auth/request-new-access-token"))
        .header("content-type", "application/json")
        .body("{nope")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    assert_eq!(json(malformed).await["code"], "auth/invalid-body");

    let unknown = replyke.with_cookie("request-new-access-token", Some(j!({"refreshToken": "forged"})), None).await;
    assert_eq!(unknown.status(), 403);
    assert_eq!(
        json(unknown).await,
        j!({"error": "Invalid or expired refresh token.", "code": "auth/refresh-token-invalid"})
    );
    // Another project's token is unknown here.
    let other = signed_up(&app, "default", "other@example.com").await;
    let response =
        replyke.with_cookie("request-new-access-token", Some(j!({"refreshToken": other["refreshToken"]})), None).await;
    assert_eq!(response.status(), 403);
    let ghost = app.replyke("ghost").with_cookie("request-new-access-token", None, None).await;
    assert_eq!(ghost.status(), 404);
    assert_eq!(json(ghost).await["code"], "project/not-found");
}

async fn sign_out_answers_204_whatever_it_was_given(backend: Backend) {
    let app = TestApp::builder(backend).with_project("acme", "Acme").spawn().await;
    let replyke = app.replyke("acme");
    let refresh = |t: String| {
        let replyke = &replyke;
        async move { replyke.with_cookie("request-new-access-token", Some(j!({"refreshToken": t})), None).await.status() }
    };

    // By body: the session ends.
    let by_body = signed_up(&app, "acme", "out1@example.com").await;
    let response = replyke.with_cookie("sign-out", Some(j!({"refreshToken": by_body["refreshToken"]})), None).await;
    assert_eq!(response.status(), 204);
    assert!(set_cookie(&response, "replyke-refresh-jwt").is_none(), "no cookie sent, none cleared");
    assert_eq!(refresh(token(&by_body, "refreshToken")).await, 403);
    assert_eq!(app.native_in("acme").me(&token(&by_body, "accessToken")).await.status(), 401);

    // By cookie: the session ends and the cookie is cleared.
    let by_cookie = signed_up(&app, "acme", "out2@example.com").await;
    let response = replyke
        .with_cookie("sign-out", Some(j!({"refreshToken": null})), Some(&token(&by_cookie, "refreshToken")))
        .await;
    assert_eq!(response.status(), 204);
    let cleared = set_cookie(&response, "replyke-refresh-jwt").expect("cleared");
    assert!(cleared.starts_with("replyke-refresh-jwt=;") && cleared.contains("Max-Age=0"), "{cleared}");
    assert!(cleared.contains("Path=/acme/auth"), "{cleared}");
    assert_eq!(refresh(token(&by_cookie, "refreshToken")).await, 403);

    // Nothing, an unknown token, a token already signed out: still 204, nothing said.
    for body in
        [None, Some(j!({})), Some(j!({"refreshToken": "forged"})), Some(j!({"refreshToken": by_body["refreshToken"]}))]
    {
        let response = replyke.with_cookie("sign-out", body.clone(), None).await;
        assert_eq!(response.status(), 204, "{body:?}");
        assert!(response.text().await.unwrap().is_empty());
    }
    for body in [j!({"refreshToken": 1}), j!([])] {
        let response = replyke.with_cookie("sign-out", Some(body.clone()), None).await;
        assert_eq!(response.status(), 400, "{body}");
        assert_eq!(json(response).await["code"], "auth/invalid-body");
    }
    let ghost = app.replyke("ghost").with_cookie("sign-out", None, None).await;
    assert_eq!(ghost.status(), 404);
    assert_eq!(json(ghost).await["code"], "project/not-found");
}

async fn refresh_cookie_attributes(backend: Backend) {
    // Plain http on loopback (development): no Secure, so SameSite=Lax.
    let app = TestApp::builder(backend).with_project("acme", "Acme").spawn().await;
    let response = app.replyke("acme").sign_up(&j!({"email": "c1@example.com", "password": PASSWORD})).await;
    let cookie = set_cookie(&response, "replyke-refresh-jwt").unwrap();
    let max_age = format!("Max-Age={}", doorway_core::ProjectSettings::default().refresh_token_ttl_secs);
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/acme/auth", max_age.as_str()] {
        assert!(cookie.contains(attribute), "{attribute}: {cookie}");
    }
    assert!(!cookie.contains("Secure"), "{cookie}");

    // Anywhere else: Secure and SameSite=None, as Replyke sets it, on every route that sets it.
    let app = TestApp::builder(backend)
        .with_project("acme", "Acme")
        .configure(|s| s.public_url = Some("https://auth.example.com".into()))
        .spawn()
        .await;
    let replyke = app.replyke("acme");
    let created = signed_up(&app, "acme", "c2@example.com").await;
    let signed_in = replyke.sign_in(&j!({"email": "c2@example.com", "password": PASSWORD})).await;
    let refreshed = replyke
        .with_cookie("request-new-access-token", Some(j!({"refreshToken": created["refreshToken"]})), None)
        .await;
    let signed_out = replyke.with_cookie("sign-out", None, Some("whatever")).await;
    for response in [signed_in, refreshed, signed_out] {
        let cookie = set_cookie(&response, "replyke-refresh-jwt").unwrap();
        for attribute in ["HttpOnly", "Secure", "SameSite=None", "Path=/acme/auth"] {
            assert!(cookie.contains(attribute), "{attribute}: {cookie}");
        }
    }
}

async fn verification_mail_and_verify_email(backend: Backend) {
    let app = TestApp::builder(backend).with_smtp().with_project("acme", "Acme").spawn().await;
    let replyke = app.replyke("acme");
    let email = unique_email("rk-verify");
    let created = signed_up(&app, "acme", &email).await;

    let sent = replyke.post("send-verification-email", &j!({"email": email})).await;
    assert_eq!(sent.status(), 200);
    let sent = json(sent).await;
    assert_eq!(
        sent,
        j!({"success": true, "message": "If this address has an account to verify, a verification email was sent."})
    );
    // An unknown address gets the same answer (and no mail).
    let stranger = replyke.post("send-verification-email", &j!({"email": unique_email("rk-nobody")})).await;
    assert_eq!(stranger.status(), 200);
    assert_eq!(json(stranger).await, sent);
    for (body, code) in [
        (j!({}), "auth/missing-fields"),
        (j!({"email": "nope"}), "auth/invalid-email"),
        (j!({"email": 1}), "auth/invalid-body"),
    ] {
        let response = replyke.post("send-verification-email", &body).await;
        assert_eq!(response.status(), 400, "{body}");
        assert_eq!(json(response).await["code"], code);
    }

    let mail = wait_for_mails(&email, 1).await.remove(0);
    let wrong = if mail.code() == "000000" { "111111" } else { "000000" };
    let refused = replyke.post("verify-email", &j!({"email": email, "code": wrong})).await;
    assert_eq!(refused.status(), 400);
    assert_eq!(json(refused).await["code"], "auth/invalid-code");
    for (body, code) in [
        (j!({"email": email}), "auth/missing-fields"),
        (j!({"code": "123456"}), "auth/missing-fields"),
        (j!({"email": email, "code": 123456}), "auth/invalid-body"),
        (j!({"token": 5}), "auth/invalid-body"),
    ] {
        let response = replyke.post("verify-email", &body).await;
        assert_eq!(response.status(), 400, "{body}");
        assert_eq!(json(response).await["code"], code);
    }
    // In the account's own session (Bearer), as a signed-in Replyke app verifies.
    let verified = replyke
        .with_bearer("verify-email", Some(&token(&created, "accessToken")), &j!({"email": email, "code": mail.code()}))
        .await;
    assert_eq!(verified.status(), 200);
    let verified = json(verified).await;
    assert_eq!(verified["success"], true);
    assert_auth_user(&verified["user"], &email, "acme");
    assert_eq!(verified["user"]["isVerified"], true);
    let signed_in = json(replyke.sign_in(&j!({"email": email, "password": PASSWORD})).await).await;
    assert_eq!(signed_in["user"]["isVerified"], true, "the session kept its password");
    let again = replyke.post("verify-email", &j!({"email": email, "code": mail.code()})).await;
    assert_eq!(again.status(), 400);
    assert_eq!(json(again).await["code"], "auth/invalid-code", "a code is used once");

    // By the mailed link's token.
    let by_link = unique_email("rk-link");
    signed_up(&app, "acme", &by_link).await;
    assert_eq!(replyke.post("send-verification-email", &j!({"email": by_link})).await.status(), 200);
    let link = wait_for_mails(&by_link, 1).await.remove(0).link();
    let link_token = url::Url::parse(&link).unwrap().query_pairs().find(|(k, _)| k == "token").unwrap().1.into_owned();
    let verified = replyke.post("verify-email", &j!({"token": link_token})).await;
    assert_eq!(verified.status(), 200);
    assert_eq!(json(verified).await["user"]["isVerified"], true);
    let forged = replyke.post("verify-email", &j!({"token": "forged"})).await;
    assert_eq!(forged.status(), 400);
    assert_eq!(json(forged).await["code"], "auth/invalid-code");
    let ghost = app.replyke("ghost").post("verify-email", &j!({"token": "x"})).await;
    assert_eq!(ghost.status(), 404);
}

async fn send_verification_email_is_rate_limited(backend: Backend) {
    let app = TestApp::builder(backend).with_smtp().with_rate_limits().spawn().await;
    let replyke = app.replyke("default");
    let email = unique_email("rk-limit");
    signed_up(&app, "default", &email).await;
    for attempt in 0..50 {
        let response = replyke.post("send-verification-email", &j!({"email": email})).await;
        if response.status() == 429 {
            assert!(response.headers().contains_key("retry-after"));
            assert_eq!(json(response).await["code"], "auth/too-many-requests");
            return;
        }
        assert_eq!(response.status(), 200, "attempt {attempt}");
    }
    panic!("50 verification mails to one address were never limited");
}

async fn an_allowed_origin_may_call_every_replyke_route_with_credentials(backend: Backend) {
    const APP: &str = "http://app.example.test:5173";
    let mut acme = doorway_server::settings::ProjectConfig { name: Some("Acme".into()), ..Default::default() };
    acme.settings.cors.allowed_origins = vec![APP.into()];
    let app = TestApp::builder(backend).with_project_config("acme", acme).spawn().await;
    for route in [
        "sign-up",
        "sign-in",
        "sign-out",
        "request-new-access-token",
        "change-password",
        "send-verification-email",
        "verify-email",
        "request-password-reset",
        "reset-password",
    ] {
        let preflight = app
            .bare_client()
            .request(reqwest::Method::OPTIONS, app.url(&format!("/acme/auth/{route}")))
            .header("origin", APP)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type, authorization")
            .send()
            .await
            .unwrap();
        assert_eq!(preflight.status(), 204, "{route}");
        assert_eq!(preflight.headers()["access-control-allow-origin"], APP, "{route}");
        assert_eq!(preflight.headers()["access-control-allow-credentials"], "true", "{route}");
    }
    // The client's start-up refresh from that origin, with its cookie: served, readable.
    let created = signed_up(&app, "acme", "cors@example.com").await;
    let refreshed = app
        .bare_client()
        .post(app.url("/acme/auth/request-new-access-token"))
        .header("origin", APP)
        .header("cookie", format!("replyke-refresh-jwt={}", token(&created, "refreshToken")))
        .json(&j!({"refreshToken": null}))
        .send()
        .await
        .unwrap();
    assert_eq!(refreshed.status(), 200);
    assert_eq!(refreshed.headers()["access-control-allow-origin"], APP);
    // Another origin's cookie-bearing call is refused in Replyke's format.
    let foreign = app
        .bare_client()
        .post(app.url("/acme/auth/request-new-access-token"))
        .header("origin", "https://evil.example.net")
        .header("cookie", "replyke-refresh-jwt=whatever")
        .json(&j!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 403);
    assert!(foreign.headers().get("access-control-allow-origin").is_none());
    assert_eq!(json(foreign).await["code"], "auth/forbidden");
}
