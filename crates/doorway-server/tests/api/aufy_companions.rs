//! Aufy's companion endpoints around seed 000: password sign-up, sign-in in cookie and token
//! modes, both refreshes, sign-out, who-am-I, account info, address confirmation, password
//! recovery, the configurable base paths and the project's default roles.

use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use doorway_core::hooks::{HooksSettings, OnFailure, PreSignupHook};
use doorway_core::rate_limit::Rule;
use doorway_server::settings::ProjectConfig;
use serde_json::{Value, json as j};

use crate::clients::Carry;
use crate::harness::{Backend, STRONG_PASSWORD, TestApp, cookie_value, json, oversized, set_cookie, unique_email};
use crate::on_both_backends;
use crate::receiver::{Answer, Receiver, SECRET};

on_both_backends!(
    a_user_walks_through_the_whole_session,
    sign_up_answers_every_documented_status,
    sign_in_and_token_answer_every_documented_status,
    refreshes_rotate_and_refuse_what_they_should,
    account_routes_need_a_session,
    email_confirmation_answers_every_documented_status,
    recovery_and_password_change_answer_every_documented_status,
    reset_links_lead_to_the_configured_app_page,
    external_logins_are_linked_to_the_signed_in_account,
    routes_follow_the_configured_base_paths,
    default_roles_reach_every_sign_up_path,
    attempts_are_rate_limited,
    a_full_hashing_queue_answers_503,
    errors_before_the_handlers_are_problems,
);

const ROLES: [&str; 2] = ["user", "reader"];

fn config() -> ProjectConfig {
    let mut config = ProjectConfig { name: Some("Acme".into()), ..Default::default() };
    config.settings.signup.verify_email = true;
    config.settings.default_roles = ROLES.iter().map(|r| (*r).to_owned()).collect();
    config
}

async fn app(backend: Backend) -> TestApp {
    TestApp::builder(backend).with_admin_token().with_smtp().with_project_config("acme", config()).spawn().await
}

fn claims(token: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').nth(1).unwrap()).unwrap()).unwrap()
}

fn credentials(email: &str, password: &str) -> Value {
    j!({"email": email, "password": password})
}

/// The newest mail to `email` whose subject says `what` ("password reset", "verification"),
/// once `n` mails reached the address (mails sent within one second may arrive in any order).
async fn mail_about(app: &TestApp, email: &str, n: usize, what: &str) -> crate::harness::Mail {
    let mails = app.wait_for_mails_to(email, n).await;
    mails.into_iter().rev().find(|m| m.subject.contains(what)).unwrap_or_else(|| panic!("no {what} mail"))
}

/// The cookies a response set, as a request would carry them back.
fn carried(response: &reqwest::Response, names: &[&str]) -> Carry {
    let cookies = names
        .iter()
        .filter_map(|name| set_cookie(response, name).map(|c| ((*name).to_owned(), cookie_value(&c))))
        .filter(|(_, v)| !v.is_empty())
        .collect();
    Carry { cookies, bearer: None }
}

fn assert_problem(response: &reqwest::Response, status: u16) {
    assert_eq!(response.status(), status);
    assert_eq!(response.headers()["content-type"], "application/problem+json", "status {status}");
}

async fn validation_errors(response: reqwest::Response) -> Value {
    assert_problem(&response, 400);
    let body = json(response).await;
    assert_eq!(body["status"], 400);
    body["errors"].clone()
}

