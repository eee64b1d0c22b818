//! Access keys, each belonging to an account: `trailwatch keys add|list|remove`, and the key
//! ring `serve` checks signatures against.
//!
//! The data directory holds the first key (`credentials.json`, generated on first start, of
//! the server's `--account-id`) and the keys added since (`keys.json`, each with its account);
//! both are written with mode 0600 and their secrets are never logged. `TRAILWATCH_ACCESS_KEY_ID`
//! and `TRAILWATCH_SECRET_ACCESS_KEY` give one more key, of the server's account. A running
//! server sees keys added or removed within a second, and an added key at once.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context as _, bail};

/// The first key of a data directory, generated on first start.
pub(crate) const CREDENTIALS_FILE: &str = "credentials.json";
/// The keys added with `trailwatch keys add`.
pub(crate) const KEYS_FILE: &str = "keys.json";

/// The first key: `{"access_key_id": …, "secret_access_key": …}`.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct StoredCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

/// A key added with `trailwatch keys add`.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct AddedKey {
    pub access_key_id: String,
    pub secret_access_key: String,
    /// `None`: the server's `--account-id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// When it was added, ISO 8601.
    pub created: String,
}

#[derive(Default, serde::Serialize, serde::Deserialize)]
struct KeysFile {
    keys: Vec<AddedKey>,
}

/// The first key of `dir`, if a start has generated it.
pub(crate) fn read_credentials(dir: &Path) -> anyhow::Result<Option<StoredCredentials>> {
    read_json(&dir.join(CREDENTIALS_FILE))
}

fn read_keys(dir: &Path) -> anyhow::Result<Vec<AddedKey>> {
    Ok(read_json::<KeysFile>(&dir.join(KEYS_FILE))?
        .map(|f| f.keys)
        .unwrap_or_default())
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> anyhow::Result<Option<T>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let value =
        serde_json::from_str(&text).with_context(|| format!("{} is not valid", path.display()))?;
    Ok(Some(value))
}

/// A new key pair: key ids of 20 upper-case alphanumerics, secrets of 40 characters, as on
/// AWS.
fn new_key_pair() -> StoredCredentials {
    let random = || uuid::Uuid::new_v4().simple().to_string().to_uppercase();
    StoredCredentials {
        access_key_id: format!("TW{}", &random()[..18]),
        secret_access_key: format!("{}{}", random(), &random()[..8]),
    }
}

/// The first key of `dir`, generated now (and kept) if no start has yet; `true` if it was.
pub(crate) fn first_key(dir: &Path) -> anyhow::Result<(StoredCredentials, bool)> {
    if let Some(c) = read_credentials(dir)? {
        return Ok((c, false));
    }
    let c = new_key_pair();
    write_private(
        &dir.join(CREDENTIALS_FILE),
        &serde_json::to_string_pretty(&c)?,
    )?;
    Ok((c, true))
}

/// Writes `text` to `path` so that only its owner can read it, replacing it whole: a reader
/// sees the old file or the new one, never a part.
pub(crate) fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let tmp = dir.join(format!(
        ".{}.{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        uuid::Uuid::new_v4().simple()
    ));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(&tmp)
        .with_context(|| format!("cannot create {}", tmp.display()))?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Every key of a running server, reread when its files change.
pub(crate) struct KeyRing {
    dir: PathBuf,
    /// The environment's key, of the server's account.
    env: Option<StoredCredentials>,
    loaded: Mutex<Loaded>,
}

struct Loaded {
    checked: Instant,
    stamps: [Option<Stamp>; 2],
    keys: HashMap<String, aws::Key>,
}

/// What tells a key file changed: every write replaces the file (a new inode), and a time or
/// length that differs tells too where inodes are not kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

fn stamp(path: &Path) -> Option<Stamp> {
    let m = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&m);
    #[cfg(not(unix))]
    let inode = 0;
    Some(Stamp {
        modified: m.modified().ok(),
        len: m.len(),
        inode,
    })
}

/// How often the key files are looked at for changes.
const RECHECK: Duration = Duration::from_secs(1);
/// How soon after a look an unknown key makes another (so that a key just added works at once,
/// and a flood of unknown keys costs at most this many looks a second).
const RECHECK_UNKNOWN: Duration = Duration::from_millis(50);

impl KeyRing {
    /// The keys of `dir`; `env`, the environment's key, stands in for the generated first key
    /// (as it always has: setting it is how that key is replaced).
    pub(crate) fn open(dir: &Path, env: Option<StoredCredentials>) -> anyhow::Result<KeyRing> {
        let ring = KeyRing {
            dir: dir.to_owned(),
            env,
            loaded: Mutex::new(Loaded {
                checked: Instant::now(),
                stamps: [None, None],
                keys: HashMap::new(),
            }),
        };
        // Stamps first: a change made while the files are read is seen by the next look.
        let stamps = ring.stamps();
        let keys = ring.read()?;
        let mut loaded = ring.lock();
        loaded.stamps = stamps;
        loaded.keys = keys;
        drop(loaded);
        Ok(ring)
    }

