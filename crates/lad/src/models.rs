//! Saved models on disk: one file per (source, host) under MODEL_BASE_DIR, written atomically.
//!
//! The path is `MODEL_BASE_DIR/<source>/<host>/model.lad`, each name percent-encoded so that any
//! host name (an IP address, `EXOS-VM`, even `../x`) maps to one folder inside the base. A save
//! writes a temporary file in the same folder, syncs it, renames it over the old one and syncs
//! the folder, so a kill at any moment leaves either the old model or the new one. A load that
//! finds a corrupt or incompatible file says so; the caller retrains, never half-loads.
//!
//! [`ModelRepo`] is the one way running code reaches models: the models in use by (source,
//! host), shared by every scoring worker, loaded from MODEL_BASE_DIR on demand and replaced as a
//! whole set when a retraining is ready, so any worker can score any (source, host).

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use lad_core::detector::HostModel;
use lad_core::model_file::{self, ModelFileError};
use lad_core::pattern::Miner;

/// File name of a saved model inside its folder.
pub const MODEL_FILE: &str = "model.lad";

/// Why a saved model could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ModelStoreError {
    /// No model has been saved for this (source, host).
    #[error("no saved model at {0}")]
    Missing(PathBuf),
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The file is not a usable model (corrupt, truncated, another version).
    #[error("{path}: {source}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        source: ModelFileError,
    },
    /// Something other than a regular file (a FIFO, a device, a folder) is where the file goes.
    #[error("{0}: not a regular file, so not read (a model file is a regular file)")]
    NotAFile(PathBuf),
    /// The file is larger than any model lad writes.
    #[error("{path}: {bytes} bytes, more than the {limit} bytes a model file may have")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        bytes: u64,
        /// [`MAX_FILE_BYTES`].
        limit: u64,
    },
}

/// The largest model or patterns file read (1 GiB): far above what a model of the largest
/// training window takes, and a bound on what a wrong file can make lad allocate.
pub const MAX_FILE_BYTES: u64 = 1 << 30;

/// Percent-encodes a source or host name into one safe path component.
pub fn path_component(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || (b == b'.' && !out.is_empty()) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out.is_empty() {
        out.push_str("%00");
    }
    out
}

/// Where the model of (source, host) lives under `base`.
pub fn model_path(base: &Path, source: &str, host: &str) -> PathBuf {
    base.join(path_component(source))
        .join(path_component(host))
        .join(MODEL_FILE)
}

/// File name of the live patterns of a (source, host), checkpointed beside its model.
pub const PATTERNS_FILE: &str = "patterns.lad";

/// Where the live patterns of (source, host) are checkpointed under `base`.
pub fn patterns_path(base: &Path, source: &str, host: &str) -> PathBuf {
    model_path(base, source, host).with_file_name(PATTERNS_FILE)
}

/// Saves a model atomically.
pub fn save(
    base: &Path,
    source: &str,
    host: &str,
    model: &HostModel,
) -> Result<PathBuf, ModelStoreError> {
    write_atomically(model_path(base, source, host), base, model)
}

/// Saves the live patterns of (source, host) atomically, in the model file format.
pub fn save_patterns(
    base: &Path,
    source: &str,
    host: &str,
    patterns: &Miner,
) -> Result<PathBuf, ModelStoreError> {
    write_atomically(patterns_path(base, source, host), base, patterns)
}

/// Loads the checkpointed live patterns of (source, host).
pub fn load_patterns(base: &Path, source: &str, host: &str) -> Result<Miner, ModelStoreError> {
    read_file(
        patterns_path(base, source, host),
        model_file::PATTERNS_SINCE,
    )
}

/// Writes `value` in the model file format to `path`: a temporary file in the same folder,
/// synced, renamed over the old one, then the folder synced.
fn write_atomically<T: serde::Serialize>(
    path: PathBuf,
    base: &Path,
    value: &T,
) -> Result<PathBuf, ModelStoreError> {
    let bytes = model_file::encode(value).map_err(|source| ModelStoreError::Invalid {
        path: path.clone(),
        source,
    })?;
    let io = |source| ModelStoreError::Io {
        path: path.clone(),
        source,
    };
    let dir = path.parent().unwrap_or(base);
    fs::create_dir_all(dir).map_err(io)?;
    let name = path
        .file_name()
        .map_or_else(|| MODEL_FILE.into(), |n| n.to_string_lossy());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    {
        let mut f = fs::File::create(&tmp).map_err(io)?;
        f.write_all(&bytes).map_err(io)?;
        f.sync_all().map_err(io)?;
    }
    fs::rename(&tmp, &path).map_err(io)?;
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(path)
}

/// Loads the saved model of (source, host).
pub fn load(base: &Path, source: &str, host: &str) -> Result<HostModel, ModelStoreError> {
    read_file(model_path(base, source, host), model_file::FORMAT_VERSION)
}