async fn a_user_walks_through_the_whole_session(backend: Backend) {
    let app = app(backend).await;
    let aufy = app.aufy("acme");
    let email = unique_email("aufy-walk");

    // Sign up: Aufy's answer; the first session stays in HttpOnly cookies.
    let signed_up =
        aufy.post(&aufy.auth("signup"), Some(&credentials(&email, STRONG_PASSWORD)), &Carry::default()).await;
    assert_eq!(signed_up.status(), 200);
    let signup_cookies = carried(&signed_up, &["Aufy.AccessToken", "Aufy.RefreshToken"]);
    assert_eq!(signup_cookies.cookies.len(), 2);
    assert!(set_cookie(&signed_up, "Aufy.AccessToken").unwrap().contains("HttpOnly"));
    assert_eq!(json(signed_up).await, j!({"requiresEmailConfirmation": true}));
    let user_id = claims(&signup_cookies.cookies[0].1)["sub"].as_str().unwrap().to_owned();
    assert_eq!(claims(&signup_cookies.cookies[0].1)["roles"], j!(["reader", "user"]), "default roles, by name");

    // Confirm the address with the mailed code, from the browser that signed up.
    let code = app.wait_for_mails_to(&email, 1).await[0].code();
    let confirm = aufy.account(&format!("email/confirm?code={code}&userId={user_id}"));
    let confirmed = aufy.get(&confirm, &signup_cookies).await;
    assert_eq!(confirmed.status(), 200);
    assert!(confirmed.text().await.unwrap().is_empty());
    assert_problem(&aufy.get(&confirm, &Carry::default()).await, 404);

    // Sign in, cookie mode: both cookies, HttpOnly, at the project's root.
    let cookie_mode = aufy.auth("signin?usecookie=true");
    let signed_in = aufy.post(&cookie_mode, Some(&credentials(&email, STRONG_PASSWORD)), &Carry::default()).await;
    assert_eq!(signed_in.status(), 200);
    for name in ["Aufy.AccessToken", "Aufy.RefreshToken"] {
        let set = set_cookie(&signed_in, name).unwrap_or_else(|| panic!("{name} set"));
        for attribute in ["HttpOnly", "SameSite=Lax", "Path=/acme"] {
            assert!(set.contains(attribute), "{attribute}: {set}");
        }
    }
    let browser = carried(&signed_in, &["Aufy.AccessToken", "Aufy.RefreshToken"]);
    let body = json(signed_in).await;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body.as_object().unwrap().len(), 3, "{body}");
    assert_eq!(claims(body["access_token"].as_str().unwrap())["roles"], j!(["reader", "user"]));

    // Who am I, by the access cookie.
    let me = aufy.get(&aufy.auth("whoami"), &browser).await;
    assert_eq!(me.status(), 200);
    assert_eq!(json(me).await, j!({"username": email, "email": email, "roles": ["reader", "user"]}));

    // Sign in, token mode: no access cookie; the token in the body works as a Bearer.
    let token_mode =
        aufy.post(&aufy.auth("signin"), Some(&credentials(&email, STRONG_PASSWORD)), &Carry::default()).await;
    assert_eq!(token_mode.status(), 200);
    assert!(set_cookie(&token_mode, "Aufy.AccessToken").is_none());
    assert!(set_cookie(&token_mode, "Aufy.RefreshToken").is_some());
    let bearer = json(token_mode).await["access_token"].as_str().unwrap().to_owned();
    assert_eq!(aufy.get(&aufy.auth("whoami"), &Carry::bearer(&bearer)).await.status(), 200);

    // Refresh by cookie: new tokens, the refresh cookie rotates.
    let refreshed = aufy.post(&aufy.auth("signin/refresh?usecookie=true"), None, &browser).await;
    assert_eq!(refreshed.status(), 200);
    let browser_after = carried(&refreshed, &["Aufy.AccessToken", "Aufy.RefreshToken"]);
    assert_ne!(browser_after.cookies[1].1, browser.cookies[1].1, "the refresh token rotated");
    let access = json(refreshed).await["access_token"].as_str().unwrap().to_owned();
    assert_eq!(claims(&access)["roles"], j!(["reader", "user"]), "roles in refreshed tokens too");

    // Cookie-less: token, then token/refresh with the refresh token as Bearer.
    let token = aufy.post(&aufy.auth("token"), Some(&credentials(&email, STRONG_PASSWORD)), &Carry::default()).await;
    assert_eq!(token.status(), 200);
    assert!(set_cookie(&token, "Aufy.RefreshToken").is_none(), "cookie-less");
    let pair = json(token).await;
    assert_eq!(pair["token_type"], "Bearer");
    let refresh = pair["refresh_token"].as_str().unwrap();
    let rotated = aufy.post(&aufy.auth("token/refresh"), None, &Carry::bearer(refresh)).await;
    assert_eq!(rotated.status(), 200);
    let rotated = json(rotated).await;
    assert_ne!(rotated["refresh_token"], pair["refresh_token"]);
    assert_eq!(claims(rotated["access_token"].as_str().unwrap())["roles"], j!(["reader", "user"]));

    // Account info.
    let info = aufy.get(&aufy.account("info"), &Carry::bearer(&bearer)).await;
    assert_eq!(info.status(), 200);
    assert_eq!(
        json(info).await,
        j!({"email": email, "username": email, "roles": ["reader", "user"], "logins": [], "hasPassword": true})
    );

    // Sign out: the session ends, the cookies are cleared.
    let signed_out = aufy.post(&aufy.auth("signout"), None, &browser_after).await;
    assert_eq!(signed_out.status(), 200);
    assert_eq!(set_cookie(&signed_out, "Aufy.RefreshToken").map(|c| cookie_value(&c)).as_deref(), Some(""));
    assert_problem(&aufy.get(&aufy.auth("whoami"), &browser_after).await, 401);
    assert_problem(&aufy.post(&aufy.auth("signin/refresh"), None, &browser_after).await, 401);
    assert_problem(&aufy.post(&aufy.auth("signout"), None, &browser_after).await, 401);
    assert_eq!(aufy.get(&aufy.auth("whoami"), &Carry::bearer(&bearer)).await.status(), 200, "other sessions live");

    // Sign in again.
    let again = aufy.post(&aufy.auth("signin"), Some(&credentials(&email, STRONG_PASSWORD)), &Carry::default()).await;
    assert_eq!(again.status(), 200);
    let again = carried(&again, &["Aufy.RefreshToken"]);

    // Forgot the password: the mailed code resets it, and every session ends.
    let forgot = aufy.post(&aufy.account("password/forgot"), Some(&j!({"email": email})), &Carry::default()).await;
    assert_eq!(forgot.status(), 200);
    let code = mail_about(&app, &email, 2, "password reset").await.code();
    let new_password = "Another-Passw0rd!";
    let reset = j!({"email": email, "code": code, "password": new_password});
    assert_eq!(aufy.post(&aufy.account("password/reset"), Some(&reset), &Carry::default()).await.status(), 200);
    assert_problem(&aufy.get(&aufy.auth("whoami"), &Carry::bearer(&bearer)).await, 401);
    assert_problem(&aufy.post(&aufy.auth("signin/refresh"), None, &again).await, 401);
    let old = aufy.post(&aufy.auth("signin"), Some(&credentials(&email, STRONG_PASSWORD)), &Carry::default()).await;
    assert_eq!(old.status(), 400);
    let renewed = aufy.post(&aufy.auth("signin"), Some(&credentials(&email, new_password)), &Carry::default()).await;
    assert_eq!(renewed.status(), 200);
    let renewed = json(renewed).await["access_token"].as_str().unwrap().to_owned();

    // Change it while signed in: the current password is needed, and other sessions end.
    let other =
        json(aufy.post(&aufy.auth("token"), Some(&credentials(&email, new_password)), &Carry::default()).await).await;
    let change = j!({"password": new_password, "newPassword": STRONG_PASSWORD});
    let changed = aufy.post(&aufy.account("password/change"), Some(&change), &Carry::bearer(&renewed)).await;
    assert_eq!(changed.status(), 200);
    assert!(changed.text().await.unwrap().is_empty());
    assert_eq!(aufy.get(&aufy.auth("whoami"), &Carry::bearer(&renewed)).await.status(), 200, "this session stays");
    let other = other["access_token"].as_str().unwrap();
    assert_problem(&aufy.get(&aufy.auth("whoami"), &Carry::bearer(other)).await, 401);
    let back = aufy.post(&aufy.auth("token"), Some(&credentials(&email, STRONG_PASSWORD)), &Carry::default()).await;
    assert_eq!(back.status(), 200);

    // The admin view shows the roles.
    let admin = app.admin_get(&format!("/admin/projects/acme/users/{user_id}")).await;
    assert_eq!(json(admin).await["data"]["roles"], j!(["reader", "user"]));
}

