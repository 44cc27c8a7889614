//! The `doorway` command: serve, migrate, manage projects, check configuration.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use doorway_core::projects::{NewProject, ProjectError, create_project};
use doorway_core::{ProjectSettings, ProjectSlug, SystemClock};
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
}

#[derive(Subcommand)]
enum ProjectCommand {
    /// Create a project and its signing key.
    Add {
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
            println!("configuration OK: {} project(s) declared", settings.projects.len());
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
    match app.run_until(shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

async fn project(settings: Settings, cmd: ProjectCommand) -> ExitCode {
    if settings.log_format == LogFormat::Json {
        telemetry::init_logging(settings.log_format);
    }
    let store = match doorway_store::connect_and_migrate(&settings.database_url).await {
        Ok(s) => s,
        Err(e) => return fail(&e),
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
