//! The `doorway` binary as an operator uses it.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test's panic is its failure")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn doorway(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_doorway")).args(args).current_dir(dir).output().expect("run doorway")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn http_get(port: u16, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(response)
}

fn wait_until_serving(child: &mut Child, port: u16) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Some(r) = http_get(port, "/healthz") {
            return r;
        }
        assert!(child.try_wait().unwrap().is_none(), "doorway exited early");
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("doorway did not start listening on {port}");
}

#[test]
fn config_check_accepts_a_good_file_and_names_each_problem_of_a_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("doorway.toml"), "listen = \"127.0.0.1:9999\"\n[projects.acme]\nname = \"Acme\"\n")
        .unwrap();
    let ok = doorway(dir.path(), &["config", "check"]);
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    let summary = text(&ok.stdout);
    assert!(summary.contains("configuration OK; file: doorway.toml"), "{summary}");
    assert!(summary.contains("projects: 2 (1 declared here, `default` always exists"), "{summary}");
    assert!(summary.contains("mail: no SMTP configured"), "{summary}");

    std::fs::write(
        dir.path().join("bad.toml"),
        "database_url = \"mysql://x\"\nadmin_token = \"short\"\n[projects.admin]\n[projects.acme]\naccess_token_ttl_secs = 1\n",
    )
    .unwrap();
    let bad = doorway(dir.path(), &["--config", "bad.toml", "config", "check"]);
    assert_eq!(bad.status.code(), Some(2));
    let lines: Vec<String> = text(&bad.stderr).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 4, "{lines:?}");
    for key in ["database_url:", "admin_token:", "projects.admin:", "projects.acme.access_token_ttl_secs:"] {
        assert!(lines.iter().any(|l| l.contains(key)), "{key} not named in {lines:?}");
    }

    let missing = doorway(dir.path(), &["--config", "nope.toml", "config", "check"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing.stderr).contains("nope.toml"));
}

/// One mistake of each kind, one line each, naming the key and where it is written.
#[test]
fn config_check_names_every_mistake_with_its_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = [
        "lisen = \"127.0.0.1:8080\"",              // 1: misspelt top-level key
        "public_url = \"not a url\"",              // 2: bad URL
        "[smtp]",                                  // 3
        "url = \"smtp://127.0.0.1:2525\"",         // 4
        "form = \"Acme <no-reply@acme.example>\"", // 5: misspelt key in a table
        "[projects.default]",                      // 6
        "acess_token_ttl_secs = 60",               // 7: misspelt project key
        "nmae = \"Acme\"",                         // 8: misspelt project key
        "refresh_token_ttl_secs = \"a month\"",    // 9: wrong type
        "[projects.default.signup]",               // 10
        "verify_emial = true",                     // 11: misspelt key in a project's table
        "[projects.default.providers.nope]",       // 12: unknown provider
        "client_id = \"x\"",                       // 13
        "[projects.Bad_Slug]",                     // 14: bad slug
        "name = \"Bad\"",                          // 15
        "[projects.default.storyden]",             // 16
        "pasword = \"off\"",                       // 17: misspelt key in a contract's table
    ]
    .join("\n");
    std::fs::write(dir.path().join("all.toml"), file).unwrap();
    let out = doorway(dir.path(), &["--config", "all.toml", "config", "check"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    let expected = [
        ("lisen: unknown key; did you mean `listen`?", 1),
        ("public_url: 'not a url' is not an absolute http(s) URL", 2),
        ("smtp.form: unknown key; did you mean `from`?", 5),
        ("projects.default.acess_token_ttl_secs: unknown key", 7),
        ("projects.default.nmae: unknown key", 8),
        ("projects.default.refresh_token_ttl_secs: expected u32, found string \"a month\"", 9),
        ("projects.default.signup.verify_emial: unknown key; did you mean `verify_email`?", 11),
        ("projects.default.providers: nope.issuer is required", 12),
        ("projects.Bad_Slug: the project slug", 14),
        ("projects.default.storyden.pasword: unknown key; did you mean `password`?", 17),
    ];
    assert_eq!(lines.len(), expected.len(), "{stderr}");
    for (line, (key, number)) in lines.iter().zip(expected) {
        assert!(line.starts_with(&format!("config: {key}")), "{key} in {line}");
        assert!(line.ends_with(&format!("(all.toml:{number}:1)")), "line {number} in {line}");
    }
    assert!(lines[3].contains("did you mean `access_token_ttl_secs`?"), "{stderr}");
    assert!(!stderr.contains("config: config:"), "{stderr}");

    std::fs::write(dir.path().join("host.toml"), "listen = \"localhost:8080\"\n").unwrap();
    let host = doorway(dir.path(), &["--config", "host.toml", "config", "check"]);
    assert!(text(&host.stderr).contains("host names are not resolved"), "{}", text(&host.stderr));

    let env = Command::new(env!("CARGO_BIN_EXE_doorway"))
        .args(["config", "check"])
        .env("DOORWAY_PROJECTS__DEFAULT__ACCESS_TOKEN_TTL_SECS", "an hour")
        .current_dir(dir.path())
        .output()
        .unwrap();
    let env_err = text(&env.stderr);
    assert!(env_err.contains("projects.default.access_token_ttl_secs: expected u32"), "{env_err}");
    assert!(env_err.contains("environment variable DOORWAY_PROJECTS__DEFAULT__ACCESS_TOKEN_TTL_SECS"), "{env_err}");
}

#[test]
fn migrate_then_add_and_list_projects() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("d.db").display());
    let migrate = doorway(dir.path(), &["--database-url", &db, "migrate"]);
    assert!(migrate.status.success(), "{}", text(&migrate.stderr));

    let add = doorway(dir.path(), &["--database-url", &db, "project", "add", "acme", "--name", "Acme Inc"]);
    assert!(add.status.success(), "{}", text(&add.stderr));
    assert!(text(&add.stdout).contains("created project acme"));
    let again = doorway(dir.path(), &["--database-url", &db, "project", "add", "acme"]);
    assert_eq!(again.status.code(), Some(2));
    assert!(text(&again.stderr).contains("already exists"));
    let reserved = doorway(dir.path(), &["--database-url", &db, "project", "add", "admin"]);
    assert_eq!(reserved.status.code(), Some(2));
    assert!(text(&reserved.stderr).contains("reserved"));

    let list = doorway(dir.path(), &["--database-url", &db, "project", "list"]);
    let out = text(&list.stdout);
    assert!(out.lines().any(|l| l.starts_with("acme\tAcme Inc\tprj_")), "{out}");
}