async fn sign_up_answers_every_documented_status(backend: Backend) {
    let app = app(backend).await;
    let aufy = app.aufy("acme");
    let signup = aufy.auth("signup");
    let email = unique_email("aufy-signup");
    let none = Carry::default();
    assert_eq!(aufy.post(&signup, Some(&credentials(&email, STRONG_PASSWORD)), &none).await.status(), 200);

    let taken = aufy.post(&signup, Some(&credentials(&email.to_uppercase(), STRONG_PASSWORD)), &none).await;
    assert_problem(&taken, 400);
    assert_eq!(json(taken).await["detail"], "Account with this email already exists");

    let weak =
        validation_errors(aufy.post(&signup, Some(&credentials(&unique_email("w"), "short")), &none).await).await;
    assert!(weak["Password"].as_array().unwrap().len() >= 2, "every broken rule: {weak}");

    let missing = validation_errors(aufy.post(&signup, Some(&j!({})), &none).await).await;
    assert_eq!(missing["Email"], j!(["The Email field is required."]));
    assert_eq!(missing["Password"], j!(["The Password field is required."]));
    let typed = validation_errors(aufy.post(&signup, Some(&j!({"Email": "nope", "PASSWORD": 12})), &none).await).await;
    assert_eq!(typed["Email"], j!(["The Email field is not a valid e-mail address."]));
    assert_eq!(typed["Password"], j!(["The Password field must be a string."]));
    assert!(validation_errors(aufy.post(&signup, Some(&j!([1, 2])), &none).await).await["body"].is_array());

    let malformed = app
        .bare_client()
        .post(app.url(&signup))
        .header("content-type", "application/json")
        .body("{\"email\":")
        .send()
        .await
        .unwrap();
    assert_problem(&malformed, 400);
    let text = app.bare_client().post(app.url(&signup)).body("email=a").send().await.unwrap();
    assert_problem(&text, 415);
    assert_problem(&oversized(&app, &signup).await, 413);

    // The pre-sign-up hook: its refusal (403) and its silence (503), in Aufy's format.
    let deny = Receiver::start(Answer::Json(StatusCode::OK, j!({"allow": false, "message": "Not on the list"}))).await;
    let hooked = |url: String, timeout_ms| {
        let mut config = config();
        config.settings.hooks = HooksSettings {
            pre_signup: Some(PreSignupHook { url, secret: SECRET.into(), timeout_ms, on_failure: OnFailure::Reject }),
        };
        config
    };
    let app = TestApp::builder(backend).with_project_config("acme", hooked(deny.url.clone(), 3000)).spawn().await;
    let aufy = app.aufy("acme");
    let denied = aufy.post(&aufy.auth("signup"), Some(&credentials(&unique_email("h"), STRONG_PASSWORD)), &none).await;
    assert_problem(&denied, 403);
    assert_eq!(json(denied).await["detail"], "Not on the list");
    let hang = Receiver::start(Answer::Hang(std::time::Duration::from_secs(5))).await;
    let app = TestApp::builder(backend).with_project_config("acme", hooked(hang.url.clone(), 300)).spawn().await;
    let aufy = app.aufy("acme");
    let unavailable =
        aufy.post(&aufy.auth("signup"), Some(&credentials(&unique_email("h"), STRONG_PASSWORD)), &none).await;
    assert_problem(&unavailable, 503);
    assert!(unavailable.headers().contains_key("retry-after"));
}

async fn sign_in_and_token_answer_every_documented_status(backend: Backend) {
    let app = app(backend).await;
    let aufy = app.aufy("acme");
    let email = unique_email("aufy-signin");
    let none = Carry::default();
    assert_eq!(aufy.post(&aufy.auth("signup"), Some(&credentials(&email, STRONG_PASSWORD)), &none).await.status(), 200);

    for (who, password) in [(email.as_str(), "Wrong-password-1!"), ("nobody@example.com", STRONG_PASSWORD)] {
        let refused = aufy.post(&aufy.auth("signin"), Some(&credentials(who, password)), &none).await;
        assert_eq!(validation_errors(refused).await, j!({"SignIn": ["Invalid email or password"]}), "{who}");
        let token = aufy.post(&aufy.auth("token"), Some(&credentials(who, password)), &none).await;
        assert_problem(&token, 401);
        assert_eq!(json(token).await["detail"], "Invalid email or password");
    }
    for path in [aufy.auth("signin"), aufy.auth("token")] {
        let errors = validation_errors(aufy.post(&path, Some(&j!({"email": 1})), &none).await).await;
        assert!(errors["Email"].is_array() && errors["Password"].is_array(), "{path}: {errors}");
        let text = app.bare_client().post(app.url(&path)).body("x").send().await.unwrap();
        assert_problem(&text, 415);
        assert_problem(&oversized(&app, &path).await, 413);
    }
    let bad_query = aufy.auth("signin?usecookie=maybe");
    assert_problem(&aufy.post(&bad_query, Some(&credentials(&email, STRONG_PASSWORD)), &none).await, 400);
    // Property names match whatever their case, as in ASP.NET.
    let shouting =
        aufy.post(&aufy.auth("token"), Some(&j!({"EMAIL": email, "Password": STRONG_PASSWORD})), &none).await;
    assert_eq!(shouting.status(), 200);
}

