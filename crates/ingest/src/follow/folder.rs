//! A folder standing in for S3: bucket `B` is the folder `<dir>/B`, and an object's key is its
//! path under it, `/`-separated.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use engine::store::BoxFuture;
use engine::trails::BucketCheck;
use tokio::sync::Notify;

use super::{Buckets, Object, Unreadable};

/// A file written to less than this long ago may still be being written.
const SETTLE: Duration = Duration::from_secs(2);

/// Buckets as folders of a directory.
#[derive(Debug, Clone)]
pub struct Folder {
    dir: PathBuf,
}

impl Folder {
    pub fn new(dir: PathBuf) -> Folder {
        Folder { dir }
    }

    /// The folder of a bucket; `None` for a name that is not one folder's.
    fn bucket(&self, bucket: &str) -> Option<PathBuf> {
        let plain =
            !bucket.is_empty() && bucket != "." && bucket != ".." && !bucket.contains(['/', '\\']);
        plain.then(|| self.dir.join(bucket))
    }

    fn path(&self, bucket: &str, key: &str) -> Result<PathBuf, String> {
        let root = self
            .bucket(bucket)
            .ok_or_else(|| format!("{bucket} is not a bucket name"))?;
        // Only plain names: no `..`, no root, nothing that leaves the bucket's folder.
        if !Path::new(key)
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
        {
            return Err(format!("{key} is not a key of the folder"));
        }
        Ok(root.join(key))
    }

    /// Signals `wake` whenever something is written under the folder; the watcher stops
    /// when dropped.
    pub fn watch(&self, wake: Arc<Notify>) -> Result<notify::RecommendedWatcher, notify::Error> {
        use notify::Watcher;
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                if event.is_ok_and(|e| !e.kind.is_access() || is_closed_after_writing(&e.kind)) {
                    wake.notify_one();
                }
            })?;
        watcher.watch(&self.dir, notify::RecursiveMode::Recursive)?;
        Ok(watcher)
    }
}

fn is_closed_after_writing(kind: &notify::EventKind) -> bool {
    matches!(
        kind,
        notify::EventKind::Access(notify::event::AccessKind::Close(
            notify::event::AccessMode::Write
        ))
    )
}

impl BucketCheck for Folder {
    fn exists<'a>(&'a self, bucket: &'a str) -> BoxFuture<'a, Result<bool, String>> {
        Box::pin(async move { Ok(self.bucket(bucket).is_some_and(|p| p.is_dir())) })
    }
}

impl Buckets for Folder {
    fn list<'a>(
        &'a self,
        bucket: &'a str,
        prefix: &'a str,
        start_after: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Vec<String>, String>> {
        Box::pin(async move {
            let dir = self.path(bucket, prefix)?;
            let prefix = prefix.to_owned();
            let after = start_after.map(str::to_owned);
            tokio::task::spawn_blocking(move || {
                let mut keys = Vec::new();
                walk(&dir, &prefix, after.as_deref(), &mut keys);
                keys.sort();
                keys
            })
            .await
            .map_err(|e| e.to_string())
        })
    }

    fn children<'a>(
        &'a self,
        bucket: &'a str,
        prefix: &'a str,
    ) -> BoxFuture<'a, Result<Vec<String>, String>> {
        Box::pin(async move {
            let dir = self.path(bucket, prefix)?;
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
                Err(e) => return Err(format!("cannot list {}: {e}", dir.display())),
            };
            let mut names: Vec<String> = entries
                .filter_map(Result::ok)
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| !n.starts_with('.'))
                .collect();
            names.sort();
            Ok(names)
        })
    }

    fn get<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Object, Unreadable>> {
        Box::pin(async move {
            let lasting = |reason: String| Unreadable {
                reason,
                lasting: true,
            };
            let path = self.path(bucket, key).map_err(lasting)?;
            tokio::task::spawn_blocking(move || {
                // Only regular files: a pipe would block the reader for good.
                if !std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file()) {
                    return Err(lasting("not a regular file".to_owned()));
                }
                let bytes = std::fs::read(&path).map_err(|e| Unreadable {
                    reason: e.to_string(),
                    // Gone since it was listed: the next look lists again.
                    lasting: e.kind() != std::io::ErrorKind::NotFound,
                })?;
                let settled = std::fs::metadata(&path)
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|m| SystemTime::now().duration_since(m).ok())
                    .is_some_and(|age| age >= SETTLE);
                Ok(Object { bytes, settled })
            })
            .await
            .map_err(|e| Unreadable::passing(e.to_string()))?
        })
    }
}

/// The keys of the files under `dir` (whose key is `key`, ending in `/`) after `after`; folders
/// whose keys all come before `after` are not entered. Hidden files are left out.
fn walk(dir: &Path, key: &str, after: Option<&str>, keys: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            let sub = format!("{key}{name}/");
            let before = after.is_some_and(|a| sub.as_str() < a && !a.starts_with(sub.as_str()));
            if !before {
                walk(&entry.path(), &sub, after, keys);
            }
        } else if kind.is_file() {
            let file = format!("{key}{name}");
            if after.is_none_or(|a| file.as_str() > a) {
                keys.push(file);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_folder_lists_keys_after_a_key_and_never_leaves_its_bucket() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let day = |d: &str| {
            dir.path()
                .join(format!("b/AWSLogs/1/CloudTrail/us-east-1/2026/12/{d}"))
        };
        for d in ["06", "07"] {
            std::fs::create_dir_all(day(d)).expect("folders");
            std::fs::write(day(d).join("a.json.gz"), b"x").expect("a file");
            std::fs::write(day(d).join(".partial"), b"x").expect("a hidden file");
        }
        let folder = Folder::new(dir.path().to_owned());
        assert!(folder.exists("b").await.expect("checked"));
        assert!(!folder.exists("c").await.expect("checked"));
        assert!(!folder.exists("..").await.expect("checked"));
        let prefix = "AWSLogs/1/CloudTrail/us-east-1/";
        let all = folder.list("b", prefix, None).await.expect("listed");
        assert_eq!(
            all,
            [
                "AWSLogs/1/CloudTrail/us-east-1/2026/12/06/a.json.gz",
                "AWSLogs/1/CloudTrail/us-east-1/2026/12/07/a.json.gz"
            ]
        );
        let later = folder
            .list(
                "b",
                prefix,
                Some("AWSLogs/1/CloudTrail/us-east-1/2026/12/07"),
            )
            .await
            .expect("listed");
        assert_eq!(
            later,
            ["AWSLogs/1/CloudTrail/us-east-1/2026/12/07/a.json.gz"]
        );
        assert_eq!(
            folder
                .children("b", "AWSLogs/1/CloudTrail/")
                .await
                .expect("listed"),
            ["us-east-1"]
        );
        assert!(folder.get("b", "../../etc/passwd").await.is_err());
    }
}