#[test]
fn serve_starts_with_zero_config_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_doorway"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--log-format", "json"])
        .env("RUST_LOG", "info")
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let health = wait_until_serving(&mut child, port);
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(dir.path().join("doorway.db").exists(), "zero config stores in ./doorway.db");
    let jwks = http_get(port, "/.well-known/jwks.json").unwrap();
    assert!(jwks.contains("\"kty\":\"OKP\""), "default project and key created: {jwks}");

    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "graceful shutdown exits 0, got {exit:?}");

    let mut logs = String::new();
    child.stdout.take().unwrap().read_to_string(&mut logs).unwrap();
    let lines: Vec<serde_json::Value> = BufReader::new(logs.as_bytes())
        .lines()
        .map(|l| serde_json::from_str(&l.unwrap()).expect("every log line is JSON"))
        .collect();
    let started =
        lines.iter().find(|l| l["message"].as_str().is_some_and(|m| m.contains("listening on"))).expect("start line");
    let message = started["message"].as_str().unwrap();
    assert!(message.contains(&format!("127.0.0.1:{port}")) && message.contains("mail"), "{message}");
    assert!(lines.iter().any(|l| { l["message"].as_str().is_some_and(|m| m.contains("admin API disabled")) }));
    assert!(lines.iter().any(|l| { l["message"].as_str().is_some_and(|m| m.contains("shutting down")) }));
}

/// A bare HTTP receiver on loopback: records each request's `webhook-id` and body; while
/// `hang` is set it reads the request and never answers.
struct Receiver {
    port: u16,
    hang: std::sync::Arc<std::sync::atomic::AtomicBool>,
    seen: std::sync::mpsc::Receiver<(String, String)>,
}

impl Receiver {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let hang = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let (tx, seen) = std::sync::mpsc::channel();
        let hanging = hang.clone();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let (mut id, mut length) = (String::new(), 0usize);
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    let lower = line.to_ascii_lowercase();
                    if let Some(v) = lower.strip_prefix("webhook-id:") {
                        id = v.trim().to_owned();
                    }
                    if let Some(v) = lower.strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                let _ = tx.send((id, String::from_utf8_lossy(&body).into_owned()));
                if hanging.load(std::sync::atomic::Ordering::SeqCst) {
                    held.push(stream);
                } else {
                    let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                }
            }
        });
        Self { port, hang, seen }
    }

    fn next(&self, secs: u64) -> (String, String) {
        self.seen.recv_timeout(Duration::from_secs(secs)).expect("no webhook arrived in time")
    }
}

