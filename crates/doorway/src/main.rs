//! The `doorway` command: serve, migrate, manage projects, check configuration.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use doorway_core::flows::record_admin_action;
use doorway_core::projects::{NewProject, ProjectError, create_project, rotate_keys};
use doorway_core::store::AuditFilter;
use doorway_core::webhooks::{DeliveryKind, DeliveryStatus};
use doorway_core::{Clock, ProjectSettings, ProjectSlug, SystemClock};
use doorway_server::{Application, LogFormat, Overrides, Settings, shutdown_signal, telemetry};

#[derive(Parser)]
#[command(name = "doorway", version, about = "Self-hosted sign-up and session server")]
struct Cli {
    /// Configuration file (default: ./doorway.toml when it exists).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Database URL: sqlite://PATH or postgres://USER@HOST/DB (DOORWAY_DATABASE_URL).
    #[arg(long, global = true, value_name = "URL")]
    database_url: Option<String>,
    /// Log format: text or json.
    #[arg(long, global = true, value_name = "FORMAT")]
    log_format: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (migrates and provisions projects first).
    Serve {
        /// Address to listen on, e.g. 127.0.0.1:8080 (DOORWAY_LISTEN).
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage projects.
    #[command(subcommand)]
    Project(ProjectCommand),
    /// Inspect configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Read a project's audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Inspect and replay webhook deliveries.
    #[command(subcommand)]
    Webhooks(WebhooksCommand),
    /// Read outgoing mail (with no SMTP configured, mail waits here).
    #[command(subcommand)]
    Mail(MailCommand),
    /// Rotate and list signing keys; make a master key.
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Make a new signing key; the replaced one verifies until what it signed has expired.
    Rotate {
        /// Project slug.
        #[arg(long, default_value = "default", value_name = "SLUG")]
        project: String,
    },
    /// Print the project's keys: kid, created, retires, state (active, retiring, retired).
    List {
        /// Project slug.
        #[arg(long, default_value = "default", value_name = "SLUG")]
        project: String,
    },
    /// Print a new random master key (32 bytes, base64) for master_key_file / DOORWAY_MASTER_KEY.
    GenerateMasterKey,
}

#[derive(Subcommand)]
enum MailCommand {
    /// Print mail, newest first: recipient, status, subject and text.
    List {
        /// Project slug.
        #[arg(long, default_value = "default", value_name = "SLUG")]
        project: String,
        /// Only mail to this address.
        #[arg(long, value_name = "EMAIL")]
        to: Option<String>,
        /// Most mails to print.
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Print the newest entries, oldest first; with --follow keep printing new ones.
    Tail {
        /// Project slug.
        #[arg(long, default_value = "default", value_name = "SLUG")]
        project: String,
        /// Most entries to print first.
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// Keep running and print new entries as they are written (Ctrl-C stops).
        #[arg(long)]
        follow: bool,
    },
}

#[derive(Subcommand)]
enum WebhooksCommand {
    /// List deliveries, newest first.
    List {
        /// Project slug.
        #[arg(long, default_value = "default", value_name = "SLUG")]
        project: String,
        /// pending, delivered, dead or suppressed (code mails for addresses without an account).
        #[arg(long)]
        status: Option<String>,
        /// Most deliveries to print (at most 500).
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Send a delivery again (same webhook-id); a running server picks it up.
    Replay {
        /// Delivery id, as printed by `doorway webhooks list`.
        id: String,
        /// Project slug.
        #[arg(long, default_value = "default", value_name = "SLUG")]
        project: String,
    },
}

#[derive(Subcommand)]
enum ProjectCommand {
    /// Create a project and its signing key.
    Add {
        /// Slug: lowercase letters, digits and '-', starting with a letter; used in URLs (/SLUG/...).
        slug: String,
        /// Display name (defaults to the slug).
        #[arg(long)]
        name: Option<String>,
    },
    /// List projects.
    List,
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate the configuration; prints one line per problem.
    Check,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // Needs no configuration, so a broken one does not stand in the way of making a key.
    if let Command::Keys(KeysCommand::GenerateMasterKey) = cli.command {
        return print_new_master_key();
    }
    let listen = match &cli.command {
        Command::Serve { listen } => listen.clone(),
        _ => None,
    };
    let overrides = Overrides { listen, database_url: cli.database_url.clone(), log_format: cli.log_format.clone() };
    let settings = match Settings::load(cli.config.as_deref(), &overrides) {
        Ok(s) => s,
        Err(e) => {
            for line in e.problems() {
                eprintln!("config: {line}");
            }
            return ExitCode::from(2);
        }
    };
    match cli.command {
        Command::Config(ConfigCommand::Check) => {
            for line in settings.summary(cli.config.as_deref()) {
                println!("{line}");
            }
            ExitCode::SUCCESS
        }
        Command::Serve { .. } => serve(settings).await,
        Command::Migrate => {
            telemetry::init_logging(settings.log_format);
            match doorway_store::connect_and_migrate(&settings.database_url).await {
                Ok(store) => {
                    println!("database ({}) is up to date", store.backend());
                    ExitCode::SUCCESS
                }
                Err(e) => fail(&e),
            }
        }
        Command::Project(cmd) => project(settings, cmd).await,
        Command::Audit(cmd) => operate(settings, |store| Box::pin(audit(store, cmd))).await,
        Command::Webhooks(cmd) => operate(settings, |store| Box::pin(webhooks(store, cmd))).await,
        Command::Mail(cmd) => {
            let smtp = settings.smtp.is_some();
            operate(settings, move |store| Box::pin(mail(store, cmd, smtp))).await
        }
        Command::Keys(cmd) => match open_with_keys(settings).await {
            Ok(store) => match keys(store, cmd).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(message) => {
                    eprintln!("error: {message}");
                    ExitCode::from(2)
                }
            },
            Err(code) => code,
        },
    }
}

fn print_new_master_key() -> ExitCode {
    println!("{}", doorway_store::MasterKey::generate());
    ExitCode::SUCCESS
}

/// Opens the database for work that reads or writes private signing keys: with the master
/// key, plain keys are encrypted first; a missing or wrong master key fails here.
async fn open_with_keys(mut settings: Settings) -> Result<Store, ExitCode> {
    let master_key = match settings.master_key.take().map(|k| doorway_store::MasterKey::parse(&k)).transpose() {
        Ok(key) => key,
        Err(e) => return Err(fail(&format!("master_key: {e}"))),
    };
    match doorway_store::connect_with_master_key(&settings.database_url, master_key, settings.pool_tuning()).await {
        Ok(opened) => {
            if opened.keys_sealed > 0 {
                eprintln!("encrypted {} plaintext signing key(s) at rest with the master key", opened.keys_sealed);
            }
            Ok(opened.store)
        }
        Err(e) => Err(fail(&e)),
    }
}

async fn keys(store: Store, cmd: KeysCommand) -> Result<(), String> {
    match cmd {
        KeysCommand::Rotate { project } => rotate(store, &project).await,
        KeysCommand::List { project } => list_keys(store, &project).await,
        KeysCommand::GenerateMasterKey => {
            print_new_master_key();
            Ok(())
        }
    }
}

async fn find_project(store: &Store, slug: &str) -> Result<doorway_core::Project, String> {
    let parsed = ProjectSlug::parse(slug).map_err(|e| format!("project slug {e}"))?;
    store
        .project_by_slug(&parsed)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no project named '{slug}' (see `doorway project list`)"))
}

async fn rotate(store: Store, slug: &str) -> Result<(), String> {
    let project = find_project(&store, slug).await?;
    let rotation = rotate_keys(store.as_ref(), &SystemClock, &project).await.map_err(|e| e.to_string())?;
    let retire_at = rotation.previous_retire_at.to_rfc3339();
    let detail = serde_json::json!({"kid": rotation.kid, "previousRetireAt": retire_at});
    record_admin_action(store.as_ref(), SystemClock.now(), &project.id, "admin.keys.rotate", detail)
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "project {slug} now signs with key {}; the previous key verifies until {retire_at} (running servers pick the new key up within 10 s)",
        rotation.kid
    );
    Ok(())
}

async fn list_keys(store: Store, slug: &str) -> Result<(), String> {
    let project = find_project(&store, slug).await?;
    let now = SystemClock.now();
    for k in store.project_keys(&project.id).await.map_err(|e| e.to_string())? {
        let retires = k.retires_at.map_or_else(|| "-".to_owned(), |t| t.to_rfc3339());
        println!("{}\t{}\t{retires}\t{}", k.kid, k.created_at.to_rfc3339(), k.state_at(now).as_str());
    }
    Ok(())
}

type Store = std::sync::Arc<dyn doorway_core::Store>;

/// Opens the database, runs `work`, and turns its error into an exit code.
async fn operate<F>(settings: Settings, work: F) -> ExitCode
where
    F: FnOnce(Store) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send>>,
{
    let store = match doorway_store::connect_and_migrate(&settings.database_url).await {
        Ok(s) => s,
        Err(e) => return fail(&e),
    };
    match work(store).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

async fn project_id(store: &Store, slug: &str) -> Result<String, String> {
    let parsed = ProjectSlug::parse(slug).map_err(|e| format!("project slug {e}"))?;
    match store.project_by_slug(&parsed).await {
        Ok(Some(p)) => Ok(p.id),
        Ok(None) => Err(format!("no project named '{slug}' (see `doorway project list`)")),
        Err(e) => Err(e.to_string()),
    }
}

async fn audit(store: Store, cmd: AuditCommand) -> Result<(), String> {
    let AuditCommand::Tail { project, limit, follow } = cmd;
    let project_id = project_id(&store, &project).await?;
    let mut last_seen: Option<String> = None;
    loop {
        let filter =
            AuditFilter { limit: if last_seen.is_some() { 500 } else { limit.clamp(1, 500) }, ..Default::default() };
        let rows = store.audit_page(&project_id, &filter).await.map_err(|e| e.to_string())?;
        for a in rows.iter().rev().filter(|a| last_seen.as_ref().is_none_or(|seen| &a.id > seen)) {
            println!(
                "{}  {:<22} {:<32} method={} user={} ip={}",
                a.at.to_rfc3339(),
                a.action,
                a.outcome,
                a.method.as_deref().unwrap_or("-"),
                a.user_id.as_deref().unwrap_or("-"),
                a.ip.as_deref().unwrap_or("-"),
            );
        }
        if let Some(newest) = rows.first() {
            last_seen = Some(newest.id.clone());
        } else if last_seen.is_none() {
            last_seen = Some(String::new());
        }
        if !follow {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

async fn mail(store: Store, cmd: MailCommand, smtp: bool) -> Result<(), String> {
    let MailCommand::List { project, to, limit } = cmd;
    let project_id = project_id(&store, &project).await?;
    let to = to.map(|t| t.trim().to_lowercase());
    let rows = store.deliveries(&project_id, DeliveryKind::Mail, None, 500).await.map_err(|e| e.to_string())?;
    let rows: Vec<_> =
        rows.into_iter().filter(|d| to.as_ref().is_none_or(|t| &d.target == t)).take(limit as usize).collect();
    if rows.is_empty() {
        match &to {
            Some(to) => println!("no mail to {to} in project {project}"),
            None => println!("no mail in project {project}"),
        }
    }
    for d in rows {
        let mail: doorway_core::mail::RenderedMail =
            serde_json::from_str(&d.body).map_err(|e| format!("mail {} is unreadable: {e}", d.id))?;
        let status = match (d.status, smtp) {
            (DeliveryStatus::Pending, false) => "pending: no SMTP configured, it stays here".to_owned(),
            (_, _) => match &d.last_error {
                Some(error) if d.status == DeliveryStatus::Pending => format!("pending: {error}"),
                _ => d.status.as_str().to_owned(),
            },
        };
        println!("── {} to {} [{status}] {}", d.created_at.to_rfc3339(), d.target, d.id);
        println!("Subject: {}\n\n{}", mail.subject, mail.text.trim_end());
    }
    Ok(())
}

async fn webhooks(store: Store, cmd: WebhooksCommand) -> Result<(), String> {
    match cmd {
        WebhooksCommand::List { project, status, limit } => {
            let project_id = project_id(&store, &project).await?;
            let status = match status.as_deref() {
                None => None,
                Some(raw) => {
                    Some(DeliveryStatus::parse(raw).ok_or("--status must be pending, delivered, dead or suppressed")?)
                }
            };
            let rows = store
                .deliveries(&project_id, DeliveryKind::Webhook, status, limit.clamp(1, 500))
                .await
                .map_err(|e| e.to_string())?;
            for d in rows {
                let topic = serde_json::from_str::<serde_json::Value>(&d.body)
                    .ok()
                    .and_then(|b| b["type"].as_str().map(str::to_owned))
                    .unwrap_or_default();
                println!(
                    "{}  {:<9} attempts={} {:<22} {}  {}",
                    d.id,
                    d.status.as_str(),
                    d.attempts,
                    topic,
                    d.target,
                    d.last_error.as_deref().unwrap_or(""),
                );
            }
            Ok(())
        }
        WebhooksCommand::Replay { id, project } => {
            let project_id = project_id(&store, &project).await?;
            let now = SystemClock.now();
            if !store.replay_delivery(&project_id, &id, now).await.map_err(|e| e.to_string())? {
                return Err(format!("no delivery '{id}' in project '{project}'"));
            }
            record_admin_action(
                store.as_ref(),
                now,
                &project_id,
                "admin.webhook.replay",
                serde_json::json!({"deliveryId": id}),
            )
            .await
            .map_err(|e| e.to_string())?;
            println!("delivery {id} scheduled");
            Ok(())
        }
    }
}

async fn serve(settings: Settings) -> ExitCode {
    telemetry::init_logging(settings.log_format);
    let app = match Application::build(settings).await {
        Ok(app) => app,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    app.run_until(shutdown_signal()).await;
    ExitCode::SUCCESS
}

async fn project(settings: Settings, cmd: ProjectCommand) -> ExitCode {
    if settings.log_format == LogFormat::Json {
        telemetry::init_logging(settings.log_format);
    }
    let store = match open_with_keys(settings).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    match cmd {
        ProjectCommand::Add { slug, name } => {
            let slug = match ProjectSlug::parse(&slug) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("error: project slug {e}");
                    return ExitCode::from(2);
                }
            };
            let new = NewProject {
                name: name.unwrap_or_else(|| slug.to_string()),
                slug,
                settings: ProjectSettings::default(),
            };
            match create_project(store.as_ref(), &SystemClock, new).await {
                Ok(p) => {
                    println!("created project {} ({})", p.slug, p.id);
                    ExitCode::SUCCESS
                }
                Err(e @ ProjectError::Exists(_)) => {
                    eprintln!("error: {e}");
                    ExitCode::from(2)
                }
                Err(e) => fail(&e),
            }
        }
        ProjectCommand::List => match store.list_projects().await {
            Ok(projects) => {
                for p in projects {
                    println!("{}\t{}\t{}\t{}", p.slug, p.name, p.id, p.created_at.to_rfc3339());
                }
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e),
        },
    }
}

fn fail(e: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::FAILURE
}
