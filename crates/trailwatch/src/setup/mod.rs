//! Applying a configuration file: the plan of what changes, and its calls made against an
//! endpoint — the engine in this process (`serve --config`, `replay --config`) or any
//! AWS-compatible endpoint through the AWS SDK for Rust (`apply`, `config export`).

pub mod cis;
pub mod engine;
pub mod sdk;

use std::collections::BTreeMap;
use std::sync::Arc;

use config::plan::{Call, Change, Current, Verb};
use config::{File, Parsed};

/// An endpoint a file is applied to.
pub trait Target {
    /// What the endpoint has of what files describe.
    async fn current(&self) -> anyhow::Result<Current>;

    /// The region the endpoint is talked to in.
    fn region(&self) -> String;

    /// Makes one call of a plan, with alarm actions already made ARNs; answers the topic's
    /// ARN for `CreateTopic`. Errors read as the service's `Code: message`.
    async fn call(&self, call: &Call, file: &File, arns: &Arns) -> Result<Option<String>, String>;
}

/// Topic ARNs by topic name.
pub type Arns = BTreeMap<String, String>;

/// Makes the calls of `changes` in order; the first refused is the error, naming the item of
/// the file it was for.
pub async fn execute<T: Target>(
    target: &T,
    parsed: &Parsed,
    changes: &[Change],
    current: &Current,
) -> Result<(), config::Error> {
    let mut arns = current.topic_arns.clone();
    for change in changes {
        for call in &change.calls {
            match target.call(call, &parsed.file, &arns).await {
                Ok(Some(arn)) => {
                    if let Call::CreateTopic(i) = call {
                        arns.insert(parsed.file.topics[*i].name.clone(), arn);
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    let what = format!("{} {}", change.kind, change.name);
                    let message = format!("{what}: {e}");
                    return Err(match change.item {
                        Some(item) => parsed.error_at_item(item, &what, &e),
                        None => config::Error {
                            file: parsed.name().to_owned(),
                            line: 0,
                            key: String::new(),
                            message,
                        },
                    });
                }
            }
        }
    }
    Ok(())
}

/// Counts of a plan's changes, as `2 to create, 1 to update, 12 unchanged`, or once made
/// (`done`), `2 created, 1 updated, 12 unchanged`.
pub fn summary(changes: &[Change], done: bool) -> String {
    let count = |verb| changes.iter().filter(|c| c.verb == verb).count();
    let mut parts = Vec::new();
    let labels = if done {
        ["created", "updated", "deleted"]
    } else {
        ["to create", "to update", "to delete"]
    };
    for (verb, label) in [
        (Verb::Create, labels[0]),
        (Verb::Update, labels[1]),
        (Verb::Delete, labels[2]),
        (Verb::Unchanged, "unchanged"),
    ] {
        let n = count(verb);
        if n > 0 || verb == Verb::Unchanged {
            parts.push(format!("{n} {label}"));
        }
    }
    parts.join(", ")
}

/// Applies `parsed` to `target`: its plan, and its calls unless nothing changes. Answers the
/// plan.
pub async fn apply<T: Target>(
    target: &T,
    parsed: &Parsed,
    prune: bool,
) -> anyhow::Result<Vec<Change>> {
    let current = target.current().await?;
    let parsed = cis::with_pack(parsed, &current, &target.region())?;
    let changes = config::plan::plan(&parsed.file, &current, prune);
    execute(target, &parsed, &changes, &current).await?;
    Ok(changes)
}

/// An engine on a throw-away store and a clock that moves only when told: where `replay` runs
/// events, and where a file is tried before it is applied elsewhere.
pub struct Scratch {
    pub engine: Arc<::engine::Engine>,
    pub clock: Arc<::engine::ManualClock>,
    /// The default account in the given region.
    pub scope: ::engine::scope::Scope,
    /// Where the store is, removed when this is dropped.
    _dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new(region: &'static ::engine::scope::Region) -> anyhow::Result<Scratch> {
        let dir = tempfile::Builder::new()
            .prefix("trailwatch-scratch")
            .tempdir()?;
        let mut config = ::engine::Config::new(dir.path().to_owned(), "http://127.0.0.1");
        config.region = region;
        let scope = config.home();
        let store = store::SqliteStore::open_with(dir.path(), &scope, store::Durability::Scratch)?;
        let clock = Arc::new(::engine::ManualClock::at(0));
        let engine = ::engine::Engine::with_clock(config, Arc::new(store), clock.clone());
        Ok(Scratch {
            engine: Arc::new(engine),
            clock,
            scope,
            _dir: dir,
        })
    }

    /// Applies `parsed` here: whatever the engine refuses in it (a period CloudWatch does not
    /// take, a retention it does not know…) is an error naming the file's line, found before
    /// anything is applied where it counts.
    pub async fn check(&self, parsed: &Parsed) -> Result<(), config::Error> {
        let target = engine::EngineTarget {
            engine: &self.engine,
            scope: self.scope.clone(),
        };
        let parsed = cis::with_pack(parsed, &Current::default(), &self.scope.region().name)?;
        let changes = config::plan::plan(&parsed.file, &Current::default(), false);
        execute(&target, &parsed, &changes, &Current::default()).await
    }
}