#[test]
fn a_delivery_in_flight_at_kill_9_is_delivered_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start();
    std::fs::write(
        dir.path().join("doorway.toml"),
        format!(
            r#"
[webhook_delivery]
poll_interval_ms = 50
lease_secs = 2
timeout_ms = 1500
retry_base_ms = 600000

[projects.default.rate_limits]
enabled = false

[[projects.default.webhooks]]
url = "http://127.0.0.1:{}/hook"
secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
events = ["user.created"]
"#,
            receiver.port
        ),
    )
    .unwrap();
    let start = |port: u16| {
        Command::new(env!("CARGO_BIN_EXE_doorway"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let port = free_port();
    let mut first = start(port);
    wait_until_serving(&mut first, port);
    let body = r#"{"email":"durable@example.com","password":"Durable#Pass1","name":"Dura Ble"}"#;
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "POST /api/auth/sign-up HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");

    // The worker has sent the event and is waiting for an answer: kill it now.
    let (id, payload) = receiver.next(10);
    assert!(payload.contains("durable@example.com"));
    first.kill().unwrap(); // SIGKILL
    first.wait().unwrap();
    receiver.hang.store(false, std::sync::atomic::Ordering::SeqCst);

    let port = free_port();
    let mut second = start(port);
    wait_until_serving(&mut second, port);
    let (again, _) = receiver.next(15);
    assert_eq!(again, id, "the same delivery (same webhook-id) is sent after restart");
    // And it is recorded as delivered once the receiver answered.
    let db = format!("sqlite://{}", dir.path().join("doorway.db").display());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let list = doorway(dir.path(), &["--database-url", &db, "webhooks", "list", "--status", "delivered"]);
        if text(&list.stdout).contains(&id) {
            break;
        }
        assert!(Instant::now() < deadline, "never marked delivered: {}", text(&list.stdout));
        std::thread::sleep(Duration::from_millis(100));
    }
    second.kill().unwrap();
    second.wait().unwrap();

    let tail = doorway(dir.path(), &["--database-url", &db, "audit", "tail", "--limit", "5"]);
    assert!(tail.status.success(), "{}", text(&tail.stderr));
    assert!(
        text(&tail.stdout).contains("signup") && text(&tail.stdout).contains("method=password"),
        "{}",
        text(&tail.stdout)
    );
    let replay = doorway(dir.path(), &["--database-url", &db, "webhooks", "replay", &id]);
    assert!(replay.status.success(), "{}", text(&replay.stderr));
    let unknown = doorway(dir.path(), &["--database-url", &db, "webhooks", "replay", "msg_nope"]);
    assert_eq!(unknown.status.code(), Some(2));
}

