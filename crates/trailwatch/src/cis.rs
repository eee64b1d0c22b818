//! `trailwatch cis audit` and `trailwatch cis apply`: the CIS monitoring controls audited on,
//! and installed on, any AWS-compatible endpoint through the AWS SDK for Rust.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use aws_config::{Region, SdkConfig};
use cis::account::{self, Account, Selectors, Trail, TrailStatus};
use cis::remedy::{Request, Style};
use cis::{Catalogue, Status};
use engine::trails::api as ct;

use crate::setup::Target;
use crate::setup::sdk::{Endpoint, SdkTarget, all, said, shared_config};

/// Arguments of `trailwatch cis`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Audit the monitoring controls of an account: trail, metric filters judged by meaning,
    /// alarms, topics and subscriptions.
    ///
    /// Talks to any AWS-compatible endpoint (a trailwatch server, or AWS through the usual
    /// credential chain). Exit status: 0 when every control passes (or needs a person:
    /// MANUAL), 1 when any fails, 2 for a usage or connection error, or when something the
    /// audit needs could not be read (ERROR).
    Audit(AuditArgs),
    /// Install what the controls need on a log group: a metric filter and an alarm for each
    /// control not yet met there, the topic and its subscription.
    ///
    /// Prints the plan first, then makes it. A second run changes nothing. A filter it did not
    /// make is never changed or deleted: where one falls short, a filter named cis-<control>
    /// is added beside it.
    Apply(ApplyArgs),
}

#[derive(clap::Args)]
struct AuditArgs {
    #[command(flatten)]
    endpoint: Endpoint,
    /// The benchmark version (1.2.0 to 7.0.0).
    #[arg(long, default_value = cis::LATEST, value_name = "VERSION")]
    cis_version: String,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Write the report to this file rather than standard output.
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
}

/// text for a terminal; json with the evidence chain; csv with Prowler's compliance columns;
/// asff for Security Hub; ocsf Compliance Findings; html, a page for people.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum Format {
    Text,
    Json,
    Csv,
    Asff,
    Ocsf,
    Html,
}

#[derive(clap::Args)]
struct ApplyArgs {
    #[command(flatten)]
    endpoint: Endpoint,
    /// The log group the trail delivers to, e.g. CloudTrail/DefaultLogGroup (made if missing).
    #[arg(long, value_name = "NAME")]
    log_group: String,
    /// The SNS topic the alarms notify, by name (made if missing).
    #[arg(long, value_name = "NAME")]
    topic: String,
    /// Subscribe this endpoint to the topic, e.g. email:secops@example.com or
    /// https:https://hooks.example.com/cis.
    #[arg(long, value_name = "PROTOCOL:ENDPOINT", value_parser = parse_subscription)]
    subscribe: Option<config::Subscription>,
    /// The benchmark version (1.2.0 to 7.0.0).
    #[arg(long, default_value = cis::LATEST, value_name = "VERSION")]
    cis_version: String,
    /// literal: the benchmark's own strings, which auditors comparing text also pass;
    /// tight: equivalent strings scoped to each call's service.
    #[arg(long, value_enum, default_value_t = StyleArg::Literal)]
    style: StyleArg,
    /// Print the plan and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Write the plan as a configuration file for `trailwatch apply` and change nothing.
    #[arg(long, value_name = "FILE")]
    config_out: Option<PathBuf>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum StyleArg {
    Literal,
    Tight,
}

fn parse_subscription(text: &str) -> Result<config::Subscription, String> {
    let (protocol, endpoint) = text
        .split_once(':')
        .filter(|(p, e)| !p.is_empty() && !e.is_empty())
        .ok_or_else(|| format!("'{text}' is not PROTOCOL:ENDPOINT"))?;
    Ok(config::Subscription {
        protocol: protocol.to_owned(),
        endpoint: endpoint.to_owned(),
        attributes: BTreeMap::new(),
    })
}

pub fn run(args: Args) -> ExitCode {
    crate::apply::on_runtime("cis", async {
        match args.command {
            Command::Audit(args) => audit(args).await,
            Command::Apply(args) => apply(args).await,
        }
    })
}

fn benchmark(version: &str, command: &str) -> Result<cis::Benchmark<'static>, ExitCode> {
    let catalogue = Catalogue::get();
    catalogue.benchmark(version).ok_or_else(|| {
        eprintln!(
            "trailwatch {command}: no CIS version {version}; the versions are {}",
            catalogue.versions().join(", ")
        );
        ExitCode::from(2)
    })
}

