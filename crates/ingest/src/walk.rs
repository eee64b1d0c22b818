//! From the paths a user names to files: folders walked in name order, standard input as `-`,
//! digest files and other objects passed over.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::shape;
use crate::{Content, ContentKind, Malformed, Position, Skip, Visitor};

/// A path named to [`read_paths`] that is not there to read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read {}: {reason}", path.display())]
pub struct Unreadable {
    pub path: PathBuf,
    pub reason: String,
}

/// Reads every event of `paths` in order, telling `visitor` what it finds. A named path that
/// cannot be read at all is an error, found before anything is read; everything met after that
/// (a file that cannot be read or parsed, a bad event) is told to `visitor` and passed over.
pub fn read_paths(paths: &[PathBuf], visitor: &mut dyn Visitor) -> Result<(), Unreadable> {
    for path in paths {
        if path.as_os_str() == "-" {
            continue;
        }
        std::fs::metadata(path).map_err(|e| Unreadable {
            path: path.clone(),
            reason: e.to_string(),
        })?;
    }
    for path in paths {
        if path.as_os_str() == "-" {
            read_stream("-", &mut std::io::stdin().lock(), visitor);
        } else if path.is_dir() {
            walk(path, visitor);
        } else {
            read_file(path, visitor);
        }
    }
    Ok(())
}

/// The bytes, as stored, of every file [`read_paths`] would read; `None` when one of the
/// paths is standard input, whose size is not known until it ends.
pub fn stored_bytes(paths: &[PathBuf]) -> Option<u64> {
    let size = |path: &Path| std::fs::metadata(path).map_or(0, |m| m.len());
    paths
        .iter()
        .map(|path| {
            if path.as_os_str() == "-" {
                None
            } else if path.is_dir() {
                let mut total = 0;
                each_in_folder(path, &mut |found| {
                    if let Found::File(file, None) = found {
                        total += size(file);
                    }
                });
                Some(total)
            } else if is_digest(path) {
                Some(0)
            } else {
                Some(size(path))
            }
        })
        .sum()
}

/// Reads every event of a stream (standard input is `-`), in any shape a file may have.
pub fn read_stream(name: &str, stream: &mut dyn Read, visitor: &mut dyn Visitor) {
    let mut counted = Counted {
        inner: stream,
        bytes: 0,
    };
    read_from(name, &mut counted, visitor);
    visitor.file(name, counted.bytes);
}

/// [`read_stream`] of a file held whole in memory (an object fetched from a bucket).
pub fn read_bytes(name: &str, bytes: &[u8], visitor: &mut dyn Visitor) {
    if let Err(e) = shape::read_bytes(name, bytes, visitor) {
        unreadable(visitor, name, &e);
    }
    visitor.file(name, bytes.len() as u64);
}

/// A reader that counts the bytes it gives.
struct Counted<'r> {
    inner: &'r mut dyn Read,
    bytes: u64,
}

impl Read for Counted<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
}

/// Reads a stream's events; a stream that breaks off (a cut gzip file, a read error) is told
/// as malformed, after the events read before it.
fn read_from(name: &str, stream: &mut dyn Read, visitor: &mut dyn Visitor) {
    if let Err(e) = shape::read_stream(name, stream, visitor) {
        unreadable(visitor, name, &e);
    }
}

fn unreadable(visitor: &mut dyn Visitor, path: &str, e: &std::io::Error) {
    visitor.malformed(Malformed {
        path: path.to_owned(),
        position: Position::File,
        reason: format!("cannot read: {e}"),
    });
}

/// What a folder holds, as [`each_in_folder`] finds it.
enum Found<'p> {
    /// A file, and why it is to be passed over if it is.
    File(&'p Path, Option<Skip>),
    /// A folder that could not be listed.
    Unlisted(&'p Path, std::io::Error),
}

/// Every file under `dir`, in name order (in the S3 layout, time order), with folders entered
/// as they come.
fn each_in_folder(dir: &Path, found: &mut dyn FnMut(Found<'_>)) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => return found(Found::Unlisted(dir, e)),
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            each_in_folder(&path, found);
        } else {
            found(Found::File(&path, skip_in_folder(&path)));
        }
    }
}

fn walk(dir: &Path, visitor: &mut dyn Visitor) {
    each_in_folder(dir, &mut |found| match found {
        Found::File(path, None) => read_file(path, visitor),
        Found::File(path, Some(why)) => visitor.skipped(&path.display().to_string(), why),
        Found::Unlisted(path, e) => unreadable(visitor, &path.display().to_string(), &e),
    });
}

/// Whether a file met in a folder is one to pass over, and why.
fn skip_in_folder(path: &Path) -> Option<Skip> {
    if is_digest(path) {
        return Some(Skip::Digest);
    }
    let name = path.file_name()?.to_string_lossy();
    let insight = path
        .components()
        .any(|c| c.as_os_str() == "CloudTrail-Insight");
    let extension = [".json", ".json.gz", ".jsonl", ".ndjson", ".gz", ".jsonl.gz"]
        .iter()
        .any(|ext| name.ends_with(ext));
    (name.starts_with('.') || insight || !extension).then_some(Skip::Other)
}

/// CloudTrail's digest files: `AWSLogs/<account>/CloudTrail-Digest/…`, named
/// `<account>_CloudTrail-Digest_<region>_…json.gz`.
fn is_digest(path: &Path) -> bool {
    path.components()
        .any(|c| c.as_os_str() == "CloudTrail-Digest")
        || path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().contains("_CloudTrail-Digest_"))
}

/// Files up to this size (as stored) are read whole and handed over as they are, to be
/// inflated and parsed where the visitor reads content: CloudTrail's delivery files, a few
/// hundred kilobytes each, are read many at once. A larger one is read (and inflated) here a
/// chunk at a time, and its chunks of whole lines handed over, so that one large file is
/// parsed many chunks at once too.
const WHOLE: u64 = 4 << 20;

fn read_file(path: &Path, visitor: &mut dyn Visitor) {
    let shown = path.display().to_string();
    if is_digest(path) {
        return visitor.skipped(&shown, Skip::Digest);
    }
    match std::fs::File::open(path) {
        Ok(mut file) => {
            let stored = file.metadata().map_or(0, |m| m.len());
            if stored <= WHOLE {
                let mut bytes = Vec::with_capacity(stored as usize);
                match file.read_to_end(&mut bytes) {
                    Ok(_) => crate::hand_over(
                        visitor,
                        Content {
                            path: shown.clone(),
                            kind: ContentKind::Stored(bytes),
                        },
                    ),
                    Err(e) => unreadable(visitor, &shown, &e),
                }
            } else {
                read_from(&shown, &mut file, visitor);
            }
            visitor.file(&shown, stored);
        }
        Err(e) => unreadable(visitor, &shown, &e),
    }
}

/// Reads a whole file's content as stored.
pub(crate) fn read_stored(path: &str, bytes: &[u8], visitor: &mut dyn Visitor) {
    read_from(path, &mut &bytes[..], visitor);
}
