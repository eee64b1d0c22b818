//! The `trailwatch` binary: wiring only; the work is done by the library crates.

mod apply;
mod cis;
mod config_file;
mod credentials;
mod deliveries;
mod keys;
mod listen;
mod replay;
mod s3;
mod serve;
mod setup;
mod test_pattern;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Real-time monitoring of AWS API calls with CloudWatch-compatible metric filters.
#[derive(Parser)]
#[command(name = "trailwatch", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Test a CloudWatch Logs filter pattern against events, one per line.
    ///
    /// Exit status: 0 when the pattern is valid (whether or not anything matched), 2 when it is
    /// invalid (the reason on standard error), 1 for other errors. Give a pattern that begins
    /// with '-' after '--'.
    TestPattern(test_pattern::Args),
    /// Serve the CloudWatch Logs, CloudWatch and SNS APIs on one port.
    ///
    /// The first line on standard output is `listening on http://ADDR:PORT`. Requests are
    /// checked with SigV4 against TRAILWATCH_ACCESS_KEY_ID / TRAILWATCH_SECRET_ACCESS_KEY (or
    /// a key pair generated on first start and kept in the data directory) and the keys of
    /// `trailwatch keys`, and served in the signing key's account and the region they are
    /// signed for.
    Serve(serve::Args),
    /// List failed notifications, and queue them again, on a running server.
    ///
    /// Talks to the server's operator API, signed with AWS_ACCESS_KEY_ID and
    /// AWS_SECRET_ACCESS_KEY, or with the key pair in --data-dir.
    Deliveries(deliveries::Args),
    /// Add, list and remove access keys, each belonging to an account.
    ///
    /// A request is served in the account of the key that signed it; a key of one account
    /// never sees another account's resources. Works on a stopped or a running server.
    Keys(keys::Args),
    /// Print the `export` lines that point AWS tools at a server: its key, where it listens
    /// and its region, from its data directory. `eval "$(trailwatch credentials)"` prepares a
    /// terminal.
    Credentials(credentials::Args),
    /// An SNS HTTP endpoint: confirms subscriptions, checks every message's signature and
    /// prints each notification (alarm, old → new state, reason, time).
    ///
    /// The first line on standard output is `listening on http://ADDR:PORT`. Signing
    /// certificates are fetched only from AWS's SNS hosts (HTTPS), this machine, or hosts
    /// given with --trust-host; a message whose signature does not check is printed as such,
    /// and a confirmation that does not check is not confirmed. Ctrl-C stops.
    Listen(listen::Args),
    /// Run CloudTrail archives through metric filters and alarms: what each filter counts, and
    /// which alarms would have fired, and when.
    ///
    /// Reads S3 delivery folders, gzip or plain files, Records documents, JSON arrays, JSON
    /// lines and standard input (-); digests and other objects are skipped, and malformed
    /// files or events are reported and counted without stopping the run. Events are
    /// deduplicated on eventID. With --config, the file's alarms are evaluated on a clock driven
    /// by each event's eventTime, and every transition is reported with the actions it would
    /// run; nothing is sent. Exit status: 0 when the run completed (malformed input included),
    /// 2 for a usage error, a problem in the configuration, a bad pattern or a path that cannot
    /// be read.
    Replay(replay::Args),
    /// Make an endpoint match a configuration file: a trailwatch server or AWS itself.
    ///
    /// Prints the plan (create, update, unchanged), then makes its calls through the AWS SDK
    /// and its usual credential chain. A second run changes nothing. Nothing is deleted
    /// without --prune. The file is checked first; a problem in it is told with its line and
    /// key. Exit status: 0 when the endpoint matches the file, 1 when a call failed, 2 for a
    /// problem in the file or the arguments.
    Apply(apply::ApplyArgs),
    /// Configuration files: export an endpoint's, check one.
    Config(apply::ConfigArgs),
    /// The CIS AWS Foundations Benchmark monitoring controls: audit them by meaning, install
    /// what they need.
    Cis(cis::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::TestPattern(args) => test_pattern::run(args),
        Command::Deliveries(args) => match deliveries::run(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("trailwatch deliveries: {e:#}");
                ExitCode::FAILURE
            }
        },
        Command::Keys(args) => match keys::run(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("trailwatch keys: {e:#}");
                ExitCode::FAILURE
            }
        },
        Command::Credentials(args) => credentials::run(args),
        Command::Listen(args) => listen::run(args),
        Command::Replay(args) => replay::run(args),
        Command::Apply(args) => apply::apply(args),
        Command::Config(args) => apply::config(args),
        Command::Cis(args) => cis::run(args),
        Command::Serve(args) => match serve::run(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("trailwatch serve: {e:#}");
                ExitCode::FAILURE
            }
        },
    }
}
