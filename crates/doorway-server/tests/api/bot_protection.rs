//! Proof-of-work bot protection: the challenge route, and on every sign-up route of every
//! contract a missing, malformed, wrongly signed, expired or replayed `X-Altcha` solution is
//! refused with 403 in the contract's own format, while a fresh one lets the sign-up run.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use doorway_core::bot_check::BotProtectionSettings;
use doorway_core::passkey::PasskeySettings;
use doorway_server::settings::ProjectConfig;
use serde_json::{Value, json as j};
use sha2::{Digest, Sha256};

use crate::harness::{Backend, STRONG_PASSWORD, TestApp, json, manual_clock, unique_email};
use crate::on_both_backends;

on_both_backends!(
    the_challenge_route_serves_altcha_challenges_only_when_on,
    native_sign_up_needs_a_fresh_solution,
    replyke_sign_up_needs_a_fresh_solution,
    aufy_sign_ups_need_a_fresh_solution,
    storyden_sign_ups_need_a_fresh_solution,
    rivergen_sign_up_needs_a_fresh_solution,
    passkey_sign_up_needs_a_fresh_solution,
    a_solution_counts_once_across_instances,
);

const TTL: i64 = 60;

fn protected() -> ProjectConfig {
    let mut config = ProjectConfig { name: Some("Default".into()), ..Default::default() };
    config.settings.bot_protection = BotProtectionSettings { enabled: true, max_number: 300, challenge_ttl_secs: 60 };
    config.settings.passkeys = PasskeySettings {
        enabled: true,
        rp_id: Some("app.example".into()),
        origins: vec!["https://app.example".into()],
    };
    config
}

struct Bots {
    app: TestApp,
    clock: doorway_core::ManualClock,
}

async fn protected_app(backend: Backend) -> Bots {
    let clock = manual_clock();
    let app = TestApp::builder(backend)
        .with_manual_clock(clock.clone())
        .with_project_config("default", protected())
        .with_project("open", "Open")
        .spawn()
        .await;
    Bots { app, clock }
}

/// The payload for a challenge: brute force, as the widget does.
fn solve(challenge: &Value) -> String {
    let salt = challenge["salt"].as_str().unwrap();
    let target = challenge["challenge"].as_str().unwrap();
    let max = challenge["maxnumber"].as_u64().unwrap();
    let number = (0..=max)
        .find(|n| {
            let digest = Sha256::digest(format!("{salt}{n}").as_bytes());
            digest.iter().map(|b| format!("{b:02x}")).collect::<String>() == target
        })
        .expect("the number is within maxnumber");
    let solution = j!({
        "algorithm": challenge["algorithm"], "challenge": target, "number": number,
        "salt": salt, "signature": challenge["signature"], "took": 12,
    });
    STANDARD.encode(solution.to_string())
}

impl Bots {
    async fn challenge(&self, prefix: &str) -> Value {
        let response = self.app.get(&format!("{prefix}/api/auth/challenge")).await;
        assert_eq!(response.status(), 200);
        json(response).await
    }

    async fn solved(&self) -> String {
        solve(&self.challenge("").await)
    }

    /// Every refusal, then a pass: `send` posts the route's body with the given `X-Altcha`,
    /// `refused` checks a 403 body, and the pass must answer `passed` (the status of a
    /// sign-up, or of the refusal that comes after the bot check on routes that need a
    /// provider round trip first).
    async fn check_route<F, Fut>(&self, send: F, refused: fn(&Value), passed: u16)
    where
        F: Fn(Option<String>) -> Fut,
        Fut: std::future::Future<Output = reqwest::Response>,
    {
        let mut answers = Vec::new();
        answers.push(("missing", send(None).await));
        answers.push(("garbage", send(Some("not-a-payload!".into())).await));

        let challenge = self.challenge("").await;
        let mut forged = challenge.clone();
        forged["signature"] = j!("0".repeat(64));
        answers.push(("wrong signature", send(Some(solve(&forged))).await));
        let mut wrong: Value = serde_json::from_slice(&STANDARD.decode(solve(&challenge)).unwrap()).unwrap();
        wrong["number"] = j!(wrong["number"].as_u64().unwrap() + 1);
        answers.push(("wrong number", send(Some(STANDARD.encode(wrong.to_string()))).await));

        let stale = self.challenge("").await;
        self.clock.advance_seconds(TTL);
        answers.push(("expired", send(Some(solve(&stale))).await));

        for (case, response) in answers {
            assert_eq!(response.status(), 403, "{case}");
            let body = json(response).await;
            refused(&body);
            let text = body.to_string();
            assert!(!text.contains(challenge["signature"].as_str().unwrap()), "{case}: {text}");
        }

        let payload = self.solved().await;
        let first = send(Some(payload.clone())).await;
        assert_eq!(first.status(), passed, "a fresh solution passes: {}", first.text().await.unwrap());
        let replay = send(Some(payload)).await;
        assert_eq!(replay.status(), 403, "a replayed solution");
        let body = json(replay).await;
        refused(&body);
        assert!(body.to_string().contains("already used"), "{body}");
    }

    async fn post(&self, path: &str, body: Value, payload: Option<String>) -> reqwest::Response {
        let mut request = self.app.bare_client().post(self.app.url(path)).json(&body);
        if let Some(payload) = payload {
            request = request.header("X-Altcha", payload);
        }
        request.send().await.unwrap()
    }
}

fn native_refusal(body: &Value) {
    assert_eq!(body["success"], false, "{body}");
    assert_eq!(body["error"]["code"], "BOT_CHECK_FAILED", "{body}");
}

fn problem_refusal(body: &Value) {
    assert_eq!(body["status"], 403, "{body}");
    assert!(body["detail"].as_str().is_some_and(|d| d.contains("bot check")), "{body}");
}