async fn refreshes_rotate_and_refuse_what_they_should(backend: Backend) {
    let app = app(backend).await;
    let aufy = app.aufy("acme");
    let email = unique_email("aufy-refresh");
    let none = Carry::default();
    assert_eq!(aufy.post(&aufy.auth("signup"), Some(&credentials(&email, STRONG_PASSWORD)), &none).await.status(), 200);

    assert_problem(&aufy.post(&aufy.auth("signin/refresh"), None, &none).await, 401);
    assert_problem(&aufy.post(&aufy.auth("signin/refresh?usecookie=maybe"), None, &none).await, 400);
    let garbage = aufy.post(&aufy.auth("signin/refresh"), None, &Carry::cookie("Aufy.RefreshToken", "nope")).await;
    assert_problem(&garbage, 401);
    assert_eq!(set_cookie(&garbage, "Aufy.RefreshToken").map(|c| cookie_value(&c)).as_deref(), Some(""), "cleared");
    assert_problem(&aufy.post(&aufy.auth("token/refresh"), None, &none).await, 401);
    assert_problem(&aufy.post(&aufy.auth("token/refresh"), None, &Carry::bearer("nope")).await, 401);

    // A reused refresh cookie revokes the session: its rotated successor stops working too.
    let signed_in = aufy.post(&aufy.auth("signin"), Some(&credentials(&email, STRONG_PASSWORD)), &none).await;
    let first = carried(&signed_in, &["Aufy.RefreshToken"]);
    let second = aufy.post(&aufy.auth("signin/refresh"), None, &first).await;
    assert_eq!(second.status(), 200);
    let second = carried(&second, &["Aufy.RefreshToken"]);
    assert_problem(&aufy.post(&aufy.auth("signin/refresh"), None, &first).await, 401);
    assert_problem(&aufy.post(&aufy.auth("signin/refresh"), None, &second).await, 401);

    // The same for cookie-less tokens.
    let pair = json(aufy.post(&aufy.auth("token"), Some(&credentials(&email, STRONG_PASSWORD)), &none).await).await;
    let refresh = pair["refresh_token"].as_str().unwrap();
    let next = json(aufy.post(&aufy.auth("token/refresh"), None, &Carry::bearer(refresh)).await).await;
    assert_problem(&aufy.post(&aufy.auth("token/refresh"), None, &Carry::bearer(refresh)).await, 401);
    let next = next["refresh_token"].as_str().unwrap();
    assert_problem(&aufy.post(&aufy.auth("token/refresh"), None, &Carry::bearer(next)).await, 401);

    // A refresh cookie of another project is not this project's, and is left unused.
    let other = app.aufy("default");
    let elsewhere = other.post(&other.auth("signup"), Some(&credentials(&email, STRONG_PASSWORD)), &none).await;
    assert_eq!(elsewhere.status(), 200);
    let foreign = carried(&elsewhere, &["Aufy.RefreshToken"]);
    assert_problem(&aufy.post(&aufy.auth("signin/refresh"), None, &foreign).await, 401);
    assert_eq!(other.post(&other.auth("signin/refresh"), None, &foreign).await.status(), 200);

    // Cookies sent from a foreign origin are refused (403), in Aufy's format.
    let cross = app
        .bare_client()
        .post(app.url(&aufy.auth("signin/refresh")))
        .header("cookie", "Aufy.RefreshToken=x")
        .header("origin", "https://evil.example.com")
        .send()
        .await
        .unwrap();
    assert_problem(&cross, 403);
    let cross_out = app
        .bare_client()
        .post(app.url(&aufy.auth("signout")))
        .header("cookie", "Aufy.RefreshToken=x")
        .header("origin", "https://evil.example.com")
        .send()
        .await
        .unwrap();
    assert_problem(&cross_out, 403);
}

async fn account_routes_need_a_session(backend: Backend) {
    let app = app(backend).await;
    let aufy = app.aufy("acme");
    let none = Carry::default();
    for path in [aufy.auth("whoami"), aufy.account("info")] {
        let refused = aufy.get(&path, &none).await;
        assert_problem(&refused, 401);
        assert_eq!(refused.headers()["www-authenticate"], "Bearer");
        assert_problem(&aufy.get(&path, &Carry::bearer("not-a-token")).await, 401);
    }
    assert_problem(&aufy.post(&aufy.auth("signout"), None, &none).await, 401);
    assert_problem(&aufy.post(&aufy.account("link/external"), None, &none).await, 401);

    let email = unique_email("aufy-account");
    let token = json(aufy.post(&aufy.auth("signup"), Some(&credentials(&email, STRONG_PASSWORD)), &none).await).await;
    assert!(token.get("access_token").is_none(), "the body stays Aufy's");
    let signed_in =
        json(aufy.post(&aufy.auth("token"), Some(&credentials(&email, STRONG_PASSWORD)), &none).await).await;
    let bearer = Carry::bearer(signed_in["access_token"].as_str().unwrap());
    // Signed in, but no provider round trip to link.
    let nothing = aufy.post(&aufy.account("link/external"), None, &bearer).await;
    assert_problem(&nothing, 400);
    let forged =
        Carry { cookies: vec![("Aufy.ExternalSignIn".into(), "forged".into())], bearer: bearer.bearer.clone() };
    assert_problem(&aufy.post(&aufy.account("link/external"), None, &forged).await, 400);
    let cross = app
        .bare_client()
        .post(app.url(&aufy.account("link/external")))
        .header("cookie", "Aufy.ExternalSignIn=x")
        .header("origin", "https://evil.example.com")
        .bearer_auth(bearer.bearer.clone().unwrap())
        .send()
        .await
        .unwrap();
    assert_problem(&cross, 403);

    // The providers the project configured (none here; the seed tests configure some).
    let providers = aufy.get(&aufy.auth("external/providers"), &none).await;
    assert_eq!(providers.status(), 200);
    assert_eq!(json(providers).await, j!({"providers": []}));
}