async fn audit(args: AuditArgs) -> ExitCode {
    let benchmark = match benchmark(&args.cis_version, "cis audit") {
        Ok(b) => b,
        Err(code) => return code,
    };
    let shared = shared_config(&args.endpoint, None).await;
    let account = match gather(&shared).await {
        Ok(account) => account,
        Err(e) => {
            eprintln!("trailwatch cis audit: {e:#}");
            return ExitCode::from(2);
        }
    };
    let report = cis::audit(&account, &benchmark);
    let format = match args.format {
        Format::Text => cis::report::Format::Text,
        Format::Json => cis::report::Format::Json,
        Format::Csv => cis::report::Format::Csv,
        Format::Asff => cis::report::Format::Asff,
        Format::Ocsf => cis::report::Format::Ocsf,
        Format::Html => cis::report::Format::Html,
    };
    let text = format.render(&report);
    match &args.output {
        Some(path) => {
            if let Err(e) = std::fs::write(path, &text) {
                eprintln!("trailwatch cis audit: cannot write {}: {e}", path.display());
                return ExitCode::from(2);
            }
            eprintln!(
                "trailwatch cis audit: {}: {}",
                path.display(),
                cis::report::tally(&report)
            );
        }
        None => print!("{text}"),
    }
    if report.count(Status::Fail) > 0 {
        ExitCode::FAILURE
    } else if report.count(Status::Error) > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}

/// A client of `T` on `shared` in another region.
fn in_region(shared: &SdkConfig, region: &str) -> SdkConfig {
    shared
        .to_builder()
        .region(Region::new(region.to_owned()))
        .build()
}

/// Reads what the audit needs: the caller's account, the trails of the region with their
/// status and selectors, the metric filters of their log groups, the alarms of those regions
/// and the subscriptions of the alarms' topics. Only a failure to reach the endpoint at all
/// is an error; what else cannot be read is kept in the account, for the controls needing it.
async fn gather(shared: &SdkConfig) -> anyhow::Result<Account> {
    let region = shared
        .region()
        .map_or_else(|| "us-east-1".to_owned(), |r| r.to_string());
    let sts = aws_sdk_sts::Client::new(shared);
    let me = sts
        .get_caller_identity()
        .send()
        .await
        .map_err(said)
        .map_err(anyhow::Error::msg)
        .context("cannot reach the endpoint (sts:GetCallerIdentity)")?;
    let mut account = Account::empty(&region);
    account.account_id = me.account().map(str::to_owned);
    account.read_at_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    account.trails = trails(&aws_sdk_cloudtrail::Client::new(shared)).await;
    let groups: Vec<String> = account
        .trails
        .iter()
        .flatten()
        .filter_map(|t| t.log_group_arn.clone())
        .collect();
    for arn in groups {
        let Some((group_region, name)) = account::log_group_of(&arn) else {
            continue;
        };
        let regional = in_region(shared, group_region);
        let logs = aws_sdk_cloudwatchlogs::Client::new(&regional);
        let group = log_group(&logs, name).await.map_err(|e| format!("{e:#}"));
        account.log_groups.insert(arn.clone(), group);
        if !account.alarms.contains_key(group_region) {
            let cloudwatch = aws_sdk_cloudwatch::Client::new(&regional);
            let alarms = alarms(&cloudwatch).await.map_err(|e| format!("{e:#}"));
            account.alarms.insert(group_region.to_owned(), alarms);
        }
    }
    let topics: Vec<String> = account
        .alarms
        .values()
        .flatten()
        .flatten()
        .flat_map(|a| a.alarm_actions.iter())
        .filter(|a| account::is_topic(a))
        .cloned()
        .collect();
    for arn in topics {
        if account.topics.contains_key(&arn) {
            continue;
        }
        let topic_region = engine::scope::Arn::parse(&arn).map_or("", |a| a.region);
        let sns = aws_sdk_sns::Client::new(&in_region(shared, topic_region));
        let subscriptions = subscriptions(&sns, &arn).await;
        account.topics.insert(arn, subscriptions);
    }
    Ok(account)
}

async fn trails(cloudtrail: &aws_sdk_cloudtrail::Client) -> Result<Vec<Trail>, String> {
    let listed = cloudtrail
        .describe_trails()
        .include_shadow_trails(true)
        .send()
        .await
        .map_err(said)?;
    let mut trails = Vec::new();
    for t in listed.trail_list() {
        let arn = t.trail_arn().unwrap_or_default().to_owned();
        let status = cloudtrail
            .get_trail_status()
            .name(&arn)
            .send()
            .await
            .map_err(said)
            .map(|s| TrailStatus {
                is_logging: s.is_logging().unwrap_or(false),
                latest_delivery_error: s.latest_delivery_error().map(str::to_owned),
                latest_cloud_watch_logs_delivery_error: s
                    .latest_cloud_watch_logs_delivery_error()
                    .map(str::to_owned),
            });
        let selectors = cloudtrail
            .get_event_selectors()
            .trail_name(&arn)
            .send()
            .await
            .map_err(said)
            .map(|s| selectors(&s));
        trails.push(Trail {
            name: t.name().unwrap_or_default().to_owned(),
            arn,
            home_region: t.home_region().unwrap_or_default().to_owned(),
            multi_region: t.is_multi_region_trail().unwrap_or(false),
            organization: t.is_organization_trail().unwrap_or(false),
            log_group_arn: t.cloud_watch_logs_log_group_arn().map(str::to_owned),
            status,
            selectors,
        });
    }
    Ok(trails)
}

