//! Reads of the `mg` backend: the [`RecordSource`] and [`TrainingReader`] roles, and the index
//! (host, time) ensured on first use of a collection. Writes only the `lad_malformed` mark.

use super::*;
use crate::roles::{RecordSource, TrainingReader};

/// Which documents a read selects, as a filter.
pub(super) fn unscored_filter() -> Document {
    doc! { "is_anomaly": { "$exists": false }, MALFORMED_FIELD: { "$exists": false } }
}

impl RecordSource for MongoStore {
    /// See [`crate::Store::next_unscored`]: documents without `is_anomaly` and without the
    /// malformed mark, in `(time, _id)` order.
    fn next_unscored(
        &mut self,
        source: &str,
        hosts: &[String],
        limit: usize,
    ) -> Result<Batch, StoreError> {
        self.prepare(source)?;
        let f = self.fields().clone();
        let mut filter = unscored_filter();
        if !hosts.is_empty() {
            // Documents whose host is not a string are returned for any filter, to be reported.
            filter.insert(
                "$or",
                vec![
                    doc! { &f.host: { "$in": hosts } },
                    doc! { &f.host: { "$not": { "$type": "string" } } },
                ],
            );
        }
        self.read(source, filter, doc! { &f.time: 1, "_id": 1 }, limit)
    }

    /// See [`crate::Store::mark_malformed`]: `$set: {lad_malformed: reason}`.
    fn mark_malformed(
        &mut self,
        source: &str,
        id: &RecordId,
        reason: &str,
    ) -> Result<(), StoreError> {
        let bid = id_to_bson(id).map_err(|r| invalid(id, "mark malformed", r))?;
        self.update(
            source,
            vec![Bson::Document(doc! {
                "q": { "_id": bid },
                "u": { "$set": { MALFORMED_FIELD: reason } },
            })],
            "mark a record malformed",
        )?;
        Ok(())
    }

    /// See [`crate::Store::list_sources`]: the collections of `db`, less `system.*`, `lad_*` and
    /// aggregate targets.
    fn list_sources(&mut self) -> Result<Vec<String>, StoreError> {
        let names = self
            .db
            .list_collection_names()
            .run()
            .map_err(self.fail("list sources"))?;
        let targets: HashSet<String> = if self.target_db.name() == self.db.name() {
            let cursor = self
                .target_db
                .collection::<Document>(TARGETS)
                .find(doc! {})
                .run()
                .map_err(self.fail("list sources"))?;
            let mut set = HashSet::new();
            for doc in cursor {
                let doc = doc.map_err(self.fail("list sources"))?;
                if let Ok(t) = doc.get_str("target") {
                    set.insert(t.to_owned());
                }
            }
            set
        } else {
            HashSet::new()
        };
        let mut out: Vec<String> = names
            .into_iter()
            .filter(|n| !n.starts_with("system.") && !n.starts_with("lad_") && !targets.contains(n))
            .collect();
        out.sort();
        Ok(out)
    }

    /// See [`crate::Store::hosts`].
    fn hosts(&mut self, source: &str) -> Result<Vec<String>, StoreError> {
        let f = self.fields().clone();
        let values = self
            .coll(source)
            .distinct(&f.host, doc! { &f.host: { "$type": "string" } })
            .run()
            .map_err(self.fail("list hosts"))?;
        let mut out: Vec<String> = values
            .into_iter()
            .filter_map(|v| match v {
                Bson::String(s) => Some(s),
                _ => None,
            })
            .collect();
        out.sort();
        Ok(out)
    }

    /// See [`crate::Store::unscored_count`].
    fn unscored_count(&mut self, source: &str) -> Result<u64, StoreError> {
        self.coll(source)
            .count_documents(unscored_filter())
            .run()
            .map_err(self.fail("count unscored records"))
    }

    /// See [`crate::Store::oldest_unscored_time`]: the oldest unscored BSON date.
    fn oldest_unscored_time(&mut self, source: &str) -> Result<Option<i64>, StoreError> {
        let f = self.fields().clone();
        let mut filter = unscored_filter();
        filter.insert(&f.time, doc! { "$type": "date" });
        let doc = self
            .coll(source)
            .find_one(filter)
            .sort(doc! { &f.time: 1, "_id": 1 })
            .projection(doc! { &f.time: 1 })
            .run()
            .map_err(self.fail("find the oldest unscored record"))?;
        Ok(doc.and_then(|d| match d.get(&f.time) {
            Ok(Some(RawBsonRef::DateTime(t))) => Some(t.timestamp_millis()),
            _ => None,
        }))
    }
}

impl TrainingReader for MongoStore {
    /// See [`crate::Store::training_window`]. Only documents whose time is a BSON date match.
    fn training_window(
        &mut self,
        source: &str,
        host: &str,
        from_ms: i64,
        to_ms: i64,
        max: usize,
    ) -> Result<Batch, StoreError> {
        self.prepare(source)?;
        let f = self.fields().clone();
        let filter = doc! {
            &f.host: host,
            &f.time: { "$gte": DateTime::from_millis(from_ms), "$lt": DateTime::from_millis(to_ms) },
            MALFORMED_FIELD: { "$exists": false },
        };
        let mut batch = self.read(source, filter, doc! { &f.time: -1, "_id": -1 }, max)?;
        batch.records.reverse();
        batch.malformed.reverse();
        Ok(batch)
    }
}

impl MongoStore {
    /// Creates the indexes of a collection once per process (see the module docs).
    pub(super) fn prepare(&mut self, source: &str) -> Result<(), StoreError> {
        if !self.config.create_indexes || self.prepared.contains(source) {
            return Ok(());
        }
        let f = self.fields().clone();
        let command = doc! {
            "createIndexes": source,
            "indexes": [
                { "key": { &f.host: 1, &f.time: 1 }, "name": "lad_host_time" },
            ],
        };
        match self.db.run_command(command).run() {
            Ok(reply) => {
                let before = number(reply.get("numIndexesBefore"));
                let after = number(reply.get("numIndexesAfter"));
                if let (Some(b), Some(a)) = (before, after) {
                    if a > b {
                        self.notices.push(format!(
                            "mg: created index lad_host_time {{{}: 1, {}: 1}} on {}.{source}",
                            f.host, f.time, self.config.db
                        ));
                    }
                }
            }
            Err(e) => {
                let error = classify(e, &self.address, &self.config, "create indexes");
                if error.is_transient() {
                    return Err(error);
                }
                // No right to create indexes (or an index of that name with other keys): reads
                // still work, only slower, so say so and go on.
                self.notices.push(format!(
                    "mg: could not create the (host, time) index on {}.{source}; reads will be \
                     slower: {error}",
                    self.config.db
                ));
            }
        }
        self.prepared.insert(source.to_owned());
        Ok(())
    }

    /// Runs a find and converts every document; unreadable ones become [`Malformed`].
    pub(super) fn read(
        &mut self,
        source: &str,
        filter: Document,
        sort: Document,
        limit: usize,
    ) -> Result<Batch, StoreError> {
        let mut batch = Batch::default();
        if limit == 0 {
            return Ok(batch);
        }
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let cursor = self
            .coll(source)
            .find(filter)
            .sort(sort)
            .limit(limit)
            .batch_size(u32::try_from(limit.min(50_000)).unwrap_or(50_000))
            .run()
            .map_err(self.fail("read records"))?;
        for doc in cursor {
            let doc = doc.map_err(self.fail("read records"))?;
            match self.record(&doc, source) {
                Ok(r) => batch.records.push(r),
                Err(m) => batch.malformed.push(m),
            }
        }
        Ok(batch)
    }
}