async fn email_confirmation_answers_every_documented_status(backend: Backend) {
    let app = app(backend).await;
    let aufy = app.aufy("acme");
    let none = Carry::default();
    let email = unique_email("aufy-confirm");
    assert_eq!(aufy.post(&aufy.auth("signup"), Some(&credentials(&email, STRONG_PASSWORD)), &none).await.status(), 200);
    let mail = app.wait_for_mails_to(&email, 1).await.remove(0);

    for query in ["", "?code=123456", "?userId=usr_x", "?code=&userId=x"] {
        let errors = validation_errors(aufy.get(&aufy.account(&format!("email/confirm{query}")), &none).await).await;
        assert!(errors["code"].is_array(), "{query}");
    }
    let wrong = if mail.code() == "000000" { "111111" } else { "000000" };
    for query in [format!("code={wrong}&userId={email}"), "code=123456&userId=usr_unknown".to_owned()] {
        assert_problem(&aufy.get(&aufy.account(&format!("email/confirm?{query}")), &none).await, 404);
    }

    // Re-send: the same code again; the same answer for unknown addresses.
    let resend = aufy.account("email/confirm/resend");
    assert_eq!(aufy.post(&resend, Some(&j!({"email": email})), &none).await.status(), 200);
    let mails = app.wait_for_mails_to(&email, 2).await;
    assert!(mails.iter().all(|m| m.code() == mail.code()), "the same code again");
    assert_eq!(aufy.post(&resend, Some(&j!({"Email": unique_email("nobody")})), &none).await.status(), 200);
    let errors = validation_errors(aufy.post(&resend, Some(&j!({"email": "nope"})), &none).await).await;
    assert_eq!(errors["Email"], j!(["The Email field is not a valid e-mail address."]));
    assert_problem(&app.bare_client().post(app.url(&resend)).body("x").send().await.unwrap(), 415);
    assert_problem(&oversized(&app, &resend).await, 413);

    // The link's token works as the code too (by email here: the user's id is not needed).
    let token = url::Url::parse(&mail.link())
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let by_link = aufy.get(&aufy.account(&format!("email/confirm?code={token}&userId={email}")), &none).await;
    assert_eq!(by_link.status(), 200);
    let again = aufy.get(&aufy.account(&format!("email/confirm?code={token}&userId={email}")), &none).await;
    assert_problem(&again, 404);
}

async fn routes_follow_the_configured_base_paths(backend: Backend) {
    let mut moved = config();
    moved.settings.contract_settings.insert(
        "aufy".into(),
        j!({"auth_api_base_path": "/identity/auth", "account_api_base_path": "/identity/account"}),
    );
    let mut default = ProjectConfig { name: Some("Default".into()), ..Default::default() };
    default.settings.contract_settings.insert("aufy".into(), j!({"auth_api_base_path": "/auth"}));
    let app = TestApp::builder(backend)
        .with_project_config("acme", moved)
        .with_project_config("default", default)
        .spawn()
        .await;
    let none = Carry::default();
    let aufy = app.aufy("acme");
    let email = unique_email("aufy-base");
    let signed_up = aufy.post("/acme/identity/auth/signup", Some(&credentials(&email, STRONG_PASSWORD)), &none).await;
    assert_eq!(signed_up.status(), 200);
    let token = json(aufy.post("/acme/identity/auth/token", Some(&credentials(&email, STRONG_PASSWORD)), &none).await)
        .await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let info = aufy.get("/acme/identity/account/info", &Carry::bearer(&token)).await;
    assert_eq!(info.status(), 200);
    // The canonical paths answer too; the account routes are not under the auth base.
    assert_eq!(aufy.get(&aufy.auth("whoami"), &Carry::bearer(&token)).await.status(), 200);
    assert_eq!(aufy.get("/acme/identity/auth/info", &Carry::bearer(&token)).await.status(), 404);
    // Refusals under a moved path are Aufy's.
    assert_problem(&aufy.get("/acme/identity/auth/whoami", &none).await, 401);

    // The default project moved `{auth}` to `/auth`, beside the seed's external routes.
    let root = app.aufy("default");
    let signed_up = root.post("/auth/signup", Some(&credentials(&email, STRONG_PASSWORD)), &none).await;
    assert_eq!(signed_up.status(), 200);
    assert_problem(&root.get("/auth/whoami", &none).await, 401);
    // Replyke's `/auth/sign-up` stays Replyke's.
    let replyke = app.post_json("/auth/sign-up", &j!({"email": "x"})).await;
    assert_eq!(json(replyke).await["code"], "auth/missing-fields");
    // The seed's external routes are under `{auth}` too.
    assert_problem(&root.post("/api/auth/signin/external", None, &none).await, 401);
}

