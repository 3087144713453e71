//! Saved models on disk: one file per (source, host) under MODEL_BASE_DIR, written atomically.
//!
//! The path is `MODEL_BASE_DIR/<source>/<host>/model.lad`, each name percent-encoded so that any
//! host name (an IP address, `EXOS-VM`, even `../x`) maps to one folder inside the base. A save
//! writes a temporary file in the same folder, syncs it, renames it over the old one and syncs
//! the folder, so a kill at any moment leaves either the old model or the new one. A load that
//! finds a corrupt or incompatible file says so; the caller retrains, never half-loads.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use lad_core::detector::HostModel;
use lad_core::model_file::{self, ModelFileError};

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
}

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

/// Saves a model atomically.
pub fn save(
    base: &Path,
    source: &str,
    host: &str,
    model: &HostModel,
) -> Result<PathBuf, ModelStoreError> {
    let path = model_path(base, source, host);
    let bytes = model_file::encode(model).map_err(|source| ModelStoreError::Invalid {
        path: path.clone(),
        source,
    })?;
    let io = |source| ModelStoreError::Io {
        path: path.clone(),
        source,
    };
    let dir = path.parent().unwrap_or(base);
    fs::create_dir_all(dir).map_err(io)?;
    let tmp = dir.join(format!(".{MODEL_FILE}.{}.tmp", std::process::id()));
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
    let path = model_path(base, source, host);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ModelStoreError::Missing(path))
        }
        Err(source) => return Err(ModelStoreError::Io { path, source }),
    };
    model_file::decode(&bytes).map_err(|source| ModelStoreError::Invalid { path, source })
}

/// The modification time of the saved model, if there is one (for the model-age metric).
pub fn saved_at(base: &Path, source: &str, host: &str) -> Option<std::time::SystemTime> {
    fs::metadata(model_path(base, source, host))
        .and_then(|m| m.modified())
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

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
