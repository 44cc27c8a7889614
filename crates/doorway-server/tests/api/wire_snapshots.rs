//! What each contract puts on the wire, as inline snapshots: response bodies for the main statuses,
//! the mails, and the webhook payloads. A change to a contract shows up in this file's diff.
//! Ids, times, tokens, codes and addresses are replaced by stable placeholders (`redact`), so the
//! same snapshot holds on SQLite and PostgreSQL. scripts/test.sh runs with `INSTA_UPDATE=no`: a
//! mismatch fails; accept an intended change with `cargo insta review` or by editing the literal.

use axum::http::StatusCode;
use doorway_core::oauth::ProviderSettings;
use doorway_core::webhooks::WebhookEndpoint;
use doorway_server::settings::ProjectConfig;
use insta::assert_json_snapshot;
use serde_json::{Map, Value, json as j};

use crate::harness::{Backend, Mail, STRONG_PASSWORD, TestApp, cookie_value, set_cookie, unique_email};
use crate::on_both_backends;
use crate::receiver::{Answer, Receiver, SECRET};

on_both_backends!(
    native_bodies,
    replyke_bodies,
    storyden_bodies_and_mail,
    rivergen_bodies,
    aufy_problem_bodies,
    native_mails,
    webhook_payloads,
);

/// Replaces what differs between runs and engines by placeholders.
struct Redactor {
    /// Exact substrings (the app's address, a test's unique email, a mailed code) and their placeholders.
    literals: Vec<(String, String)>,
}

impl Redactor {
    fn new(app: &TestApp) -> Self {
        Self { literals: vec![(app.address.clone(), "http://[app]".into())] }
    }

    fn literal(mut self, value: &str, placeholder: &str) -> Self {
        self.literals.push((value.to_owned(), placeholder.to_owned()));
        self
    }

    fn value(&self, value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                Value::Object(map.iter().map(|(k, v)| (k.clone(), self.field(k, v))).collect::<Map<_, _>>())
            }
            Value::Array(items) => Value::Array(items.iter().map(|v| self.value(v)).collect()),
            Value::String(s) => Value::String(self.string(s)),
            other => other.clone(),
        }
    }

    fn field(&self, key: &str, value: &Value) -> Value {
        let scalar = value.is_string() || value.is_number();
        let lower = key.to_ascii_lowercase();
        if key == "birthdate" {
            // A date the test chose, not a moment of the run.
            value.clone()
        } else if scalar && (key == "id" || key == "kid" || key == "jti" || key.ends_with("Id") || key.ends_with("_id"))
        {
            // The placeholder keeps the id's JSON type in sight.
            if value.is_number() { j!("[id: number]") } else { j!("[id]") }
        } else if scalar && lower.contains("token") && lower != "token_type" {
            j!("[token]")
        } else if value.is_number() && ["iat", "exp", "nbf", "auth_time"].contains(&key) {
            j!("[time]")
        } else {
            self.value(value)
        }
    }

    fn string(&self, s: &str) -> String {
        if is_iso_time(s) {
            return "[time]".into();
        }
        if is_prefixed_id(s) {
            return "[id]".into();
        }
        if s.split('.').count() == 3 && s.len() > 40 && !s.contains(char::is_whitespace) {
            return "[jwt]".into();
        }
        let mut out = s.to_owned();
        for (value, placeholder) in &self.literals {
            out = out.replace(value.as_str(), placeholder);
        }
        redact_token_params(&out)
    }

    /// `{"status", "contentType", "body"}` of a response, redacted.
    async fn response(&self, response: reqwest::Response) -> Value {
        self.response_and_body(response).await.0
    }

    /// The redacted response as `response` gives it, and the body as it came.
    async fn response_and_body(&self, response: reqwest::Response) -> (Value, Value) {
        let status = response.status().as_u16();
        let content_type =
            response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        let text = response.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (j!({"status": status, "contentType": content_type, "body": self.value(&body)}), body)
    }

    /// `{"subject", "text"}` of a mail, its code and links redacted.
    fn mail(&self, mail: &Mail) -> Value {
        let code = mail.code();
        let redact = |s: &str| self.string(&s.replace(&code, "[code]"));
        j!({"subject": redact(&mail.subject), "text": redact(&mail.text)})
    }
}