async fn default_roles_reach_every_sign_up_path(backend: Backend) {
    let app = app(backend).await;
    let email = unique_email("native-roles");
    let body = j!({"email": email, "password": STRONG_PASSWORD, "name": "Nat Ive"});
    let native = json(app.post_json("/acme/api/auth/sign-up", &body).await).await;
    let token = native["data"]["session"]["token"].as_str().unwrap().to_owned();
    assert_eq!(claims(&token)["roles"], j!(["reader", "user"]), "native sign-up");
    let id = native["data"]["user"]["id"].as_str().unwrap();
    assert_eq!(
        json(app.admin_get(&format!("/admin/projects/acme/users/{id}")).await).await["data"]["roles"],
        j!(["reader", "user"])
    );

    // Aufy's who-am-I reads the roles of a user whichever contract made them.
    let aufy = app.aufy("acme");
    let me = json(aufy.get(&aufy.auth("whoami"), &Carry::bearer(&token)).await).await;
    assert_eq!(me["roles"], j!(["reader", "user"]));

    // Replyke's sign-up goes through the same pipeline.
    let replyke =
        json(app.post_json("/acme/auth/sign-up", &j!({"email": unique_email("r"), "password": "longenough1"})).await)
            .await;
    assert_eq!(claims(replyke["accessToken"].as_str().unwrap())["roles"], j!(["reader", "user"]));

    // A project without default roles gives none; the claim is an empty list.
    let plain = json(app.sign_up("", &unique_email("plain"), "Plain User", None).await).await;
    assert_eq!(claims(plain["data"]["session"]["token"].as_str().unwrap())["roles"], j!([]));
    let id = plain["data"]["user"]["id"].as_str().unwrap();
    assert_eq!(
        json(app.admin_get(&format!("/admin/projects/default/users/{id}")).await).await["data"]["roles"],
        j!([])
    );
}

async fn attempts_are_rate_limited(backend: Backend) {
    let mut limited = config();
    let rules = &mut limited.settings.rate_limits;
    rules.password_signup = Rule { limit: 1, window_secs: 3600 };
    rules.sign_in = Rule { limit: 2, window_secs: 3600 };
    rules.code_verification = Rule { limit: 1, window_secs: 3600 };
    rules.verification_resend = Rule { limit: 1, window_secs: 3600 };
    let app =
        TestApp::builder(backend).with_smtp().with_rate_limits().with_project_config("acme", limited).spawn().await;
    let aufy = app.aufy("acme");
    let none = Carry::default();
    let email = unique_email("aufy-limited");
    let signed_up = aufy.post(&aufy.auth("signup"), Some(&credentials(&email, STRONG_PASSWORD)), &none).await;
    assert_eq!(signed_up.status(), 200);
    let session = carried(&signed_up, &["Aufy.AccessToken"]);
    let second = aufy.post(&aufy.auth("signup"), Some(&credentials(&unique_email("x"), STRONG_PASSWORD)), &none).await;
    assert_problem(&second, 429);
    assert!(second.headers().contains_key("retry-after"));

    assert_eq!(aufy.post(&aufy.auth("signin"), Some(&credentials(&email, STRONG_PASSWORD)), &none).await.status(), 200);
    assert_eq!(aufy.post(&aufy.auth("token"), Some(&credentials(&email, STRONG_PASSWORD)), &none).await.status(), 200);
    assert_problem(&aufy.post(&aufy.auth("signin"), Some(&credentials(&email, STRONG_PASSWORD)), &none).await, 429);
    assert_problem(&aufy.post(&aufy.auth("token"), Some(&credentials(&email, STRONG_PASSWORD)), &none).await, 429);

    let confirm = aufy.account(&format!("email/confirm?code=000001&userId={email}"));
    assert_problem(&aufy.get(&confirm, &none).await, 404);
    assert_problem(&aufy.get(&confirm, &none).await, 429);
    app.wait_for_mails_to(&email, 1).await;
    let resend = aufy.account("email/confirm/resend");
    assert_eq!(aufy.post(&resend, Some(&j!({"email": email})), &none).await.status(), 200);
    assert_problem(&aufy.post(&resend, Some(&j!({"email": email})), &none).await, 429);

    // Recovery mails share the budgets of verification mails; codes the budget of codes.
    let forgot = aufy.account("password/forgot");
    assert_eq!(aufy.post(&forgot, Some(&j!({"email": email})), &none).await.status(), 200);
    assert_problem(&aufy.post(&forgot, Some(&j!({"email": email})), &none).await, 429);
    let reset = j!({"email": email, "code": "000001", "password": "Brand-new-pass1!"});
    assert_problem(&aufy.post(&aufy.account("password/reset"), Some(&reset), &none).await, 429);
    // A password change spends the sign-in budget.
    let change = j!({"password": STRONG_PASSWORD, "newPassword": "Brand-new-pass1!"});
    let bearer = Carry::bearer(&session.cookies[0].1);
    assert_problem(&aufy.post(&aufy.account("password/change"), Some(&change), &bearer).await, 429);
}

async fn a_full_hashing_queue_answers_503(backend: Backend) {
    let slow =
        doorway_core::password_hashing::HashingSettings { iterations: 8, threads: 1, queue: 1, ..Default::default() };
    let app = TestApp::builder(backend).with_hashing(slow).with_project_config("acme", config()).spawn().await;
    let aufy = app.aufy("acme");
    for path in ["signup", "signin", "token", "reset"] {
        let attempts = (0..8).map(|i| {
            let aufy = &aufy;
            async move {
                let email = format!("busy-{path}-{i}@example.com");
                if path == "reset" {
                    // The new password is hashed before the code is checked, so any code reaches the queue.
                    let body = j!({"email": email, "code": "000000", "password": STRONG_PASSWORD});
                    return aufy.post(&aufy.account("password/reset"), Some(&body), &Carry::default()).await;
                }
                aufy.post(&aufy.auth(path), Some(&credentials(&email, STRONG_PASSWORD)), &Carry::default()).await
            }
        });
        let responses = futures_util::future::join_all(attempts).await;
        let busy: Vec<&reqwest::Response> = responses.iter().filter(|r| r.status() == 503).collect();
        assert!(!busy.is_empty(), "{path}: some attempts are refused when the queue is full");
        assert_problem(busy[0], 503);
        assert_eq!(busy[0].headers()["retry-after"], "1");
    }
    // A password change checks the current password on the same queue.
    let email = unique_email("busy-change");
    let signed_up =
        aufy.post(&aufy.auth("signup"), Some(&credentials(&email, STRONG_PASSWORD)), &Carry::default()).await;
    let session = carried(&signed_up, &["Aufy.AccessToken"]);
    let bearer = Carry::bearer(&session.cookies[0].1);
    let attempts = (0..8).map(|_| {
        let (aufy, bearer) = (&aufy, &bearer);
        async move {
            let body = j!({"password": STRONG_PASSWORD, "newPassword": "Brand-new-pass1!"});
            aufy.post(&aufy.account("password/change"), Some(&body), bearer).await
        }
    });
    let responses = futures_util::future::join_all(attempts).await;
    assert!(responses.iter().any(|r| r.status() == 503), "some changes are refused when the queue is full");
}