async fn the_challenge_route_serves_altcha_challenges_only_when_on(backend: Backend) {
    let bots = protected_app(backend).await;
    for prefix in ["", "/default"] {
        let response = bots.app.get(&format!("{prefix}/api/auth/challenge")).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["cache-control"], "no-store");
        let body = json(response).await;
        assert_eq!(body["algorithm"], "SHA-256");
        assert_eq!(body["maxnumber"], 300);
        assert_eq!(body["challenge"].as_str().unwrap().len(), 64);
        assert_eq!(body["signature"].as_str().unwrap().len(), 64);
        let salt = body["salt"].as_str().unwrap();
        let expires = (1_767_225_600 + TTL).to_string();
        assert!(salt.ends_with(&format!("?expires={expires}&")), "{salt}");
        assert_eq!(body.as_object().unwrap().len(), 5, "nothing else, no number: {body}");
    }
    let two = (bots.challenge("").await, bots.challenge("").await);
    assert_ne!(two.0["challenge"], two.1["challenge"]);

    let off = bots.app.get("/open/api/auth/challenge").await;
    assert_eq!(off.status(), 404);
    let body = json(off).await;
    assert_eq!(body["success"], false);
    assert_eq!(body["error"]["code"], "NOT_FOUND");
    // Without bot protection a sign-up needs no header.
    let open = bots.post("/open/api/auth/sign-up", sign_up_body("open"), None).await;
    assert_eq!(open.status(), 201);
}

fn sign_up_body(name: &str) -> Value {
    j!({"email": unique_email(name), "password": STRONG_PASSWORD, "name": "Bot Checked"})
}

async fn native_sign_up_needs_a_fresh_solution(backend: Backend) {
    let bots = protected_app(backend).await;
    let send = |payload| bots.post("/api/auth/sign-up", sign_up_body("native"), payload);
    bots.check_route(send, native_refusal, 201).await;
    // The OAuth form of the same route is checked too (before its provider is looked at).
    let oauth = bots.post("/api/auth/sign-up", j!({"provider": "nope", "callbackUrl": "/"}), None).await;
    assert_eq!(oauth.status(), 403);
    native_refusal(&json(oauth).await);
}

async fn replyke_sign_up_needs_a_fresh_solution(backend: Backend) {
    let bots = protected_app(backend).await;
    let send = |payload| {
        bots.post("/auth/sign-up", j!({"email": unique_email("replyke"), "password": STRONG_PASSWORD}), payload)
    };
    bots.check_route(
        send,
        |body| {
            assert_eq!(body["code"], "auth/bot-check-failed", "{body}");
            assert!(body["error"].as_str().is_some(), "{body}");
        },
        201,
    )
    .await;
}

async fn aufy_sign_ups_need_a_fresh_solution(backend: Backend) {
    let bots = protected_app(backend).await;
    let send = |payload| {
        bots.post("/api/auth/signup", j!({"email": unique_email("aufy"), "password": STRONG_PASSWORD}), payload)
    };
    bots.check_route(send, problem_refusal, 200).await;
    // External sign-up: the check comes first; past it, the project has no sign-up model (404).
    let send = |payload| bots.post("/auth/signup/external", j!({}), payload);
    bots.check_route(send, problem_refusal, 404).await;
}

async fn storyden_sign_ups_need_a_fresh_solution(backend: Backend) {
    let bots = protected_app(backend).await;
    let send = |payload| bots.post("/auth/email/signup", j!({"email": unique_email("storyden")}), payload);
    bots.check_route(send, problem_refusal, 200).await;
    let send = |payload| {
        let handle = format!("bot{}", &uuid::Uuid::now_v7().simple().to_string()[20..]);
        bots.post("/auth/password/signup", j!({"identifier": handle, "token": STRONG_PASSWORD}), payload)
    };
    bots.check_route(send, problem_refusal, 200).await;
    let send = |payload| {
        bots.post(
            "/auth/email-password/signup",
            j!({"email": unique_email("sd"), "password": STRONG_PASSWORD}),
            payload,
        )
    };
    bots.check_route(send, problem_refusal, 200).await;
}

async fn rivergen_sign_up_needs_a_fresh_solution(backend: Backend) {
    let bots = protected_app(backend).await;
    // No provider is configured: past the bot check the unknown provider is a 422.
    let send = |payload| bots.post("/api/v1/auth/oauth/signup", j!({"provider": "nope", "code": "abc"}), payload);
    bots.check_route(send, native_refusal, 422).await;
}

/// A passkey-only sign-up is checked at its first step (the options), which the finish needs.
async fn passkey_sign_up_needs_a_fresh_solution(backend: Backend) {
    let bots = protected_app(backend).await;
    let send = |payload| bots.post("/api/auth/passkey/sign-up/options", j!({"email": unique_email("pk")}), payload);
    bots.check_route(send, native_refusal, 200).await;
}

/// Two instances on one database: a solution spent on one is refused by the other.
async fn a_solution_counts_once_across_instances(backend: Backend) {
    let bots = protected_app(backend).await;
    let second = TestApp::builder(backend)
        .with_manual_clock(bots.clock.clone())
        .with_project_config("default", protected())
        .on_database_of(&bots.app)
        .spawn()
        .await;
    let payload = bots.solved().await;
    let first = bots.post("/api/auth/sign-up", sign_up_body("one"), Some(payload.clone())).await;
    assert_eq!(first.status(), 201);
    let again = second
        .bare_client()
        .post(second.url("/api/auth/sign-up"))
        .header("X-Altcha", payload)
        .json(&sign_up_body("two"))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 403);
    native_refusal(&json(again).await);
}
