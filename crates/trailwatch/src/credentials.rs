//! `trailwatch credentials`: the `export` lines that point a terminal's AWS tools at a server,
//! read from its data directory.
//!
//! `serve` writes where it listens and its default region to `endpoint.json` at every start,
//! beside the key it generated on its first (`credentials.json`), so any terminal can be
//! prepared with `eval "$(trailwatch credentials)"`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;

/// The file where `serve` says where it listens.
pub(crate) const ENDPOINT_FILE: &str = "endpoint.json";

/// Where a server listens and its default region, as its last start wrote them.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct Endpoint {
    pub url: String,
    pub region: String,
}

/// Arguments of `trailwatch credentials`.
#[derive(clap::Args)]
pub struct Args {
    /// The server's data directory.
    #[arg(long, default_value = "./trailwatch-data")]
    data_dir: PathBuf,
}

/// Writes `endpoint.json` into the data directory.
pub(crate) fn write_endpoint(dir: &Path, url: &str, region: &str) -> anyhow::Result<()> {
    let endpoint = Endpoint {
        url: url.to_owned(),
        region: region.to_owned(),
    };
    let text = serde_json::to_string_pretty(&endpoint)? + "\n";
    let path = dir.join(ENDPOINT_FILE);
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// A value as one shell word.
fn shell_word(value: &str) -> String {
    if !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=@%+,".contains(&b))
    {
        value.to_owned()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
    }
}

/// How this binary is called from the current folder: `trailwatch` when the `PATH` finds it,
/// else its path (relative when it lies under the current folder, as after `cargo run`).
fn command_name() -> String {
    let Ok(exe) = std::env::current_exe() else {
        return "trailwatch".to_owned();
    };
    let on_path = std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            dir.join("trailwatch")
                .canonicalize()
                .is_ok_and(|found| exe.canonicalize().is_ok_and(|me| me == found))
        })
    });
    if on_path {
        return "trailwatch".to_owned();
    }
    let relative = std::env::current_dir()
        .ok()
        .and_then(|cwd| exe.strip_prefix(cwd).ok().map(Path::to_path_buf));
    shell_word(&relative.unwrap_or(exe).display().to_string())
}

/// How `serve` tells a user to prepare a terminal for the server on `dir`.
pub(crate) fn hint(dir: &Path) -> String {
    hint_for(&command_name(), dir)
}

fn hint_for(command: &str, dir: &Path) -> String {
    let dir = dir.display().to_string();
    if dir == "./trailwatch-data" {
        format!("eval \"$({command} credentials)\"")
    } else {
        format!(
            "eval \"$({command} credentials --data-dir {})\"",
            shell_word(&dir)
        )
    }
}

pub fn run(args: Args) -> ExitCode {
    match lines(&args.data_dir) {
        Ok(lines) => {
            print!("{lines}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("trailwatch credentials: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn lines(dir: &Path) -> anyhow::Result<String> {
    let credentials = crate::keys::read_credentials(dir)?.with_context(|| {
        format!(
            "{} has no credentials: start `trailwatch serve --data-dir {}` once",
            dir.display(),
            shell_word(&dir.display().to_string())
        )
    })?;
    let path = dir.join(ENDPOINT_FILE);
    let endpoint: Endpoint = match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)
            .with_context(|| format!("{} is not what serve writes", path.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => anyhow::bail!(
            "{} says nowhere the server listens: start `trailwatch serve --data-dir {}`",
            dir.display(),
            shell_word(&dir.display().to_string())
        ),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    Ok(format!(
        "export AWS_ACCESS_KEY_ID={}\nexport AWS_SECRET_ACCESS_KEY={}\nexport AWS_ENDPOINT_URL={}\nexport AWS_REGION={}\nexport AWS_DEFAULT_REGION={}\n",
        shell_word(&credentials.access_key_id),
        shell_word(&credentials.secret_access_key),
        shell_word(&endpoint.url),
        shell_word(&endpoint.region),
        shell_word(&endpoint.region),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_single_shell_words() {
        assert_eq!(shell_word("http://127.0.0.1:4566"), "http://127.0.0.1:4566");
        assert_eq!(shell_word("a b"), "'a b'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word(""), "''");
        assert_eq!(
            hint_for("trailwatch", Path::new("/srv/my data")),
            "eval \"$(trailwatch credentials --data-dir '/srv/my data')\""
        );
        assert_eq!(
            hint_for("target/release/trailwatch", Path::new("./trailwatch-data")),
            "eval \"$(target/release/trailwatch credentials)\""
        );
    }
}