/// Each malformed CORS origin is one line saying what is wrong with it.
#[test]
fn config_check_refuses_malformed_cors_origins() {
    let dir = tempfile::tempdir().unwrap();
    let file = "[projects.default.cors]\nallowed_origins = [\"https://app.example.com\", \"https://app.example.com/\", \
                \"https://app.example.com/app\", \"*\", \"app.example.com\"]\n";
    std::fs::write(dir.path().join("cors.toml"), file).unwrap();
    let out = doorway(dir.path(), &["--config", "cors.toml", "config", "check"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    let expected = [
        "'https://app.example.com/' ends with '/'; an origin has no path, drop the trailing slash",
        "'https://app.example.com/app' has a path",
        "'*' is a wildcard; list each origin",
        "'app.example.com' is not an origin; write scheme://host[:port]",
    ];
    assert_eq!(lines.len(), expected.len(), "{stderr}");
    for (line, message) in lines.iter().zip(expected) {
        assert!(line.starts_with(&format!("config: projects.default.cors.allowed_origins: {message}")), "{line}");
    }
}

#[test]
fn config_check_names_bad_bot_protection_settings() {
    let dir = tempfile::tempdir().unwrap();
    let file = "[projects.default.bot_protection]\nenabled = true\nmax_number = 0\nchallenge_ttl_secs = 7200\n\
                [projects.acme.bot_protection]\nenabeld = true\n";
    std::fs::write(dir.path().join("bots.toml"), file).unwrap();
    let out = doorway(dir.path(), &["--config", "bots.toml", "config", "check"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    for expected in [
        "projects.default.bot_protection.max_number: must be between 1 and 10000000",
        "projects.default.bot_protection.challenge_ttl_secs: must be between 30 and 3600 seconds",
        "enabeld",
    ] {
        assert!(stderr.contains(expected), "{expected} not in {stderr}");
    }
}

#[test]
fn the_shipped_example_config_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../doorway.example.toml");
    std::fs::copy(example, dir.path().join("doorway.toml")).unwrap();
    let check = doorway(dir.path(), &["config", "check"]);
    assert!(check.status.success(), "doorway.example.toml: {}", text(&check.stderr));
}

/// `doorway` with extra environment variables.
fn doorway_with(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_doorway"));
    command.args(args).current_dir(dir).env_remove("DOORWAY_MASTER_KEY").env_remove("DOORWAY_MASTER_KEY_FILE");
    command.envs(env.iter().copied()).output().expect("run doorway")
}

#[test]
fn keys_rotate_and_list() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("d.db").display());
    let add = doorway(dir.path(), &["--database-url", &db, "project", "add", "acme"]);
    assert!(add.status.success(), "{}", text(&add.stderr));

    let list = |dir: &Path| {
        let out = doorway(dir, &["--database-url", &db, "keys", "list", "--project", "acme"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout).lines().map(|l| l.split('\t').map(str::to_owned).collect::<Vec<_>>()).collect::<Vec<_>>()
    };
    let before = list(dir.path());
    assert_eq!(before.len(), 1, "{before:?}");
    assert_eq!((before[0][2].as_str(), before[0][3].as_str()), ("-", "active"));

    let rotate = doorway(dir.path(), &["--database-url", &db, "keys", "rotate", "--project", "acme"]);
    assert!(rotate.status.success(), "{}", text(&rotate.stderr));
    let after = list(dir.path());
    assert_eq!(after.len(), 2, "{after:?}");
    assert!(text(&rotate.stdout).contains(&format!("now signs with key {}", after[0][0])), "{}", text(&rotate.stdout));
    assert_eq!(after[0][3], "active");
    assert_eq!((after[1][0].as_str(), after[1][3].as_str()), (before[0][0].as_str(), "retiring"));
    assert!(after[1][2].ends_with('Z'), "a retirement time: {:?}", after[1]);

    let unknown = doorway(dir.path(), &["--database-url", &db, "keys", "rotate", "--project", "nope"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(text(&unknown.stderr).contains("no project named 'nope'"));
}

#[test]
fn a_missing_or_wrong_master_key_fails_in_one_line_without_key_material() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("d.db").display());
    let made = doorway(dir.path(), &["keys", "generate-master-key"]);
    let master_key = text(&made.stdout).trim().to_owned();
    assert_eq!(master_key.len(), 44, "{master_key}");
    std::fs::write(dir.path().join("master.key"), format!("{master_key}\n")).unwrap();
    let with_key = [("DOORWAY_MASTER_KEY_FILE", "master.key")];

    let check = doorway_with(dir.path(), &[("DOORWAY_MASTER_KEY", &master_key)], &["config", "check"]);
    assert!(check.status.success(), "{}", text(&check.stderr));
    assert!(text(&check.stdout).contains("encrypted at rest"), "{}", text(&check.stdout));
    assert!(!text(&check.stdout).contains(&master_key));
    let bad = doorway_with(dir.path(), &[("DOORWAY_MASTER_KEY", "not-a-master-key")], &["config", "check"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad.stderr).contains("master_key: must be 32 random bytes"), "{}", text(&bad.stderr));
    assert!(!text(&bad.stderr).contains("not-a-master-key"));

    let add = doorway_with(dir.path(), &with_key, &["--database-url", &db, "project", "add", "acme"]);
    assert!(add.status.success(), "{}", text(&add.stderr));
    let listed = doorway_with(dir.path(), &with_key, &["--database-url", &db, "keys", "list", "--project", "acme"]);
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    let kid = text(&listed.stdout).split('\t').next().unwrap().to_owned();

    let without = doorway_with(dir.path(), &[], &["--database-url", &db, "keys", "rotate", "--project", "acme"]);
    assert_eq!(without.status.code(), Some(1));
    let message = text(&without.stderr);
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(message.contains(&kid) && message.contains("master_key_file"), "{message}");

    let other = doorway(dir.path(), &["keys", "generate-master-key"]);
    let other = text(&other.stdout).trim().to_owned();
    let wrong = doorway_with(
        dir.path(),
        &[("DOORWAY_MASTER_KEY", &other)],
        &["--database-url", &db, "keys", "list", "--project", "acme"],
    );
    assert_eq!(wrong.status.code(), Some(1));
    let message = text(&wrong.stderr);
    assert!(message.contains(&format!("does not decrypt signing key {kid}")), "{message}");
    assert!(!message.contains(&other) && !message.contains(&master_key), "{message}");

    // The server refuses to start the same way, and says why.
    let port = free_port().to_string();
    let listen = format!("127.0.0.1:{port}");
    let serve = doorway_with(dir.path(), &[], &["--database-url", &db, "serve", "--listen", &listen]);
    assert!(!serve.status.success());
    let output = format!("{}{}", text(&serve.stdout), text(&serve.stderr));
    assert!(output.contains("master_key_file") && output.contains("encrypted at rest"), "{output}");
}

#[test]
fn every_argument_of_every_command_has_a_description() {
    let dir = tempfile::tempdir().unwrap();
    let commands: [&[&str]; 14] = [
        &[],
        &["serve"],
        &["migrate"],
        &["project", "add"],
        &["project", "list"],
        &["config", "check"],
        &["audit", "tail"],
        &["webhooks", "list"],
        &["webhooks", "replay"],
        &["mail", "list"],
        &["keys", "rotate"],
        &["keys", "list"],
        &["keys", "generate-master-key"],
        &["mail"],
    ];
    for command in commands {
        let mut args = command.to_vec();
        args.push("--help");
        let help = text(&doorway(dir.path(), &args).stdout);
        let mut section = false;
        for line in help.lines() {
            if line.ends_with(':') && !line.starts_with(' ') {
                section = line == "Arguments:" || line == "Options:";
                continue;
            }
            if section && line.trim_start().starts_with(['-', '<']) {
                let described = line.split(" [default: ").next().unwrap_or_default();
                let words = described.split_whitespace().filter(|w| !w.starts_with(['-', '<'])).count();
                assert!(words > 0, "`doorway {}` has an argument without a description: {line}", command.join(" "));
            }
        }
    }
}

#[test]
fn mail_list_says_when_there_is_no_mail() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("d.db").display());
    assert!(doorway(dir.path(), &["--database-url", &db, "project", "add", "acme"]).status.success());
    let list = doorway(dir.path(), &["--database-url", &db, "mail", "list", "--project", "acme"]);
    assert!(list.status.success(), "{}", text(&list.stderr));
    assert_eq!(text(&list.stdout).trim(), "no mail in project acme");
}