async fn errors_before_the_handlers_are_problems(backend: Backend) {
    let app = app(backend).await;
    let aufy = app.aufy("acme");
    // Wrong method on an Aufy route: Aufy's format; on a native route: the native envelope.
    let wrong = app.bare_client().get(app.url(&aufy.auth("signin"))).send().await.unwrap();
    assert_problem(&wrong, 405);
    let native = app.bare_client().get(app.url("/acme/api/auth/sign-in")).send().await.unwrap();
    assert_eq!(native.status(), 405);
    assert_eq!(json(native).await["success"], false);
    // An unknown project.
    assert_problem(&app.bare_client().get(app.url("/nope/api/account/info")).send().await.unwrap(), 404);

    // A project with Aufy switched off answers 404 as for any unknown route.
    let mut off = config();
    off.settings.contracts.insert("aufy".into(), doorway_core::project::ContractSwitch { enabled: false });
    let app = TestApp::builder(backend).with_project_config("acme", off).spawn().await;
    let aufy = app.aufy("acme");
    let gone = aufy.get(&aufy.auth("whoami"), &Carry::default()).await;
    assert_eq!(gone.status(), 404);
    assert_eq!(json(gone).await["error"]["code"], "NOT_FOUND");
}

async fn recovery_and_password_change_answer_every_documented_status(backend: Backend) {
    let app = app(backend).await;
    let aufy = app.aufy("acme");
    let none = Carry::default();
    let email = unique_email("aufy-recovery");
    assert_eq!(aufy.post(&aufy.auth("signup"), Some(&credentials(&email, STRONG_PASSWORD)), &none).await.status(), 200);

    // Forgot: the same answer for an unknown address; bad input is a validation problem.
    let forgot = aufy.account("password/forgot");
    assert_eq!(aufy.post(&forgot, Some(&j!({"email": unique_email("nobody")})), &none).await.status(), 200);
    assert!(validation_errors(aufy.post(&forgot, Some(&j!({"email": 7})), &none).await).await["Email"].is_array());
    assert_problem(&app.bare_client().post(app.url(&forgot)).body("x").send().await.unwrap(), 415);
    assert_problem(&oversized(&app, &forgot).await, 413);
    assert_eq!(aufy.post(&forgot, Some(&j!({"Email": email})), &none).await.status(), 200);
    let mail = mail_about(&app, &email, 2, "password reset").await;
    assert!(mail.link().contains("/acme/api/auth/reset-password?token="), "Doorway's page: {}", mail.link());

    // Reset: a wrong code, a weak password, missing fields.
    let reset = aufy.account("password/reset");
    let wrong = if mail.code() == "000000" { "111111" } else { "000000" };
    let refused =
        aufy.post(&reset, Some(&j!({"email": email, "code": wrong, "password": "Brand-new-pass1!"})), &none).await;
    assert_eq!(validation_errors(refused).await, j!({"InvalidToken": ["Invalid token."]}));
    let weak = aufy.post(&reset, Some(&j!({"email": email, "code": mail.code(), "password": "weak"})), &none).await;
    assert!(validation_errors(weak).await["Password"].as_array().unwrap().len() >= 2);
    let missing = validation_errors(aufy.post(&reset, Some(&j!({})), &none).await).await;
    for field in ["Email", "Code", "Password"] {
        assert!(missing[field].is_array(), "{field}: {missing}");
    }
    assert_problem(&app.bare_client().post(app.url(&reset)).body("x").send().await.unwrap(), 415);
    assert_problem(&oversized(&app, &reset).await, 413);
    // The link's token works as the code; a used code is refused.
    let token =
        url::Url::parse(&mail.link()).unwrap().query_pairs().find(|(k, _)| k == "token").unwrap().1.into_owned();
    let by_link =
        aufy.post(&reset, Some(&j!({"email": email, "code": token, "password": "Brand-new-pass1!"})), &none).await;
    assert_eq!(by_link.status(), 200);
    let reused = aufy
        .post(&reset, Some(&j!({"email": email, "code": mail.code(), "password": "Brand-new-pass2!"})), &none)
        .await;
    assert_eq!(validation_errors(reused).await, j!({"InvalidToken": ["Invalid token."]}));

    // Change: a session, the current password and a good new one are needed.
    let change = aufy.account("password/change");
    let body = j!({"password": "Brand-new-pass1!", "newPassword": STRONG_PASSWORD});
    assert_problem(&aufy.post(&change, Some(&body), &none).await, 401);
    let token = json(aufy.post(&aufy.auth("token"), Some(&credentials(&email, "Brand-new-pass1!")), &none).await).await;
    let bearer = Carry::bearer(token["access_token"].as_str().unwrap());
    let mismatch =
        aufy.post(&change, Some(&j!({"password": "Not-it-at-all1!", "newPassword": STRONG_PASSWORD})), &bearer).await;
    assert_eq!(validation_errors(mismatch).await, j!({"PasswordMismatch": ["Incorrect password."]}));
    let weak = aufy.post(&change, Some(&j!({"password": "Brand-new-pass1!", "newPassword": "weak"})), &bearer).await;
    assert!(validation_errors(weak).await["NewPassword"].is_array());
    let missing = validation_errors(aufy.post(&change, Some(&j!({"PASSWORD": 1})), &bearer).await).await;
    assert!(missing["Password"].is_array() && missing["NewPassword"].is_array(), "{missing}");
    let text = app
        .bare_client()
        .post(app.url(&change))
        .bearer_auth(bearer.bearer.clone().unwrap())
        .body("x")
        .send()
        .await
        .unwrap();
    assert_problem(&text, 415);
    assert_problem(&oversized(&app, &change).await, 413);
    let cross = app
        .bare_client()
        .post(app.url(&change))
        .header("cookie", "Aufy.AccessToken=x")
        .header("origin", "https://evil.example.com")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_problem(&cross, 403);
    assert_eq!(aufy.post(&change, Some(&body), &bearer).await.status(), 200);
}