    /// Whether no key at all may sign.
    pub(crate) fn is_empty(&self) -> bool {
        self.lock().keys.is_empty()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Loaded> {
        self.loaded.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn stamps(&self) -> [Option<Stamp>; 2] {
        [
            stamp(&self.dir.join(CREDENTIALS_FILE)),
            stamp(&self.dir.join(KEYS_FILE)),
        ]
    }

    fn read(&self) -> anyhow::Result<HashMap<String, aws::Key>> {
        let mut keys = HashMap::new();
        let ours = |secret: String| aws::Key {
            secret_access_key: secret,
            account_id: None,
        };
        if self.env.is_none()
            && let Some(c) = read_credentials(&self.dir)?
        {
            keys.insert(c.access_key_id, ours(c.secret_access_key));
        }
        for k in read_keys(&self.dir)? {
            let key = aws::Key {
                secret_access_key: k.secret_access_key,
                account_id: k.account_id,
            };
            keys.insert(k.access_key_id, key);
        }
        if let Some(c) = &self.env {
            keys.insert(c.access_key_id.clone(), ours(c.secret_access_key.clone()));
        }
        Ok(keys)
    }

    /// Rereads the files if they changed since the last look; a file that cannot be read
    /// keeps the keys already known (and says so), rather than locking everyone out.
    fn refresh(&self, loaded: &mut Loaded) {
        loaded.checked = Instant::now();
        let stamps = self.stamps();
        if stamps == loaded.stamps {
            return;
        }
        // The stamps are taken before the read, as in `open`.
        match self.read() {
            Ok(keys) => {
                loaded.keys = keys;
                loaded.stamps = stamps;
            }
            Err(e) => tracing::error!(error = %format!("{e:#}"), "Cannot reread the keys."),
        }
    }
}

impl aws::KeyRing for KeyRing {
    fn key(&self, access_key_id: &str) -> Option<aws::Key> {
        let mut loaded = self.lock();
        if loaded.checked.elapsed() >= RECHECK {
            self.refresh(&mut loaded);
        }
        if let Some(key) = loaded.keys.get(access_key_id) {
            return Some(key.clone());
        }
        if loaded.checked.elapsed() >= RECHECK_UNKNOWN {
            self.refresh(&mut loaded);
        }
        loaded.keys.get(access_key_id).cloned()
    }
}

/// Arguments of `trailwatch keys`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Add a key; prints it as `export` lines, the only time its secret is shown.
    Add {
        #[command(flatten)]
        dir: DataDir,
        /// The account the key belongs to, twelve digits (default: the server's --account-id).
        #[arg(long, value_parser = crate::serve::parse_account_id)]
        account_id: Option<String>,
        /// What the key is for.
        #[arg(long)]
        description: Option<String>,
    },
    /// List the keys, without their secrets.
    List {
        #[command(flatten)]
        dir: DataDir,
    },
    /// Remove a key; a running server refuses it within a second.
    Remove {
        #[command(flatten)]
        dir: DataDir,
        /// The access key id.
        access_key_id: String,
    },
}

#[derive(clap::Args)]
struct DataDir {
    /// The server's data directory.
    #[arg(long, default_value = "./trailwatch-data")]
    data_dir: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Command::Add {
            dir,
            account_id,
            description,
        } => add(&dir.data_dir, account_id, description),
        Command::List { dir } => list(&dir.data_dir),
        Command::Remove { dir, access_key_id } => remove(&dir.data_dir, &access_key_id),
    }
}

/// Holds the data directory's key lock: `keys add` and `keys remove` read, change and rewrite
/// `keys.json`, and two at once would lose one's change.
fn lock_keys(dir: &Path) -> anyhow::Result<std::fs::File> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join("keys.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    file.lock()
        .with_context(|| format!("cannot lock {}", path.display()))?;
    Ok(file)
}

fn add(dir: &Path, account_id: Option<String>, description: Option<String>) -> anyhow::Result<()> {
    let _lock = lock_keys(dir)?;
    let mut keys = read_keys(dir)?;
    let pair = new_key_pair();
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    keys.push(AddedKey {
        access_key_id: pair.access_key_id.clone(),
        secret_access_key: pair.secret_access_key.clone(),
        account_id: account_id.clone(),
        description,
        created: engine::format::iso8601_time(now),
    });
    write_private(
        &dir.join(KEYS_FILE),
        &serde_json::to_string_pretty(&KeysFile { keys })?,
    )?;
    println!("export AWS_ACCESS_KEY_ID={}", pair.access_key_id);
    println!("export AWS_SECRET_ACCESS_KEY={}", pair.secret_access_key);
    eprintln!(
        "Added {} for account {}.",
        pair.access_key_id,
        account_id
            .as_deref()
            .unwrap_or("of the server (--account-id)")
    );
    Ok(())
}

fn list(dir: &Path) -> anyhow::Result<()> {
    println!(
        "{:<22} {:<14} {:<26} DESCRIPTION",
        "ACCESS KEY ID", "ACCOUNT", "CREATED"
    );
    let server = "--account-id";
    if let Some(c) = read_credentials(dir)? {
        println!(
            "{:<22} {:<14} {:<26} generated on first start",
            c.access_key_id, server, "-"
        );
    }
    for k in read_keys(dir)? {
        println!(
            "{:<22} {:<14} {:<26} {}",
            k.access_key_id,
            k.account_id.as_deref().unwrap_or(server),
            k.created,
            k.description.as_deref().unwrap_or("")
        );
    }
    Ok(())
}

fn remove(dir: &Path, access_key_id: &str) -> anyhow::Result<()> {
    let _lock = lock_keys(dir)?;
    if read_credentials(dir)?.is_some_and(|c| c.access_key_id == access_key_id) {
        // The next start with no key left generates a new first key.
        let path = dir.join(CREDENTIALS_FILE);
        std::fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
        eprintln!("Removed {access_key_id}.");
        return Ok(());
    }
    let mut keys = read_keys(dir)?;
    let before = keys.len();
    keys.retain(|k| k.access_key_id != access_key_id);
    if keys.len() == before {
        bail!("no key {access_key_id} in {}", dir.display());
    }
    write_private(
        &dir.join(KEYS_FILE),
        &serde_json::to_string_pretty(&KeysFile { keys })?,
    )?;
    eprintln!("Removed {access_key_id}.");
    Ok(())
}
