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
    /// log groups, alarms in its metric namespaces (never AWS/…), subscriptions of its topics.
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
pub(crate) fn on_runtime(
    command: &str,
    work: impl std::future::Future<Output = ExitCode>,
) -> ExitCode {
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

/// Tells a problem with the file or the arguments: exit status 2.
fn told(command: &str, e: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("trailwatch {command}: {e}");
    ExitCode::from(2)
}

/// Tries `parsed` on a scratch engine in `region` (the one it will be applied in): what the
/// APIs would refuse is told with its line. A region trailwatch does not know (one newer than
/// its list) leaves the file to the endpoint's own checks.
async fn check(parsed: &config::Parsed, region: &str, command: &str) -> Result<(), ExitCode> {
    let Some(region) = engine::scope::Region::named(region) else {
        return Ok(());
    };
    let scratch = setup::Scratch::new(region).map_err(|e| told(command, &format!("{e:#}")))?;
    scratch.check(parsed).await.map_err(|e| told(command, &e))
}

pub fn apply(args: ApplyArgs) -> ExitCode {
    on_runtime("apply", async {
        let parsed = match crate::config_file::read(&args.file) {
            Ok(parsed) => parsed,
            Err(e) => return told("apply", &e),
        };
        let target = SdkTarget::connect(&args.endpoint, parsed.file.region.as_deref()).await;
        if let Err(code) = check(&parsed, &target.region, "apply").await {
            return code;
        }
        let current = match target.current().await {
            Ok(current) => current,
            Err(e) => {
                eprintln!("trailwatch apply: cannot read what the endpoint has: {e:#}");
                return ExitCode::FAILURE;
            }
        };
        let parsed = match setup::cis::with_pack(&parsed, &current, &target.region) {
            Ok(parsed) => parsed,
            Err(e) => return told("apply", &e),
        };
        let changes = plan::plan(&parsed.file, &current, args.prune);
        println!("Plan for {} in {}:", parsed.name(), target.region);
        make(&target, &parsed, &current, &changes, args.dry_run, "apply").await
    })
}

/// Prints a plan's changes and, unless `dry_run` or nothing changes, makes its calls.
pub(crate) async fn make(
    target: &SdkTarget,
    parsed: &config::Parsed,
    current: &plan::Current,
    changes: &[plan::Change],
    dry_run: bool,
    command: &str,
) -> ExitCode {
    for change in changes {
        println!("  {change}");
    }
    if changes.iter().all(|c| c.calls.is_empty()) {
        println!("Nothing to change: {}.", setup::summary(changes, false));
        return ExitCode::SUCCESS;
    }
    println!("{}.", setup::summary(changes, false));
    if dry_run {
        println!("Dry run: nothing was changed.");
        return ExitCode::SUCCESS;
    }
    if let Err(e) = setup::execute(target, parsed, changes, current).await {
        eprintln!("trailwatch {command}: {e}");
        return ExitCode::FAILURE;
    }
    println!("Applied: {}.", setup::summary(changes, true));
    ExitCode::SUCCESS
}

pub fn config(args: ConfigArgs) -> ExitCode {
    on_runtime("config", async {
        match args.command {
            ConfigCommand::Check { file } => {
                let parsed = match crate::config_file::read(&file) {
                    Ok(parsed) => parsed,
                    Err(e) => return told("config check", &e),
                };
                let region = match crate::config_file::region(Some(&parsed)) {
                    Ok(region) => region,
                    Err(e) => return told("config check", &e),
                };
                match check(&parsed, &region.name, "config check").await {
                    Ok(()) => {
                        println!("{}: valid.", parsed.name());
                        ExitCode::SUCCESS
                    }
                    Err(code) => code,
                }
            }
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