#[test]
fn text_logs_to_a_pipe_have_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_doorway"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("RUST_LOG", "info")
        .env_remove("NO_COLOR")
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until_serving(&mut child, port);
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    child.wait().unwrap();
    let mut logs = String::new();
    child.stdout.take().unwrap().read_to_string(&mut logs).unwrap();
    assert!(logs.contains("listening on"), "{logs}");
    assert!(!logs.contains('\u{1b}'), "colour codes in piped logs: {logs:?}");
}

/// The README's route table names every operation of `/openapi.json`, and nothing else.
#[test]
fn the_readme_route_table_matches_the_openapi_document() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let table = readme
        .split("<!-- routes:begin -->")
        .nth(1)
        .and_then(|rest| rest.split("<!-- routes:end -->").next())
        .expect("README.md has a route table between <!-- routes:begin --> and <!-- routes:end -->");
    let methods = ["GET", "POST", "PUT", "PATCH", "DELETE"];
    let mut in_readme = std::collections::BTreeSet::new();
    for row in table.lines().filter(|l| l.starts_with('|')) {
        let first_cell = row.split('|').nth(1).unwrap_or_default();
        for code in first_cell.split('`').skip(1).step_by(2) {
            if let Some((method, path)) = code.split_once(' ')
                && methods.contains(&method)
            {
                assert!(in_readme.insert(format!("{method} {path}")), "{method} {path} twice in README.md");
            }
        }
    }

    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_doorway"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until_serving(&mut child, port);
    let response = http_get(port, "/openapi.json").unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let body = response.split_once("\r\n\r\n").unwrap().1;
    let doc: serde_json::Value = serde_json::from_str(body).unwrap();
    let mut in_openapi = std::collections::BTreeSet::new();
    for (path, operations) in doc["paths"].as_object().unwrap() {
        for method in operations.as_object().unwrap().keys() {
            in_openapi.insert(format!("{} {path}", method.to_uppercase()));
        }
    }
    let missing: Vec<_> = in_openapi.difference(&in_readme).collect();
    let extra: Vec<_> = in_readme.difference(&in_openapi).collect();
    assert!(missing.is_empty(), "in /openapi.json but not in the README route table: {missing:?}");
    assert!(extra.is_empty(), "in the README route table but not in /openapi.json: {extra:?}");
}