fn is_iso_time(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 20 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' && b[7] == b'-' && b[10] == b'T'
}

/// Doorway's ids: a short type prefix and a UUIDv7 (`usr_0192…`).
fn is_prefixed_id(s: &str) -> bool {
    s.split_once('_').is_some_and(|(prefix, rest)| {
        (2..=8).contains(&prefix.len())
            && prefix.bytes().all(|c| c.is_ascii_lowercase())
            && rest.len() == 32
            && rest.bytes().all(|c| c.is_ascii_hexdigit())
    })
}

/// `token=…` in a link becomes `token=[token]`.
fn redact_token_params(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(at) = rest.find("token=") {
        let (head, tail) = rest.split_at(at + "token=".len());
        out.push_str(head);
        let end = tail.find(|c: char| c == '&' || c == '#' || c.is_whitespace() || c == '"').unwrap_or(tail.len());
        out.push_str("[token]");
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

async fn native_bodies(backend: Backend) {
    let app = TestApp::builder(backend).with_project("default", "Acme").spawn().await;
    let native = app.native();
    let r = Redactor::new(&app);
    let body = j!({"email": "ann@example.com", "password": STRONG_PASSWORD, "name": "Ann Native", "organizationName": "Ann Co"});

    let created = native.sign_up(&body).await;
    assert_eq!(created.status(), 201);
    assert_json_snapshot!(r.response(created).await, @r#"
    {
      "status": 201,
      "contentType": "application/json",
      "body": {
        "success": true,
        "data": {
          "user": {
            "id": "[id]",
            "email": "ann@example.com",
            "name": "Ann Native",
            "emailVerified": false,
            "createdAt": "[time]"
          },
          "session": {
            "token": "[token]",
            "expiresAt": "[time]"
          },
          "organization": {
            "id": "[id]",
            "name": "Ann Co",
            "slug": "ann-co"
          }
        },
        "message": "Account created successfully"
      }
    }
    "#);
    assert_json_snapshot!(r.response(native.sign_up(&body).await).await, @r#"
    {
      "status": 409,
      "contentType": "application/json",
      "body": {
        "success": false,
        "error": {
          "code": "EMAIL_EXISTS",
          "message": "An account with this email already exists"
        }
      }
    }
    "#);
    let invalid = j!({"email": "not-an-email", "password": "short", "name": "A"});
    assert_json_snapshot!(r.response(native.sign_up(&invalid).await).await, @r#"
    {
      "status": 422,
      "contentType": "application/json",
      "body": {
        "success": false,
        "error": {
          "code": "VALIDATION_ERROR",
          "message": "Invalid input data",
          "details": [
            {
              "field": "email",
              "message": "Email must be a valid email address"
            },
            {
              "field": "password",
              "message": "Password must be at least 8 characters"
            },
            {
              "field": "password",
              "message": "Password must contain at least one uppercase letter"
            },
            {
              "field": "password",
              "message": "Password must contain at least one number"
            },
            {
              "field": "password",
              "message": "Password must contain at least one special character"
            },
            {
              "field": "name",
              "message": "Name must be between 2 and 100 characters"
            }
          ]
        }
      }
    }
    "#);

    let signed_in = native.sign_in(&j!({"email": "ann@example.com", "password": STRONG_PASSWORD})).await;
    let refresh = cookie_value(&set_cookie(&signed_in, "doorway_refresh").expect("refresh cookie"));
    assert_json_snapshot!(r.response(signed_in).await, @r#"
    {
      "status": 200,
      "contentType": "application/json",
      "body": {
        "success": true,
        "data": {
          "user": {
            "id": "[id]",
            "email": "ann@example.com",
            "name": "Ann Native",
            "emailVerified": false,
            "createdAt": "[time]"
          },
          "session": {
            "token": "[token]",
            "expiresAt": "[time]"
          }
        },
        "message": "Signed in successfully"
      }
    }
    "#);
    let wrong = native.sign_in(&j!({"email": "ann@example.com", "password": "Wrong-password-1"})).await;
    assert_json_snapshot!(r.response(wrong).await, @r#"
    {
      "status": 401,
      "contentType": "application/json",
      "body": {
        "success": false,
        "error": {
          "code": "INVALID_CREDENTIALS",
          "message": "Invalid email or password"
        }
      }
    }
    "#);

    let (refreshed, raw) = r.response_and_body(native.refresh(&refresh).await).await;
    assert_json_snapshot!(refreshed, @r#"
    {
      "status": 200,
      "contentType": "application/json",
      "body": {
        "success": true,
        "data": {
          "session": {
            "token": "[token]",
            "expiresAt": "[time]"
          }
        },
        "message": "Session refreshed"
      }
    }
    "#);
    let access =
        raw["data"]["session"]["token"].as_str().unwrap_or_else(|| panic!("no access token in {raw}")).to_owned();
    assert_json_snapshot!(r.response(native.me(&access).await).await, @r#"
    {
      "status": 200,
      "contentType": "application/json",
      "body": {
        "success": true,
        "data": {
          "user": {
            "id": "[id]",
            "email": "ann@example.com",
            "name": "Ann Native",
            "emailVerified": false,
            "createdAt": "[time]"
          },
          "organizations": [
            {
              "id": "[id]",
              "name": "Ann Co",
              "slug": "ann-co",
              "role": "owner",
              "workspaces": []
            }
          ]
        }
      }
    }
    "#);
}

async fn replyke_bodies(backend: Backend) {
    let app = TestApp::builder(backend).with_project("acme", "Acme").spawn().await;
    let replyke = app.replyke("acme");
    let r = Redactor::new(&app);
    let body = j!({
        "email": "jane@example.com",
        "password": "securePassword123",
        "username": "JaneDoe",
        "name": "Jane Doe",
        "bio": "Tech enthusiast",
        "location": { "longitude": -73.935242, "latitude": 40.73061 },
        "birthdate": "1995-01-01",
        "metadata": { "office": "boston" },
        "secureMetadata": { "internalId": "abc123" }
    });
    assert_json_snapshot!(r.response(replyke.sign_up(&body).await).await, @r#"
    {
      "status": 201,
      "contentType": "application/json",
      "body": {
        "success": true,
        "accessToken": "[token]",
        "refreshToken": "[token]",
        "user": {
          "id": "[id]",
          "email": "jane@example.com",
          "username": "janedoe",
          "name": "Jane Doe",
          "avatar": null,
          "bio": "Tech enthusiast",
          "location": {
            "type": "Point",
            "coordinates": [
              -73.935242,
              40.73061
            ]
          },
          "birthdate": "1995-01-01T00:00:00.000Z",
          "metadata": {
            "office": "boston"
          },
          "suspensions": [],
          "reputation": 0,
          "createdAt": "[time]",
          "updatedAt": "[time]",
          "projectId": "[id]",
          "foreignId": null,
          "role": "visitor",
          "isVerified": false,
          "isActive": true,
          "lastActive": null
        }
      }
    }
    "#);
    assert_json_snapshot!(r.response(replyke.sign_up(&j!({"email": "a@example.com"})).await).await, @r#"
    {
      "status": 400,
      "contentType": "application/json",
      "body": {
        "error": "Missing required fields",
        "code": "auth/missing-fields"
      }
    }
    "#);
    // Taken email and taken username, one at a time (when both are taken, which one is named
    // depends on the engine).
    let mut same_email = body.clone();
    same_email["username"] = j!("someone-else");
    assert_json_snapshot!(r.response(replyke.sign_up(&same_email).await).await, @r#"
    {
      "status": 409,
      "contentType": "application/json",
      "body": {
        "error": "An account with this email already exists",
        "code": "auth/email-taken"
      }
    }
    "#);
    let mut same_username = body.clone();
    same_username["email"] = j!("other@example.com");
    assert_json_snapshot!(r.response(replyke.sign_up(&same_username).await).await, @r#"
    {
      "status": 409,
      "contentType": "application/json",
      "body": {
        "error": "This username is already taken",
        "code": "auth/username-taken"
      }
    }
    "#);
}

async fn storyden_bodies_and_mail(backend: Backend) {
    let app = TestApp::builder(backend).with_project("default", "Acme").with_smtp().spawn().await;
    let storyden = app.storyden();
    let email = unique_email("story");
    let r = Redactor::new(&app).literal(&email, "[email]");

    let created = storyden.sign_up(&j!({"email": email, "handle": "Storyteller"})).await;
    let session = cookie_value(&set_cookie(&created, "storyden-session").expect("session cookie"));
    assert_json_snapshot!(r.response(created).await, @r#"
    {
      "status": 200,
      "contentType": "application/json",
      "body": {
        "id": "[id]"
      }
    }
    "#);
    let mail = app.wait_for_mails_to(&email, 1).await.remove(0);
    assert_json_snapshot!(r.mail(&mail), @r#"
    {
      "subject": "[code] is your Acme verification code",
      "text": "Your code: [code]\n\nEnter it to confirm your email address, or open this link:\nhttp://[app]/api/auth/verify-email?token=[token]\n\nThe code expires in 15 minutes. If you did not create an account, you can ignore this mail.\n"
    }
    "#);

    assert_json_snapshot!(r.response(storyden.sign_up(&j!({"email": email})).await).await, @r#"
    {
      "status": 422,
      "contentType": "application/problem+json",
      "body": {
        "type": "about:blank",
        "title": "Unprocessable Entity",
        "status": 422,
        "detail": "The address is already registered; if it is not verified yet, the verification mail was sent again"
      }
    }
    "#);
    let wrong = storyden.verify(&j!({"email": email, "code": "000000"}), None).await;
    assert_json_snapshot!(r.response(wrong).await, @r#"
    {
      "status": 400,
      "contentType": "application/problem+json",
      "body": {
        "type": "about:blank",
        "title": "Bad Request",
        "status": 400,
        "detail": "The code is not valid"
      }
    }
    "#);
    let verified = storyden.verify(&j!({"email": email, "code": mail.code()}), Some(&session)).await;
    assert_json_snapshot!(r.response(verified).await, @r#"
    {
      "status": 200,
      "contentType": "application/json",
      "body": {
        "id": "[id]"
      }
    }
    "#);
}

fn issuer() -> String {
    std::env::var("TEST_OIDC_ISSUER").expect("TEST_OIDC_ISSUER is not set: run the suite with scripts/test.sh")
}

fn google(redirect_uri: Option<&str>) -> ProviderSettings {
    ProviderSettings {
        client_id: "doorway-test".into(),
        client_secret: Some("doorway-test-secret".into()),
        scopes: None,
        issuer: Some(issuer()),
        authorize_url: None,
        token_url: None,
        userinfo_url: None,
        emails_url: None,
        redirect_uri: redirect_uri.map(str::to_owned),
    }
}

const FRONT_END: &str = "http://localhost:9999/front-end/callback";

/// A code from the provider for this identity, as a front end would obtain it.
async fn provider_code(email: &str, name: &str) -> String {
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let response = client
        .get(format!("{}/authorize", issuer()))
        .query(&[
            ("client_id", "doorway-test"),
            ("redirect_uri", FRONT_END),
            ("response_type", "code"),
            ("scope", "openid email profile"),
            ("state", "front-end-state"),
            ("login_hint", &format!("sub-{email}|{email}|true|{name}")),
        ])
        .send()
        .await
        .unwrap();
    let location = url::Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    location.query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned()
}

async fn rivergen_bodies(backend: Backend) {
    let mut config = ProjectConfig { name: Some("Default".into()), ..Default::default() };
    config.settings.providers.insert("google".into(), google(Some(FRONT_END)));
    let app = TestApp::builder(backend).with_project_config("default", config).spawn().await;
    let rivergen = app.rivergen();
    let email = unique_email("river");
    let r = Redactor::new(&app).literal(&email, "[email]");
    let code = provider_code(&email, "Sam Social").await;
    let body = j!({"provider": "google", "code": code, "agree_to_terms": true, "terms_version": "2.1"});
    assert_json_snapshot!(r.response(rivergen.sign_up(&body).await).await, @r#"
    {
      "status": 201,
      "contentType": "application/json",
      "body": {
        "success": true,
        "data": {
          "access_token": "[token]",
          "refresh_token": "[token]",
          "token_type": "bearer",
          "expires_in": 3600,
          "user_id": "[id: number]",
          "email": "[email]",
          "display_name": "Sam Social",
          "is_new_user": true,
          "provider": "google",
          "message": "Google signup successful"
        },
        "message": "Google signup successful"
      }
    }
    "#);
    // The same code again: the provider refuses it.
    assert_json_snapshot!(r.response(rivergen.sign_up(&body).await).await, @r#"
    {
      "status": 400,
      "contentType": "application/json",
      "body": {
        "success": false,
        "error": {
          "code": "SOCIAL_SIGNUP_FAILED",
          "message": "Social sign-up failed: the provider refused the code"
        }
      }
    }
    "#);
    assert_json_snapshot!(r.response(rivergen.sign_up(&j!({"provider": "myspace", "code": "x"})).await).await, @r#"
    {
      "status": 422,
      "contentType": "application/json",
      "body": {
        "success": false,
        "error": {
          "code": "VALIDATION_ERROR",
          "message": "Invalid input data",
          "details": [
            {
              "field": "provider",
              "message": "Unknown or unconfigured provider 'myspace'"
            }
          ]
        }
      }
    }
    "#);
}

async fn aufy_problem_bodies(backend: Backend) {
    let mut config = ProjectConfig { name: Some("Acme".into()), ..Default::default() };
    config.settings.providers.insert("google".into(), google(None));
    config.settings.redirect_allowlist = vec!["https://app.example.com".into()];
    config.settings.external_signup.schema = Some(j!({
        "type": "object",
        "required": ["aboutMe", "mySiteUrl"],
        "properties": {
            "aboutMe": {"type": "string", "minLength": 3, "maxLength": 500},
            "mySiteUrl": {"type": "string", "format": "uri"}
        },
        "additionalProperties": false
    }));
    let app = TestApp::builder(backend).with_project_config("acme", config).spawn().await;
    let aufy = app.aufy("acme");
    let email = unique_email("aufy");
    let r = Redactor::new(&app).literal(&email, "[email]");
    let landed = aufy
        .round_trip("google", "https://app.example.com/welcome", &format!("sub-{email}|{email}|true|Ann Aufy"))
        .await;
    let pending = cookie_value(&set_cookie(&landed, "Aufy.ExternalSignUp").expect("external sign-up cookie"));

    let bad = aufy.sign_up_external(Some(&pending), &j!({"aboutMe": "x", "mySiteUrl": "not a uri", "extra": 1})).await;
    assert_json_snapshot!(r.response(bad).await, @r#"
    {
      "status": 400,
      "contentType": "application/problem+json",
      "body": {
        "type": "about:blank",
        "title": "Bad Request",
        "status": 400,
        "detail": "One or more validation errors occurred.",
        "errors": {
          "$": [
            "Additional properties are not allowed ('extra' was unexpected)"
          ],
          "aboutMe": [
            "\"x\" is shorter than 3 characters"
          ],
          "mySiteUrl": [
            "\"not a uri\" is not a \"uri\""
          ]
        }
      }
    }
    "#);
    let model = j!({"aboutMe": "I like auth servers", "mySiteUrl": "https://ann.example.com"});
    assert_json_snapshot!(r.response(aufy.sign_up_external(Some(&pending), &model).await).await, @r#"
    {
      "status": 200,
      "contentType": "application/json",
      "body": {
        "access_token": "[token]",
        "expires_in": 3600,
        "token_type": "Bearer"
      }
    }
    "#);
    assert_json_snapshot!(r.response(aufy.sign_up_external(Some(&pending), &model).await).await, @r#"
    {
      "status": 401,
      "contentType": "application/problem+json",
      "body": {
        "type": "about:blank",
        "title": "Unauthorized",
        "status": 401,
        "detail": "No valid external sign-in in progress; start again with the provider"
      }
    }
    "#);
    assert_json_snapshot!(r.response(aufy.sign_in_external(None).await).await, @r#"
    {
      "status": 401,
      "contentType": "application/problem+json",
      "body": {
        "type": "about:blank",
        "title": "Unauthorized",
        "status": 401,
        "detail": "No valid external sign-in in progress; start again with the provider"
      }
    }
    "#);
}

async fn native_mails(backend: Backend) {
    let mut config = ProjectConfig { name: Some("Acme".into()), ..Default::default() };
    config.settings.signup.verify_email = true;
    let app = TestApp::builder(backend).with_smtp().with_project_config("default", config).spawn().await;
    let email = unique_email("mails");
    let r = Redactor::new(&app).literal(&email, "[email]");
    let native = app.native();
    let body = j!({"email": email, "password": STRONG_PASSWORD, "name": "Mai Ling"});
    assert_eq!(native.sign_up(&body).await.status(), 201);
    let verification = app.wait_for_mails_to(&email, 1).await.remove(0);
    assert_json_snapshot!(r.mail(&verification), @r#"
    {
      "subject": "[code] is your Acme verification code",
      "text": "Your code: [code]\n\nEnter it to confirm your email address, or open this link:\nhttp://[app]/api/auth/verify-email?token=[token]\n\nThe code expires in 15 minutes. If you did not create an account, you can ignore this mail.\n"
    }
    "#);

    assert_eq!(native.request_sign_in_code(&j!({"email": email})).await.status(), 200);
    let sign_in = app.wait_for_mails_to(&email, 2).await.remove(1);
    assert_json_snapshot!(r.mail(&sign_in), @r#"
    {
      "subject": "[code] is your Acme sign-in code",
      "text": "Your code: [code]\n\nEnter it to sign in, or open this link:\nhttp://[app]/api/auth/sign-in/email-link?token=[token]\n\nThe code expires in 15 minutes. If you did not try to sign in, you can ignore this mail; nobody can sign in without this code.\n"
    }
    "#);
}

async fn webhook_payloads(backend: Backend) {
    let receiver = Receiver::start(Answer::Json(StatusCode::OK, j!({}))).await;
    let mut config = ProjectConfig { name: Some("Acme".into()), ..Default::default() };
    config.settings.signup.verify_email = true;
    config.settings.webhooks =
        vec![WebhookEndpoint { url: receiver.url.clone(), secret: SECRET.into(), events: vec![] }];
    let app = TestApp::builder(backend).with_smtp().with_project_config("default", config).spawn().await;
    let email = unique_email("hooks");
    let r = Redactor::new(&app).literal(&email, "[email]");
    let native = app.native();
    let body = j!({"email": email, "password": STRONG_PASSWORD, "name": "Web Hook", "organizationName": "Hook Org"});
    assert_eq!(native.sign_up(&body).await.status(), 201);
    receiver.wait_for_calls(3, 10).await;
    let code = app.wait_for_mails_to(&email, 1).await[0].code();
    assert_eq!(native.verify_email(&j!({"email": email, "code": code})).await.status(), 200);
    // Verifying by code from another browser also secures the account (user.secured): five events.
    let mut calls: Vec<Value> = receiver.wait_for_calls(5, 10).await.into_iter().map(|c| c.body).collect();
    assert_eq!(calls.len(), 5);
    calls.sort_by_key(|c| c["type"].as_str().unwrap_or_default().to_owned());
    assert_json_snapshot!(r.value(&Value::Array(calls)), @r#"
    [
      {
        "type": "organization.created",
        "timestamp": "[time]",
        "data": {
          "organization": {
            "id": "[id]",
            "name": "Hook Org",
            "slug": "hook-org",
            "createdAt": "[time]"
          },
          "ownerId": "[id]"
        }
      },
      {
        "type": "session.created",
        "timestamp": "[time]",
        "data": {
          "session": {
            "id": "[id]",
            "userId": "[id]",
            "amr": [
              "pwd"
            ],
            "createdAt": "[time]",
            "expiresAt": "[time]"
          }
        }
      },
      {
        "type": "user.created",
        "timestamp": "[time]",
        "data": {
          "user": {
            "id": "[id]",
            "email": "[email]",
            "name": "Web Hook",
            "emailVerified": false,
            "createdAt": "[time]"
          }
        }
      },
      {
        "type": "user.secured",
        "timestamp": "[time]",
        "data": {
          "user": {
            "id": "[id]",
            "email": "[email]",
            "name": "Web Hook",
            "emailVerified": true,
            "createdAt": "[time]"
          },
          "dropped": {
            "password": true,
            "unverifiedIdentities": 0,
            "passkeys": 0,
            "sessionsRevoked": 1
          }
        }
      },
      {
        "type": "user.verified",
        "timestamp": "[time]",
        "data": {
          "user": {
            "id": "[id]",
            "email": "[email]",
            "name": "Web Hook",
            "emailVerified": true,
            "createdAt": "[time]"
          }
        }
      }
    ]
    "#);
}
