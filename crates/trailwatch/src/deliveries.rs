//! `trailwatch deliveries`: failed notifications, listed and sent again, on a running server.
//!
//! A notification whose delivery policy runs out is kept as a failed delivery. These commands
//! ask the server (its operator API, signed like the AWS APIs) which deliveries are failed or
//! pending, and queue failed ones again with their `MessageId`.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

use client::SignedClient;

/// Arguments of `trailwatch deliveries`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    which: Which,
    #[command(flatten)]
    server: ServerArgs,
}

/// Where the server is and how to sign for it.
#[derive(clap::Args)]
struct ServerArgs {
    /// The server's URL [default: $AWS_ENDPOINT_URL, else http://127.0.0.1:4566].
    #[arg(long, global = true)]
    endpoint_url: Option<String>,
    /// The server's data directory, whose generated key pair signs the requests when
    /// AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set.
    #[arg(long, global = true, default_value = "./trailwatch-data")]
    data_dir: PathBuf,
    /// The region to sign for [default: $AWS_REGION, $AWS_DEFAULT_REGION, else us-east-1].
    #[arg(long, global = true)]
    region: Option<String>,
    /// Print the server's JSON answer instead of a table.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(clap::Subcommand)]
enum Which {
    /// List deliveries, with each subscription's deliveries counted by state.
    List {
        /// Only deliveries in this state.
        #[arg(long, value_parser = ["pending", "delivered", "failed", "dropped", "redriven"])]
        state: Option<String>,
        /// Only messages of this topic.
        #[arg(long, value_name = "ARN")]
        topic: Option<String>,
        /// Only messages to this subscription.
        #[arg(long, value_name = "ARN")]
        subscription: Option<String>,
    },
    /// Queue failed deliveries again, with their MessageId: these, or all of a subscription's.
    Redrive {
        /// Deliveries, by the id `list` shows.
        #[arg(
            required_unless_present = "subscription",
            conflicts_with = "subscription"
        )]
        ids: Vec<i64>,
        /// Every failed delivery to this subscription.
        #[arg(long, value_name = "ARN")]
        subscription: Option<String>,
    },
}

const TARGET: &str = aws::OPERATOR_TARGET_PREFIX;

/// Runs a `deliveries` command.
pub fn run(args: Args) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let client = client(&args.server)?;
        match args.which {
            Which::List {
                state,
                topic,
                subscription,
            } => list(&client, args.server.json, state, topic, subscription).await,
            Which::Redrive { ids, subscription } => {
                let input = match subscription {
                    Some(arn) => json!({ "subscriptionArn": arn }),
                    None => json!({ "ids": ids }),
                };
                let answer = call(&client, "RedriveDeliveries", &input).await?;
                if args.server.json {
                    println!("{answer}");
                } else {
                    print_redriven(&answer);
                }
                Ok(())
            }
        }
    })
}

fn client(server: &ServerArgs) -> anyhow::Result<SignedClient> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let url = server
        .endpoint_url
        .clone()
        .or_else(|| env("AWS_ENDPOINT_URL"))
        .unwrap_or_else(|| "http://127.0.0.1:4566".to_owned());
    let region = server
        .region
        .clone()
        .or_else(|| env("AWS_REGION"))
        .or_else(|| env("AWS_DEFAULT_REGION"))
        .unwrap_or_else(|| "us-east-1".to_owned());
    let (key, secret) = match (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
        (Some(k), Some(s)) => (k, s),
        _ => match crate::keys::read_credentials(&server.data_dir)? {
            Some(c) => (c.access_key_id, c.secret_access_key),
            None => bail!(
                "no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or give the \
                 server's --data-dir (it holds {} once the server has started)",
                crate::keys::CREDENTIALS_FILE
            ),
        },
    };
    SignedClient::new(&url, &key, &secret, &region)
}

async fn call(client: &SignedClient, operation: &str, input: &Value) -> anyhow::Result<Value> {
    let text = client
        .post(
            aws::OPERATOR_SIGNING_NAME,
            "application/x-amz-json-1.1",
            Some(&format!("{TARGET}.{operation}")),
            input.to_string().into_bytes(),
        )
        .await?;
    serde_json::from_str(&text).context("the server's answer is not JSON")
}

async fn list(
    client: &SignedClient,
    as_json: bool,
    state: Option<String>,
    topic: Option<String>,
    subscription: Option<String>,
) -> anyhow::Result<()> {
    let mut input = json!({});
    if let Some(s) = state {
        input["state"] = json!(s);
    }
    if let Some(t) = topic {
        input["topicArn"] = json!(t);
    }
    if let Some(s) = subscription {
        input["subscriptionArn"] = json!(s);
    }
    let mut deliveries = Vec::new();
    let mut subscriptions = Value::Null;
    loop {
        let page = call(client, "ListDeliveries", &input).await?;
        if subscriptions.is_null() {
            subscriptions = page["subscriptions"].clone();
        }
        deliveries.extend(page["deliveries"].as_array().cloned().unwrap_or_default());
        match page["nextToken"].as_str() {
            Some(token) => input["nextToken"] = json!(token),
            None => break,
        }
    }
    if as_json {
        if deliveries.is_empty() && subscriptions.as_array().is_none_or(Vec::is_empty) {
            println!("No deliveries.");
            return Ok(());
        }
        println!(
            "{}",
            json!({ "deliveries": deliveries, "subscriptions": subscriptions })
        );
        return Ok(());
    }
    println!(
        "{:<10} {:>9} {:>7} {:<40} SUBSCRIPTION",
        "PENDING", "DELIVERED", "FAILED", "ENDPOINT"
    );
    for s in subscriptions.as_array().into_iter().flatten() {
        println!(
            "{:<10} {:>9} {:>7} {:<40} {}",
            s["pending"],
            s["delivered"],
            s["failed"],
            text(&s["endpoint"]),
            text(&s["subscriptionArn"])
        );
    }
    println!();
    println!(
        "{:>6} {:<9} {:>8} {:<24} {:<36} {:<32} LAST ERROR",
        "ID", "STATE", "ATTEMPTS", "TYPE", "MESSAGE ID", "ENDPOINT"
    );
    for d in &deliveries {
        println!(
            "{:>6} {:<9} {:>8} {:<24} {:<36} {:<32} {}",
            d["id"],
            text(&d["state"]),
            d["attempts"],
            text(&d["type"]),
            text(&d["messageId"]),
            text(&d["endpoint"]),
            text(&d["lastError"])
        );
    }
    Ok(())
}

fn print_redriven(answer: &Value) {
    for r in answer["redriven"].as_array().into_iter().flatten() {
        println!(
            "redriven {} as {} (MessageId {})",
            r["id"],
            r["newId"],
            text(&r["messageId"])
        );
    }
    for s in answer["skipped"].as_array().into_iter().flatten() {
        println!("skipped {}: {}", s["id"], text(&s["reason"]));
    }
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}
