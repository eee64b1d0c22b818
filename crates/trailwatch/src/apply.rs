//! `trailwatch apply` and `trailwatch config`: a configuration file made true on an endpoint,
//! and an endpoint's configuration written as a file.

use std::path::PathBuf;
use std::process::ExitCode;

use config::plan;

use crate::setup::sdk::{Endpoint, SdkTarget};
use crate::setup::{self, Target};

/// Arguments of `trailwatch apply`.
#[derive(clap::Args)]
pub struct ApplyArgs {
    /// The configuration file.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    #[command(flatten)]
    endpoint: Endpoint,
    /// Print the plan and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Also delete what the file no longer declares of what it manages: metric filters of its
    /// log groups, alarms in its metric namespaces, subscriptions of its topics.
    #[arg(long)]
    prune: bool,
}

/// Arguments of `trailwatch config`.
#[derive(clap::Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    command: ConfigCommand,
}

#[derive(clap::Subcommand)]
enum ConfigCommand {
    /// Write the configuration of an endpoint (log groups, metric filters, alarms, topics and
    /// subscriptions) as a file that `trailwatch apply` makes again elsewhere.
    Export(ExportArgs),
    /// Check a file as `apply` would before changing anything: its syntax, keys, patterns and
    /// references, and every value the APIs would refuse.
    Check {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

#[derive(clap::Args)]
struct ExportArgs {
    #[command(flatten)]
    endpoint: Endpoint,
    /// Write to this file rather than standard output.
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
}

/// Runs a command's work on an async runtime.
fn on_runtime(command: &str, work: impl std::future::Future<Output = ExitCode>) -> ExitCode {
    match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(work),
        Err(e) => {
            eprintln!("trailwatch {command}: cannot start: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Reads `path` and tries it on a scratch engine; a problem is told and is exit status 2.
async fn checked(path: &std::path::Path, command: &str) -> Result<config::Parsed, ExitCode> {
    let told = |e: &dyn std::fmt::Display| {
        eprintln!("trailwatch {command}: {e}");
        ExitCode::from(2)
    };
    let parsed = crate::config_file::read(path).map_err(|e| told(&e))?;
    let region = crate::config_file::region(Some(&parsed)).map_err(|e| told(&e))?;
    let scratch = setup::Scratch::new(region).map_err(|e| told(&format!("{e:#}")))?;
    scratch.check(&parsed).await.map_err(|e| told(&e))?;
    Ok(parsed)
}

pub fn apply(args: ApplyArgs) -> ExitCode {
    on_runtime("apply", async {
        let parsed = match checked(&args.file, "apply").await {
            Ok(parsed) => parsed,
            Err(code) => return code,
        };
        let target = SdkTarget::connect(&args.endpoint, parsed.file.region.as_deref()).await;
        let current = match target.current().await {
            Ok(current) => current,
            Err(e) => {
                eprintln!("trailwatch apply: cannot read what the endpoint has: {e:#}");
                return ExitCode::FAILURE;
            }
        };
        let changes = plan::plan(&parsed.file, &current, args.prune);
        println!("Plan for {} in {}:", parsed.name(), target.region);
        for change in &changes {
            println!("  {change}");
        }
        if changes.iter().all(|c| c.calls.is_empty()) {
            println!("Nothing to change: {}.", setup::summary(&changes, false));
            return ExitCode::SUCCESS;
        }
        println!("{}.", setup::summary(&changes, false));
        if args.dry_run {
            println!("Dry run: nothing was changed.");
            return ExitCode::SUCCESS;
        }
        if let Err(e) = setup::execute(&target, &parsed, &changes, &current).await {
            eprintln!("trailwatch apply: {e}");
            return ExitCode::FAILURE;
        }
        println!("Applied: {}.", setup::summary(&changes, true));
        ExitCode::SUCCESS
    })
}

pub fn config(args: ConfigArgs) -> ExitCode {
    on_runtime("config", async {
        match args.command {
            ConfigCommand::Check { file } => match checked(&file, "config check").await {
                Ok(parsed) => {
                    println!("{}: valid.", parsed.name());
                    ExitCode::SUCCESS
                }
                Err(code) => code,
            },
            ConfigCommand::Export(args) => export(args).await,
        }
    })
}

async fn export(args: ExportArgs) -> ExitCode {
    let target = SdkTarget::connect(&args.endpoint, None).await;
    let current = match target.current().await {
        Ok(current) => current,
        Err(e) => {
            eprintln!("trailwatch config export: cannot read what the endpoint has: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let mut file = plan::export(&current);
    file.region = Some(target.region.clone());
    let text = format!(
        "# The configuration of {} in {}, written by `trailwatch config export`.\n# `trailwatch apply` of this file makes the same elsewhere.\n\n{}",
        args.endpoint
            .endpoint_url
            .as_deref()
            .unwrap_or("the AWS endpoint"),
        target.region,
        file.to_toml()
    );
    match &args.output {
        Some(path) => {
            if let Err(e) = std::fs::write(path, text) {
                eprintln!(
                    "trailwatch config export: cannot write {}: {e}",
                    path.display()
                );
                return ExitCode::FAILURE;
            }
        }
        None => print!("{text}"),
    }
    ExitCode::SUCCESS
}