/// Reads a file in the model file format, of a version from `oldest` on.
///
/// Only a regular file is opened (opening a FIFO would wait for a writer for ever, and a device
/// such as `/dev/zero` never ends), and at most [`MAX_FILE_BYTES`] are read.
fn read_file<T: serde::de::DeserializeOwned>(
    path: PathBuf,
    oldest: u32,
) -> Result<T, ModelStoreError> {
    let meta = match fs::metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ModelStoreError::Missing(path))
        }
        Err(source) => return Err(ModelStoreError::Io { path, source }),
    };
    if !meta.is_file() {
        return Err(ModelStoreError::NotAFile(path));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(ModelStoreError::TooLarge {
            path,
            bytes: meta.len(),
            limit: MAX_FILE_BYTES,
        });
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    let read = fs::File::open(&path).and_then(|f| {
        std::io::Read::read_to_end(&mut std::io::Read::take(f, MAX_FILE_BYTES + 1), &mut bytes)
    });
    if let Err(source) = read {
        return Err(ModelStoreError::Io { path, source });
    }
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(ModelStoreError::TooLarge {
            path,
            bytes: bytes.len() as u64,
            limit: MAX_FILE_BYTES,
        });
    }
    model_file::decode_since(&bytes, oldest)
        .map_err(|source| ModelStoreError::Invalid { path, source })
}

/// The modification time of the saved model, if there is one (for the model-age metric).
pub fn saved_at(base: &Path, source: &str, host: &str) -> Option<std::time::SystemTime> {
    fs::metadata(model_path(base, source, host))
        .and_then(|m| m.modified())
        .ok()
}

/// A (source, host) pair: what one model is for.
pub type HostKey = (String, String);

/// Models in memory, by (source, host).
pub type Models = BTreeMap<HostKey, Arc<HostModel>>;

/// The models in use, shared by the workers that score and the thread that retrains: loaded
/// from MODEL_BASE_DIR on demand, replaced when a new one is ready. Readers take a snapshot
/// (a map of `Arc`s, cheap to copy), so a batch is scored with one consistent set of models
/// while a retraining swaps them in.
#[derive(Debug)]
pub struct ModelRepo {
    base_dir: PathBuf,
    models: RwLock<Models>,
}

impl ModelRepo {
    /// An empty repository over the saved models under `base_dir`.
    pub fn new(base_dir: &Path) -> Self {
        ModelRepo {
            base_dir: base_dir.to_path_buf(),
            models: RwLock::new(Models::new()),
        }
    }

    /// The models in use now.
    pub fn snapshot(&self) -> Models {
        self.models.read().map(|m| m.clone()).unwrap_or_default()
    }

    /// The model of (source, host) in use, if any.
    pub fn get(&self, key: &HostKey) -> Option<Arc<HostModel>> {
        self.models.read().ok()?.get(key).cloned()
    }

    /// Whether (source, host) has a model in use.
    pub fn contains(&self, key: &HostKey) -> bool {
        self.models.read().is_ok_and(|m| m.contains_key(key))
    }

    /// How many models are in use.
    pub fn len(&self) -> usize {
        self.models.read().map_or(0, |m| m.len())
    }

    /// Whether no model is in use.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Loads the saved models of `keys` into use; returns the keys loaded and, separately, those
    /// missing or unusable with the reason (to be trained).
    pub fn load(&self, keys: &[HostKey]) -> (Vec<HostKey>, Vec<(HostKey, ModelStoreError)>) {
        let mut loaded = Models::new();
        let mut missing = Vec::new();
        for (source, host) in keys {
            match load(&self.base_dir, source, host) {
                Ok(m) => {
                    loaded.insert((source.clone(), host.clone()), Arc::new(m));
                }
                Err(e) => missing.push(((source.clone(), host.clone()), e)),
            }
        }
        let keys = loaded.keys().cloned().collect();
        self.put(loaded);
        (keys, missing)
    }

    /// Keeps only the models `keep` accepts (a stream source's instance drops the hosts a
    /// rebalance gave to another instance); returns how many were dropped.
    pub fn retain(&self, keep: impl Fn(&HostKey) -> bool) -> usize {
        match self.models.write() {
            Ok(mut m) => {
                let before = m.len();
                m.retain(|k, _| keep(k));
                before - m.len()
            }
            Err(_) => 0,
        }
    }

    /// Puts models into use, replacing those of the same (source, host).
    pub fn put(&self, models: Models) {
        if let Ok(mut m) = self.models.write() {
            m.extend(models);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_files_are_refused_at_once() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = model_path(dir.path(), "logs", "h");
        fs::create_dir_all(path.parent().expect("a folder")).expect("mkdir");
        // /dev/zero in place of the model: refused, not read until memory runs out.
        std::os::unix::fs::symlink("/dev/zero", &path).expect("symlink");
        assert!(matches!(
            load(dir.path(), "logs", "h"),
            Err(ModelStoreError::NotAFile(_))
        ));
        fs::remove_file(&path).expect("rm");
        // A FIFO: refused, not opened (opening would wait for a writer for ever).
        let made = std::process::Command::new("mkfifo").arg(&path).status();
        if made.is_ok_and(|s| s.success()) {
            assert!(matches!(
                load(dir.path(), "logs", "h"),
                Err(ModelStoreError::NotAFile(_))
            ));
            fs::remove_file(&path).expect("rm");
        }
        // A folder.
        fs::create_dir(&path).expect("mkdir");
        assert!(matches!(
            load(dir.path(), "logs", "h"),
            Err(ModelStoreError::NotAFile(_))
        ));
    }

    #[test]
    fn names_stay_inside_the_base() {
        assert_eq!(path_component("172.17.18.178"), "172.17.18.178");
        assert_eq!(path_component("EXOS-VM"), "EXOS-VM");
        assert_eq!(path_component("../etc"), "%2E.%2Fetc");
        assert_eq!(path_component(".."), "%2E.");
        assert_eq!(path_component(""), "%00");
        assert_eq!(path_component("a/b c"), "a%2Fb%20c");
    }
}
