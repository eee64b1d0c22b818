//! `trailwatch listen`: an SNS HTTP endpoint for trying things out and for debugging real
//! set-ups. It checks every message's signature against its signing certificate, confirms
//! subscriptions whose confirmation is genuine, and prints each message for people (or, with
//! `--json`, one JSON object per line for scripts).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

/// Arguments of `trailwatch listen`.
#[derive(clap::Args)]
pub struct Args {
    /// Address and port to listen on.
    #[arg(long, default_value = "127.0.0.1:9000")]
    listen: SocketAddr,
    /// Print one JSON object per message, for scripts.
    #[arg(long)]
    json: bool,
    /// A host whose signing certificates are trusted besides AWS's SNS hosts
    /// (sns.<region>.amazonaws.com, over HTTPS) and this machine's own (a trailwatch server on
    /// loopback); repeatable.
    #[arg(long = "trust-host", value_name = "HOST")]
    trust_hosts: Vec<String>,
}

struct Listener {
    json: bool,
    trust_hosts: Vec<String>,
    client: reqwest::Client,
    /// Certificates by URL: SNS signs with few, and fetching one per message would be slow.
    certificates: Mutex<HashMap<String, String>>,
    /// Lines are printed whole, one message at a time.
    out: Mutex<()>,
}

pub fn run(args: Args) -> ExitCode {
    crate::apply::on_runtime("listen", async {
        match listen(args).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("trailwatch listen: {e:#}");
                ExitCode::FAILURE
            }
        }
    })
}

async fn listen(args: Args) -> anyhow::Result<()> {
    let client = delivery::http_client(Arc::new(engine::endpoint::EndpointPolicy::default()))
        .context("cannot set up an HTTP client")?;
    let state = Arc::new(Listener {
        json: args.json,
        trust_hosts: args.trust_hosts,
        client,
        certificates: Mutex::new(HashMap::new()),
        out: Mutex::new(()),
    });
    let socket = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = socket.local_addr()?;
    let app = axum::Router::new()
        .fallback(axum::routing::post(receive))
        .with_state(state);
    // The first line on standard output, for scripts that listen on port 0.
    println!("listening on http://{addr}");
    if !args.json {
        eprintln!(
            "Subscribe this endpoint to a topic, e.g.:\n  aws sns subscribe --topic-arn ARN --protocol http --notification-endpoint http://{addr}/\nCtrl-C stops."
        );
    }
    axum::serve(socket, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .context("the listener failed")?;
    Ok(())
}

/// What became of one message.
struct Seen {
    message: Value,
    verified: Result<String, String>,
    confirmed: Option<Result<(), String>>,
}

async fn receive(State(state): State<Arc<Listener>>, body: Bytes) -> StatusCode {
    let message: Value = match serde_json::from_slice(&body) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            state.print_refused(&format!(
                "not an SNS message (not a JSON object): {}",
                String::from_utf8_lossy(&body)
                    .chars()
                    .take(200)
                    .collect::<String>()
            ));
            return StatusCode::BAD_REQUEST;
        }
    };
    let verified = state.verify(&message).await;
    let confirmed = match (message["Type"].as_str(), &verified) {
        (Some("SubscriptionConfirmation"), Ok(_)) => Some(state.confirm(&message).await),
        (Some("SubscriptionConfirmation"), Err(_)) => {
            Some(Err("not confirmed: the signature does not check".to_owned()))
        }
        _ => None,
    };
    // A message whose signature does not check is refused: SNS never sends one, so whoever
    // did is not SNS.
    let status = if verified.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::FORBIDDEN
    };
    state.print(&Seen {
        message,
        verified,
        confirmed,
    });
    status
}

/// Whether a signing certificate may be fetched from `url`: AWS's SNS hosts over HTTPS, this
/// machine, or a host the user trusts. Anyone can sign with a certificate of their own, so
/// where it comes from is what makes a signature mean anything.
fn trusted_certificate_url(url: &str, trust_hosts: &[String]) -> Result<(), String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("SigningCertURL {url:?}: {e}"))?;
    let host = parsed.host_str().unwrap_or_default().to_ascii_lowercase();
    if !parsed.path().ends_with(".pem") {
        return Err(format!("SigningCertURL {url} is not a .pem file"));
    }
    // Exactly `sns.<region>.amazonaws.com`: deeper names under amazonaws.com (S3's
    // `<bucket>.s3.amazonaws.com`) serve what anyone uploads.
    let aws = parsed.scheme() == "https"
        && host
            .strip_prefix("sns.")
            .and_then(|rest| {
                rest.strip_suffix(".amazonaws.com.cn")
                    .or_else(|| rest.strip_suffix(".amazonaws.com"))
            })
            .is_some_and(|region| engine::scope::Region::named(region).is_some());
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let local = host == "localhost" || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if aws || local || trust_hosts.iter().any(|h| h.eq_ignore_ascii_case(&host)) {
        Ok(())
    } else {
        Err(format!(
            "SigningCertURL {url} is neither AWS's (https://sns.<region>.amazonaws.com) nor this machine's; trust its host with --trust-host {host}"
        ))
    }
}