fn strings(values: &[String]) -> Option<Vec<String>> {
    (!values.is_empty()).then(|| values.to_vec())
}

fn selectors(
    s: &aws_sdk_cloudtrail::operation::get_event_selectors::GetEventSelectorsOutput,
) -> Selectors {
    if !s.advanced_event_selectors().is_empty() {
        return Selectors::Advanced(
            s.advanced_event_selectors()
                .iter()
                .map(|a| ct::AdvancedEventSelector {
                    name: a.name().map(str::to_owned),
                    field_selectors: a
                        .field_selectors()
                        .iter()
                        .map(|f| ct::AdvancedFieldSelector {
                            field: f.field().to_owned(),
                            equals: strings(f.equals()),
                            starts_with: strings(f.starts_with()),
                            ends_with: strings(f.ends_with()),
                            not_equals: strings(f.not_equals()),
                            not_starts_with: strings(f.not_starts_with()),
                            not_ends_with: strings(f.not_ends_with()),
                        })
                        .collect(),
                })
                .collect(),
        );
    }
    Selectors::Basic(
        s.event_selectors()
            .iter()
            .map(|e| ct::EventSelector {
                read_write_type: e.read_write_type().map(|t| t.as_str().to_owned()),
                include_management_events: e.include_management_events(),
                data_resources: e
                    .data_resources()
                    .iter()
                    .map(|d| ct::DataResource {
                        r#type: d.r#type().map(str::to_owned),
                        values: d.values().to_vec(),
                    })
                    .collect(),
                exclude_management_event_sources: e.exclude_management_event_sources().to_vec(),
            })
            .collect(),
    )
}

async fn log_group(
    logs: &aws_sdk_cloudwatchlogs::Client,
    name: &str,
) -> anyhow::Result<account::LogGroup> {
    let groups = all!(
        logs.describe_log_groups().log_group_name_prefix(name),
        "DescribeLogGroups"
    );
    let exists = groups.iter().any(|g| g.log_group_name() == Some(name));
    if !exists {
        return Ok(account::LogGroup::default());
    }
    let filters = all!(
        logs.describe_metric_filters().log_group_name(name),
        "DescribeMetricFilters"
    );
    Ok(account::LogGroup {
        exists,
        metric_filters: filters
            .iter()
            .map(|m| account::MetricFilter {
                name: m.filter_name().unwrap_or_default().to_owned(),
                pattern: m.filter_pattern().unwrap_or_default().to_owned(),
                transformations: m
                    .metric_transformations()
                    .iter()
                    .map(|t| account::Transformation {
                        namespace: t.metric_namespace().to_owned(),
                        name: t.metric_name().to_owned(),
                        value: t.metric_value().to_owned(),
                        default_value: t.default_value(),
                        unit: t.unit().map(|u| u.as_str().to_owned()),
                        dimensions: t
                            .dimensions()
                            .into_iter()
                            .flatten()
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect(),
                    })
                    .collect(),
            })
            .collect(),
    })
}

