//! The directory object store: one file per object, directly in one directory.
//!
//! Every file operation runs on tokio's blocking pool (`spawn_blocking`, or `tokio::fs`, which
//! does the same), never on the async executor.

use std::{
    fs::{self, File},
    io::{self, Write as _},
    path::{Component, Path, PathBuf},
    time::{Duration, SystemTime},
};

use anyhow::{Context as _, anyhow};
use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use tokio_util::io::ReaderStream;
use um_domain::{
    model::PictureKey,
    ports::{ObjectInfo, ObjectStore, StoreError, StoredObject},
};

use crate::key_etag;

/// Files being written start with this; they are never listed and never served.
const TEMP_PREFIX: &str = ".tmp-";

/// Temporary files older than this are leftovers of a crash and removed by
/// [`DirectoryObjectStore::new`]; younger ones may belong to another running instance.
const STALE_TEMP_AGE: Duration = Duration::from_secs(3600);

/// An [`ObjectStore`] in a local directory: the object under key `k` is the file `<root>/k`.
///
/// Writes go to a temporary file in the same directory, are flushed to disk and then renamed
/// over the target, so a reader sees the whole object or none. Picture keys are 32 hex digits
/// and an extension: they hold no separator and cannot name anything outside the root (checked
/// again before each use).
#[derive(Debug, Clone)]
pub struct DirectoryObjectStore {
    root: PathBuf,
}

impl DirectoryObjectStore {
    /// Uses `root`, creating it when missing, and removes temporary files left there by a
    /// crash more than an hour ago. Blocks briefly: call it while starting up.
    ///
    /// # Errors
    /// When the directory cannot be created or read.
    pub fn new(root: impl Into<PathBuf>) -> anyhow::Result<Self> {
        let root = root.into();
        fs::create_dir_all(&root).with_context(|| {
            format!("could not create the picture directory {}", root.display())
        })?;
        let root = root.canonicalize().with_context(|| {
            format!("could not resolve the picture directory {}", root.display())
        })?;
        if let Err(error) = remove_stale_temp_files(&root) {
            tracing::warn!(
                directory = %root.display(),
                error = %error,
                "could not remove leftover temporary files"
            );
        }
        Ok(Self { root })
    }