impl Listener {
    /// Checks the message's signature; the signature version when it holds.
    async fn verify(&self, message: &Value) -> Result<String, String> {
        let version = match message["SignatureVersion"].as_str() {
            Some("1") => delivery::SignatureVersion::V1,
            Some("2") => delivery::SignatureVersion::V2,
            Some(other) => return Err(format!("SignatureVersion {other:?} is neither 1 nor 2")),
            None => return Err("the message has no SignatureVersion".to_owned()),
        };
        let signature = message["Signature"]
            .as_str()
            .ok_or("the message has no Signature")?;
        let url = message["SigningCertURL"]
            .as_str()
            .ok_or("the message has no SigningCertURL")?;
        trusted_certificate_url(url, &self.trust_hosts)?;
        let text = delivery::received_string_to_sign(message)?;
        let pem = self.certificate(url).await?;
        delivery::verify(&pem, version, text.as_bytes(), signature).map_err(|e| {
            format!("{e}: the message is not what {url}'s key signed, or was altered")
        })?;
        Ok(version.as_str().to_owned())
    }

    async fn certificate(&self, url: &str) -> Result<String, String> {
        if let Some(pem) = self
            .certificates
            .lock()
            .ok()
            .and_then(|c| c.get(url).cloned())
        {
            return Ok(pem);
        }
        let fetched = async {
            let response = self.client.get(url).send().await?.error_for_status()?;
            response.text().await
        }
        .await
        .map_err(|e| format!("cannot fetch the signing certificate {url}: {e}"))?;
        if let Ok(mut cache) = self.certificates.lock() {
            cache.insert(url.to_owned(), fetched.clone());
        }
        Ok(fetched)
    }

    /// Visits the `SubscribeURL`, as SNS asks a subscriber to.
    async fn confirm(&self, message: &Value) -> Result<(), String> {
        let url = message["SubscribeURL"]
            .as_str()
            .ok_or("the confirmation has no SubscribeURL")?;
        let response = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| format!("cannot visit {url}: {e}"))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            let body = response.text().await.unwrap_or_default();
            Err(format!("{url} answered {status}: {}", body.trim()))
        }
    }

    fn print_refused(&self, why: &str) {
        let _guard = self.out.lock();
        if self.json {
            println!("{}", json!({"error": why}));
        } else {
            println!("{why}");
        }
    }

    fn print(&self, seen: &Seen) {
        let _guard = self.out.lock();
        if self.json {
            println!("{}", as_json(seen));
        } else {
            print!("{}", as_text(seen));
        }
    }
}

/// A CloudWatch alarm notification's `Message`, parsed, when it is one.
fn alarm_of(message: &Value) -> Option<Value> {
    let parsed: Value = serde_json::from_str(message["Message"].as_str()?).ok()?;
    parsed["AlarmName"].is_string().then_some(parsed)
}

fn as_json(seen: &Seen) -> Value {
    let m = &seen.message;
    let mut out = json!({
        "type": m["Type"],
        "message_id": m["MessageId"],
        "topic_arn": m["TopicArn"],
        "timestamp": m["Timestamp"],
        "signature": match &seen.verified {
            Ok(version) => json!({"verified": true, "version": version}),
            Err(why) => json!({"verified": false, "error": why}),
        },
        "refused": seen.verified.is_err(),
    });
    if let Some(subject) = m["Subject"].as_str() {
        out["subject"] = json!(subject);
    }
    match alarm_of(m) {
        Some(alarm) => {
            out["alarm"] = json!({
                "name": alarm["AlarmName"],
                "old_state": alarm["OldStateValue"],
                "new_state": alarm["NewStateValue"],
                "reason": alarm["NewStateReason"],
                "time": alarm["StateChangeTime"],
                "region": alarm["Region"],
            });
        }
        None => out["message"] = m["Message"].clone(),
    }
    if let Some(confirmed) = &seen.confirmed {
        out["confirmed"] = json!(confirmed.is_ok());
        if let Err(why) = confirmed {
            out["confirm_error"] = json!(why);
        }
    }
    out
}