fn dimensions(dims: &[aws_sdk_cloudwatch::types::Dimension]) -> BTreeMap<String, String> {
    dims.iter()
        .map(|d| {
            (
                d.name().unwrap_or_default().to_owned(),
                d.value().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

async fn alarms(cloudwatch: &aws_sdk_cloudwatch::Client) -> anyhow::Result<Vec<account::Alarm>> {
    let pages = cloudwatch
        .describe_alarms()
        .into_paginator()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(said)
        .map_err(anyhow::Error::msg)
        .context("DescribeAlarms")?;
    Ok(pages
        .iter()
        .flat_map(|p| p.metric_alarms())
        .map(|a| account::Alarm {
            name: a.alarm_name().unwrap_or_default().to_owned(),
            arn: a.alarm_arn().unwrap_or_default().to_owned(),
            actions_enabled: a.actions_enabled().unwrap_or(true),
            alarm_actions: a.alarm_actions().to_vec(),
            namespace: a.namespace().map(str::to_owned),
            metric_name: a.metric_name().map(str::to_owned),
            dimensions: dimensions(a.dimensions()),
            statistic: a.statistic().map(|s| s.as_str().to_owned()),
            extended_statistic: a.extended_statistic().map(str::to_owned),
            period: a.period(),
            evaluation_periods: a.evaluation_periods().unwrap_or(1),
            datapoints_to_alarm: a.datapoints_to_alarm(),
            threshold: a.threshold(),
            comparison_operator: a
                .comparison_operator()
                .map(|c| c.as_str().to_owned())
                .unwrap_or_default(),
            unit: a.unit().map(|u| u.as_str().to_owned()),
            treat_missing_data: a.treat_missing_data().map(str::to_owned),
            evaluate_low_sample_count_percentile: a
                .evaluate_low_sample_count_percentile()
                .map(str::to_owned),
            metrics: a
                .metrics()
                .iter()
                .filter_map(|q| {
                    let metric = q.metric_stat()?.metric()?;
                    Some(account::MetricQuery {
                        id: q.id().unwrap_or_default().to_owned(),
                        namespace: metric.namespace().unwrap_or_default().to_owned(),
                        name: metric.metric_name().unwrap_or_default().to_owned(),
                        dimensions: dimensions(metric.dimensions()),
                    })
                })
                .collect(),
        })
        .collect())
}

async fn subscriptions(
    sns: &aws_sdk_sns::Client,
    arn: &str,
) -> Result<Option<Vec<account::Subscription>>, String> {
    let listed = sns
        .list_subscriptions_by_topic()
        .topic_arn(arn)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await;
    match listed {
        Ok(subs) => Ok(Some(
            subs.iter()
                .map(|s| account::Subscription {
                    protocol: s.protocol().unwrap_or_default().to_owned(),
                    endpoint: s.endpoint().unwrap_or_default().to_owned(),
                    arn: s.subscription_arn().unwrap_or_default().to_owned(),
                })
                .collect(),
        )),
        Err(e) => {
            use aws_sdk_sns::error::ProvideErrorMetadata as _;
            if e.code() == Some("NotFound") {
                Ok(None)
            } else {
                Err(said(e))
            }
        }
    }
}

async fn apply(args: ApplyArgs) -> ExitCode {
    let benchmark = match benchmark(&args.cis_version, "cis apply") {
        Ok(b) => b,
        Err(code) => return code,
    };
    let target = SdkTarget::connect(&args.endpoint, None).await;
    let current = match target.current().await {
        Ok(current) => current,
        Err(e) => {
            eprintln!("trailwatch cis apply: cannot read what the endpoint has: {e:#}");
            return ExitCode::from(2);
        }
    };
    let request = Request {
        log_group: args.log_group.clone(),
        topic: args.topic.clone(),
        subscribe: args.subscribe.clone(),
        style: match args.style {
            StyleArg::Literal => Style::Literal,
            StyleArg::Tight => Style::Tight,
        },
        region: target.region.clone(),
    };
    let remedy = match cis::remedy::remedy(&benchmark, &request, &current) {
        Ok(remedy) => remedy,
        Err(e) => {
            eprintln!("trailwatch cis apply: {e}");
            return ExitCode::FAILURE;
        }
    };
    let text = format!(
        "# The CIS AWS Foundations Benchmark v{} monitoring controls on {}, written by\n# `trailwatch cis apply`. `trailwatch apply` of this file installs them.\n\n{}",
        benchmark.version,
        args.log_group,
        remedy.file.to_toml()
    );
    if let Some(path) = &args.config_out {
        if let Err(e) = std::fs::write(path, &text) {
            eprintln!("trailwatch cis apply: cannot write {}: {e}", path.display());
            return ExitCode::from(2);
        }
        println!("Wrote {}.", path.display());
        return ExitCode::SUCCESS;
    }
    let parsed = match config::File::parse("cis-pack.toml", &text) {
        Ok(parsed) => parsed,
        Err(e) => {
            eprintln!("trailwatch cis apply: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "CIS v{} on log group {} in {}: {} control{} met already, {} to install.",
        benchmark.version,
        args.log_group,
        target.region,
        remedy.met.len(),
        if remedy.met.len() == 1 { "" } else { "s" },
        remedy.added.len()
    );
    for (control, summary) in &remedy.met {
        println!("  met: {control}: {summary}");
    }
    let changes = config::plan::plan(&parsed.file, &current, false);
    println!("Plan:");
    crate::apply::make(
        &target,
        &parsed,
        &current,
        &changes,
        args.dry_run,
        "cis apply",
    )
    .await
}
