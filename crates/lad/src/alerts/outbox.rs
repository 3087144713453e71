//! A receiver's persisted queue: the notices accepted and not yet delivered, in order, the keys
//! of recently accepted notices (so one handed over again is not sent twice), and, for
//! Alertmanager, the alerts that fire (re-posted until resolved). One JSON file per receiver,
//! `<MODEL_BASE_DIR>/alerts/<receiver>.outbox.json`, readable by a person; rewritten whole and
//! atomically (temporary file, sync, rename, folder sync) on every change. Notices are rare
//! (incident transitions), so a rewrite per change costs little; the queue bound keeps the file
//! small (a full queue of 10,000 webhook notices is a few MiB).

use std::collections::{BTreeMap, VecDeque};
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::payload::AmAlert;
use super::AlertError;

/// How many accepted notice keys are remembered to refuse repeats.
pub const RECENT_KEYS: usize = 4096;

/// The file format's version.
const VERSION: u32 = 1;

/// What is posted for one notice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Payload {
    /// Alerts for `POST /api/v2/alerts` (firing ones get `endsAt` when sent).
    Alertmanager(Vec<AmAlert>),
    /// The webhook document.
    Webhook(serde_json::Value),
}

/// One notice waiting to be delivered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    /// The notice's key.
    pub key: String,
    /// What to post.
    pub payload: Payload,
}

/// The queue and memory of one receiver.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Outbox {
    version: u32,
    /// Notices to deliver, oldest first.
    pub pending: VecDeque<Pending>,
    /// Keys of accepted notices, oldest first, at most [`RECENT_KEYS`].
    pub recent: VecDeque<String>,
    /// Alertmanager: the firing alerts of each open incident.
    pub firing: BTreeMap<String, Vec<AmAlert>>,
    #[serde(skip)]
    path: PathBuf,
}

impl Outbox {
    /// The outbox at `path`; an empty one when the file does not exist.
    pub fn load(path: &Path) -> Result<Outbox, AlertError> {
        let text = match fs::read(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Outbox {
                    version: VERSION,
                    path: path.to_path_buf(),
                    ..Outbox::default()
                })
            }
            Err(source) => {
                return Err(AlertError::Outbox {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        let mut outbox: Outbox =
            serde_json::from_slice(&text).map_err(|e| AlertError::BadOutbox {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
        if outbox.version != VERSION {
            return Err(AlertError::BadOutbox {
                path: path.to_path_buf(),
                reason: format!("version {} where this lad writes {VERSION}", outbox.version),
            });
        }
        outbox.path = path.to_path_buf();
        Ok(outbox)
    }

    /// Writes the outbox atomically.
    pub fn save(&self) -> Result<(), AlertError> {
        let io = |source| AlertError::Outbox {
            path: self.path.clone(),
            source,
        };
        let bytes = serde_json::to_vec(self).map_err(|e| io(std::io::Error::other(e)))?;
        let mut tmp = self.path.clone().into_os_string();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        {
            let mut f = fs::File::create(&tmp).map_err(io)?;
            f.write_all(&bytes).map_err(io)?;
            f.sync_all().map_err(io)?;
        }
        fs::rename(&tmp, &self.path).map_err(io)?;
        if let Some(dir) = self.path.parent().and_then(|d| fs::File::open(d).ok()) {
            let _ = dir.sync_all();
        }
        Ok(())
    }

    /// Whether a notice with `key` was accepted already.
    pub fn seen(&self, key: &str) -> bool {
        self.recent.iter().any(|k| k == key)
    }

    /// Whether a notice of incident `id` was accepted (among the recent keys) or one of its
    /// alerts fires.
    pub fn announced(&self, id: &str) -> bool {
        self.firing.contains_key(id)
            || self
                .recent
                .iter()
                .any(|k| k.strip_prefix(id).is_some_and(|rest| rest.starts_with(':')))
    }

    /// Accepts a notice: remembers its key and queues it; returns the oldest pending notice
    /// when the queue held `capacity` already (it is dropped).
    pub fn push(&mut self, pending: Pending, capacity: usize) -> Option<Pending> {
        self.recent.push_back(pending.key.clone());
        while self.recent.len() > RECENT_KEYS {
            self.recent.pop_front();
        }
        self.pending.push_back(pending);
        if self.pending.len() > capacity.max(1) {
            self.pending.pop_front()
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(key: &str) -> Pending {
        Pending {
            key: key.to_string(),
            payload: Payload::Webhook(serde_json::json!({"text": key})),
        }
    }

    #[test]
    fn survives_a_reload_and_drops_the_oldest_when_full() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("webhook.outbox.json");
        let mut o = Outbox::load(&path).expect("missing file is empty");
        assert!(o.pending.is_empty());
        assert_eq!(o.push(pending("a"), 2), None);
        assert_eq!(o.push(pending("b"), 2), None);
        assert_eq!(
            o.push(pending("c"), 2).map(|p| p.key),
            Some("a".to_string())
        );
        o.save().expect("saved");
        let back = Outbox::load(&path).expect("reloads");
        let keys: Vec<&str> = back.pending.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["b", "c"]);
        assert!(back.seen("a") && back.seen("c") && !back.seen("d"));
    }

    #[test]
    fn a_foreign_file_is_refused_with_its_path() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("alertmanager.outbox.json");
        fs::write(&path, b"not json").expect("written");
        let err = Outbox::load(&path).expect_err("refused");
        assert!(
            err.to_string().contains("alertmanager.outbox.json"),
            "{err}"
        );
        fs::write(
            &path,
            br#"{"version":9,"pending":[],"recent":[],"firing":{}}"#,
        )
        .expect("written");
        let err = Outbox::load(&path).expect_err("refused");
        assert!(err.to_string().contains("version 9"), "{err}");
    }

    #[test]
    fn remembered_keys_are_bounded() {
        let mut o = Outbox::default();
        for i in 0..(RECENT_KEYS + 10) {
            o.push(pending(&i.to_string()), 1);
        }
        assert_eq!(o.recent.len(), RECENT_KEYS);
        assert!(!o.seen("0") && o.seen(&(RECENT_KEYS + 9).to_string()));
        assert_eq!(o.pending.len(), 1);
    }
}