/// A field of a message as one line of plain text: line breaks and terminal escapes in it are
/// shown escaped, so a message cannot print lines that look like others.
fn plain(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

fn as_text(seen: &Seen) -> String {
    let m = &seen.message;
    let field = |key: &str| m[key].as_str().map(plain);
    if let Err(why) = &seen.verified {
        // Nothing of a refused message is trusted: one line, every field escaped.
        return format!(
            "REFUSED {} from topic {} at {}: the signature does not check: {}\n",
            field("Type").unwrap_or_else(|| "(no Type)".into()),
            field("TopicArn").unwrap_or_else(|| "(no topic)".into()),
            field("Timestamp").unwrap_or_else(|| "(no time)".into()),
            plain(why)
        );
    }
    let topic = field("TopicArn").unwrap_or_else(|| "(no topic)".into());
    let topic_name = topic.rsplit(':').next().unwrap_or(&topic).to_owned();
    let time = field("Timestamp").unwrap_or_else(|| "(no time)".into());
    let signature = match &seen.verified {
        Ok(version) => format!("signature v{version} verified"),
        Err(why) => format!("REFUSED, the signature does not check: {why}"),
    };
    let kind = field("Type").unwrap_or_else(|| "(no Type)".into());
    let mut out = String::new();
    match (kind.as_str(), &seen.confirmed) {
        ("SubscriptionConfirmation", Some(Ok(()))) => {
            out.push_str(&format!(
                "{time}  subscription confirmed  topic {topic}  ({signature})\n"
            ));
        }
        ("SubscriptionConfirmation", Some(Err(why))) => {
            out.push_str(&format!(
                "{time}  subscription NOT confirmed  topic {topic}: {why}  ({signature})\n"
            ));
        }
        _ => match alarm_of(m) {
            Some(alarm) => {
                let s = |k: &str| plain(alarm[k].as_str().unwrap_or("?"));
                out.push_str(&format!(
                    "{time}  {}  {}  {} → {}  (topic {topic_name}, {signature})\n",
                    s("NewStateValue"),
                    s("AlarmName"),
                    s("OldStateValue"),
                    s("NewStateValue")
                ));
                out.push_str(&format!("    {}\n", s("NewStateReason")));
                if let Some(subject) = field("Subject") {
                    out.push_str(&format!("    subject: {subject}\n"));
                }
            }
            None => {
                out.push_str(&format!(
                    "{time}  {kind}  topic {topic_name}  ({signature})\n"
                ));
                if let Some(subject) = field("Subject") {
                    out.push_str(&format!("    subject: {subject}\n"));
                }
                let text = m["Message"].as_str().unwrap_or_default();
                for line in text.lines().take(20) {
                    out.push_str(&format!("    {}\n", plain(line)));
                }
            }
        },
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_fields_print_on_one_line() {
        assert_eq!(plain("ok → ALARM"), "ok → ALARM");
        assert_eq!(plain("a\nb\u{1b}[31m"), "a\\nb\\u{1b}[31m");
        let forged = Seen {
            message: json!({"Type": "Notification", "TopicArn": "t", "Timestamp": "x\n2026  ALARM  fake  OK → ALARM  (signature v1 verified)"}),
            verified: Err("bad".to_owned()),
            confirmed: None,
        };
        let text = as_text(&forged);
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(
            text.starts_with("REFUSED Notification from topic t at x\\n2026"),
            "{text}"
        );
    }

    #[test]
    fn certificates_come_from_aws_this_machine_or_a_trusted_host() {
        let ok = |url: &str| trusted_certificate_url(url, &["tw.example.com".to_owned()]);
        assert!(ok("https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-1.pem").is_ok());
        assert!(ok("https://sns.cn-north-1.amazonaws.com.cn/x.pem").is_ok());
        assert!(ok("http://127.0.0.1:4566/SimpleNotificationService-1.pem").is_ok());
        assert!(ok("http://[::1]:4566/c.pem").is_ok());
        assert!(ok("https://tw.example.com/c.pem").is_ok());
        // Over HTTP, AWS's host could be anyone's.
        assert!(ok("http://sns.eu-west-1.amazonaws.com/c.pem").is_err());
        assert!(ok("https://sns.evil.com/c.pem").is_err());
        // S3 serves `<bucket>.s3.amazonaws.com` for whoever owns the bucket `sns`.
        assert!(ok("https://sns.s3.amazonaws.com/c.pem").is_err());
        assert!(ok("https://sns.moon-1.amazonaws.com/c.pem").is_err());
        assert!(ok("https://attacker.example/sns.us-east-1.amazonaws.com.pem").is_err());
        assert!(ok("http://127.0.0.1:4566/cert").is_err());
    }
}