    /// The directory, absolute.
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<root>/<key>`, after making sure that the key is one plain file name.
    fn path_of(&self, key: &PictureKey) -> Result<PathBuf, StoreError> {
        let name = key.as_str();
        let mut components = Path::new(name).components();
        let plain = matches!(
            (components.next(), components.next()),
            (Some(Component::Normal(only)), None) if only == name
        );
        if !plain || name.contains(['/', '\\']) || name.starts_with('.') {
            return Err(StoreError::Other(anyhow!(
                "refusing the key {name:?}: not a plain file name"
            )));
        }
        Ok(self.root.join(name))
    }

    fn what(&self, operation: &str, key: Option<&PictureKey>) -> String {
        match key {
            Some(key) => format!("{operation} {}", self.root.join(key.as_str()).display()),
            None => format!("{operation} {}", self.root.display()),
        }
    }
}

#[async_trait]
impl ObjectStore for DirectoryObjectStore {
    async fn put(&self, key: &PictureKey, bytes: Bytes) -> Result<(), StoreError> {
        let target = self.path_of(key)?;
        let root = self.root.clone();
        let temp = temp_path(&self.root, key.as_str());
        blocking(move || write_atomically(&root, &temp, &target, &bytes))
            .await
            .map_err(|error| store_error(error, self.what("writing", Some(key))))
    }

    async fn get(&self, key: &PictureKey) -> Result<Option<StoredObject>, StoreError> {
        let path = self.path_of(key)?;
        let what = || self.what("reading", Some(key));
        let file = match tokio::fs::File::open(&path).await {
            Ok(file) => file,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(store_error(error, what())),
        };
        // The open handle keeps reading this very file even if it is replaced or removed now.
        let metadata = file
            .metadata()
            .await
            .map_err(|error| store_error(error, what()))?;
        if !metadata.is_file() {
            return Err(StoreError::Other(
                anyhow!("not a regular file").context(what()),
            ));
        }
        Ok(Some(StoredObject {
            content_type: key.content_type().to_owned(),
            etag: key_etag(key),
            length: Some(metadata.len()),
            body: Box::pin(ReaderStream::new(file)),
        }))
    }

    async fn delete(&self, key: &PictureKey) -> Result<(), StoreError> {
        let path = self.path_of(key)?;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(error) => Err(store_error(error, self.what("removing", Some(key)))),
        }
    }

    async fn list(&self) -> Result<Vec<ObjectInfo>, StoreError> {
        let root = self.root.clone();
        blocking(move || list_objects(&root))
            .await
            .map_err(|error| store_error(error, self.what("listing", None)))
    }

    /// The directory must exist and take a new file; every failure is `Unavailable`.
    async fn ping(&self) -> Result<(), StoreError> {
        let root = self.root.clone();
        let probe = temp_path(&self.root, "ping");
        blocking(move || {
            if !fs::metadata(&root)?.is_dir() {
                return Err(io::Error::new(
                    io::ErrorKind::NotADirectory,
                    "not a directory",
                ));
            }
            File::create_new(&probe)?;
            fs::remove_file(&probe)
        })
        .await
        .map_err(|error| {
            StoreError::Unavailable(anyhow::Error::new(error).context(self.what("checking", None)))
        })
    }
}

/// A fresh, unique temporary file name in `root` (random, so that instances sharing the
/// directory, each perhaps pid 1 in its container, never collide).
fn temp_path(root: &Path, purpose: &str) -> PathBuf {
    root.join(format!(
        "{TEMP_PREFIX}{:016x}-{purpose}",
        rand::random::<u64>()
    ))
}

/// Writes `bytes` to `temp`, flushes it to disk, renames it to `target` and flushes the
/// directory, so that the object survives a crash whole or not at all. The temporary file is
/// removed when anything fails.
fn write_atomically(root: &Path, temp: &Path, target: &Path, bytes: &[u8]) -> io::Result<()> {
    let result = (|| {
        let mut file = File::create_new(temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(temp, target)?;
        sync_directory(root)
    })();
    if result.is_err() {
        let _ignored = fs::remove_file(temp);
    }
    result
}

/// Makes a rename in `dir` durable (POSIX needs the directory itself flushed).
#[cfg(unix)]
fn sync_directory(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_directory(_dir: &Path) -> io::Result<()> {
    Ok(())
}

/// Every regular file directly in `root` but the temporary ones, with its modification time.
fn list_objects(root: &Path) -> io::Result<Vec<ObjectInfo>> {
    let mut objects = Vec::new();
    for entry in fs::read_dir(root)? {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            tracing::warn!(file = ?entry.path(), "skipping a file whose name is not UTF-8");
            continue;
        };
        if name.starts_with(TEMP_PREFIX) {
            continue;
        }
        // Neither followed nor listed: directories, symbolic links, sockets…
        let metadata = match entry.metadata() {
            Ok(metadata) => metadata,
            // Removed since read_dir saw it.
            Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
            Err(error) => return Err(error),
        };
        if !metadata.is_file() {
            continue;
        }
        objects.push(ObjectInfo {
            key: name,
            last_modified: DateTime::<Utc>::from(metadata.modified()?),
        });
    }
    Ok(objects)
}

fn remove_stale_temp_files(root: &Path) -> io::Result<()> {
    let now = SystemTime::now();
    for entry in fs::read_dir(root)? {
        let entry = entry?;
        if !entry
            .file_name()
            .to_str()
            .is_some_and(|name| name.starts_with(TEMP_PREFIX))
        {
            continue;
        }
        let metadata = entry.metadata()?;
        let age = now.duration_since(metadata.modified()?).unwrap_or_default();
        if metadata.is_file() && age > STALE_TEMP_AGE {
            fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

/// Runs blocking file I/O on tokio's blocking pool.
async fn blocking<T, F>(work: F) -> io::Result<T>
where
    F: FnOnce() -> io::Result<T> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(io::Error::other)?
}

/// A missing or read-only directory, a full disk or denied access make the store
/// `Unavailable` (an operator can fix it, then it works again); anything else is `Other`.
fn store_error(error: io::Error, what: String) -> StoreError {
    use io::ErrorKind::{
        Interrupted, NotFound, PermissionDenied, QuotaExceeded, ReadOnlyFilesystem, ResourceBusy,
        StaleNetworkFileHandle, StorageFull, TimedOut, WouldBlock,
    };
    let unavailable = matches!(
        error.kind(),
        NotFound
            | PermissionDenied
            | ReadOnlyFilesystem
            | StorageFull
            | QuotaExceeded
            | ResourceBusy
            | StaleNetworkFileHandle
            | TimedOut
            | Interrupted
            | WouldBlock
    );
    let error = anyhow::Error::new(error).context(what);
    if unavailable {
        StoreError::Unavailable(error)
    } else {
        StoreError::Other(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use um_domain::model::PictureFormat;

    #[test]
    fn objects_live_directly_in_the_root() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = DirectoryObjectStore::new(dir.path()).expect("store");
        for format in [PictureFormat::Jpeg, PictureFormat::Png] {
            let key = PictureKey::generate(format);
            let path = store.path_of(&key).expect("a plain key");
            assert_eq!(path.parent(), Some(store.root()));
            assert_eq!(
                path.file_name().and_then(|n| n.to_str()),
                Some(key.as_str())
            );
        }
    }

    #[test]
    fn stale_temporary_files_are_removed_and_fresh_ones_kept() {
        let dir = tempfile::tempdir().expect("temp dir");
        let stale = dir.path().join(format!("{TEMP_PREFIX}0-stale.jpg"));
        let fresh = dir.path().join(format!("{TEMP_PREFIX}1-fresh.jpg"));
        let object = dir.path().join("old-object.jpg");
        let two_hours_ago = SystemTime::now() - Duration::from_secs(7200);
        for path in [&stale, &fresh, &object] {
            File::create(path).expect("create");
        }
        for path in [&stale, &object] {
            File::options()
                .write(true)
                .open(path)
                .and_then(|file| file.set_modified(two_hours_ago))
                .expect("set mtime");
        }

        DirectoryObjectStore::new(dir.path()).expect("store");

        assert!(!stale.exists(), "a stale temporary file was kept");
        assert!(fresh.exists(), "a fresh temporary file was removed");
        assert!(object.exists(), "an object was removed");
    }

    #[test]
    fn io_errors_of_an_operator_fixable_kind_are_unavailable() {
        let kinds = [
            (io::ErrorKind::NotFound, true),
            (io::ErrorKind::PermissionDenied, true),
            (io::ErrorKind::StorageFull, true),
            (io::ErrorKind::InvalidData, false),
        ];
        for (kind, unavailable) in kinds {
            let error = store_error(io::Error::from(kind), String::new());
            assert_eq!(
                matches!(error, StoreError::Unavailable(_)),
                unavailable,
                "{kind:?}"
            );
        }
    }
}