async fn reset_links_lead_to_the_configured_app_page(backend: Backend) {
    let mut configured = config();
    configured.settings.redirect_allowlist = vec!["https://app.example.com".into()];
    configured
        .settings
        .contract_settings
        .insert("aufy".into(), j!({"password_reset_url": "https://app.example.com/reset-password"}));
    let app = TestApp::builder(backend).with_smtp().with_project_config("acme", configured).spawn().await;
    let aufy = app.aufy("acme");
    let none = Carry::default();
    let email = unique_email("aufy-app-reset");
    assert_eq!(aufy.post(&aufy.auth("signup"), Some(&credentials(&email, STRONG_PASSWORD)), &none).await.status(), 200);
    assert_eq!(aufy.post(&aufy.account("password/forgot"), Some(&j!({"email": email})), &none).await.status(), 200);
    let link = url::Url::parse(&mail_about(&app, &email, 2, "password reset").await.link()).unwrap();
    assert_eq!(link.origin().ascii_serialization(), "https://app.example.com");
    assert_eq!(link.path(), "/reset-password");
    let code = link.query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();
    let reset = j!({"email": email, "code": code, "password": "Brand-new-pass1!"});
    assert_eq!(aufy.post(&aufy.account("password/reset"), Some(&reset), &none).await.status(), 200);
}

async fn external_logins_are_linked_to_the_signed_in_account(backend: Backend) {
    let mut with_provider = config();
    with_provider.settings.providers.insert(
        "google".into(),
        doorway_core::oauth::ProviderSettings {
            client_id: "doorway-test".into(),
            client_secret: Some("doorway-test-secret".into()),
            scopes: None,
            issuer: Some(std::env::var("TEST_OIDC_ISSUER").expect("run the suite with scripts/test.sh")),
            authorize_url: None,
            token_url: None,
            userinfo_url: None,
            emails_url: None,
            redirect_uri: None,
        },
    );
    let app = TestApp::builder(backend).with_project_config("acme", with_provider).spawn().await;
    let aufy = app.aufy("acme");
    let none = Carry::default();
    assert_eq!(json(aufy.get(&aufy.auth("external/providers"), &none).await).await, j!({"providers": ["google"]}));

    let owner = unique_email("aufy-owner");
    assert_eq!(aufy.post(&aufy.auth("signup"), Some(&credentials(&owner, STRONG_PASSWORD)), &none).await.status(), 200);
    let token = json(aufy.post(&aufy.auth("token"), Some(&credentials(&owner, STRONG_PASSWORD)), &none).await).await;
    let token = token["access_token"].as_str().unwrap().to_owned();

    // A provider round trip with an identity of another address, then the link.
    let elsewhere = unique_email("aufy-google");
    let identity = format!("sub-{elsewhere}|{elsewhere}|true|Ann Aufy");
    let landed = aufy.round_trip("google", "/linked", &identity).await;
    let pending = cookie_value(&set_cookie(&landed, "Aufy.ExternalSignIn").expect("pending sign-in cookie"));
    let carry = Carry { cookies: vec![("Aufy.ExternalSignIn".into(), pending.clone())], bearer: Some(token.clone()) };
    let linked = aufy.post(&aufy.account("link/external"), None, &carry).await;
    assert_eq!(linked.status(), 200);
    assert!(set_cookie(&linked, "Aufy.ExternalSignIn").unwrap().contains("Max-Age=0"), "the pending cookie is cleared");
    let info = json(linked).await;
    assert_eq!(info["logins"], j!(["google"]));
    assert_eq!(info["email"], owner);
    assert_problem(&aufy.post(&aufy.account("link/external"), None, &carry).await, 400);

    // The provider now signs the owner in.
    let again = aufy.round_trip("google", "/in", &identity).await;
    let pending = cookie_value(&set_cookie(&again, "Aufy.ExternalSignIn").expect("pending sign-in cookie"));
    let signed_in = json(aufy.sign_in_external(Some(&pending)).await).await;
    let me =
        json(aufy.get(&aufy.auth("whoami"), &Carry::bearer(signed_in["access_token"].as_str().unwrap())).await).await;
    assert_eq!(me["email"], owner);

    // Another account cannot take the identity over.
    let other = unique_email("aufy-other");
    assert_eq!(aufy.post(&aufy.auth("signup"), Some(&credentials(&other, STRONG_PASSWORD)), &none).await.status(), 200);
    let other_token =
        json(aufy.post(&aufy.auth("token"), Some(&credentials(&other, STRONG_PASSWORD)), &none).await).await;
    let third = aufy.round_trip("google", "/x", &identity).await;
    let pending = cookie_value(&set_cookie(&third, "Aufy.ExternalSignIn").expect("pending sign-in cookie"));
    let carry = Carry {
        cookies: vec![("Aufy.ExternalSignIn".into(), pending)],
        bearer: other_token["access_token"].as_str().map(str::to_owned),
    };
    assert_problem(&aufy.post(&aufy.account("link/external"), None, &carry).await, 409);
    let info = json(aufy.get(&aufy.account("info"), &Carry::bearer(&token)).await).await;
    assert_eq!(info["logins"], j!(["google"]));
}
