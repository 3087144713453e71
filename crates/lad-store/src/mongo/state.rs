//! lad's state in the `mg` backend, the [`StateStore`] role: anomalies of a window with their
//! links, stored aggregates (found through `lad_aggregate_targets`), and feedback (`lad_feedback`,
//! ids from `lad_counters`).

use super::*;
use crate::roles::StateStore;

impl StateStore for MongoStore {
    /// See [`crate::Store::anomalies`]: documents with `is_anomaly: 1` and a BSON date in the window.
    fn anomalies(
        &mut self,
        source: &str,
        from_ms: i64,
        to_ms: i64,
        max: usize,
    ) -> Result<Vec<Anomaly>, StoreError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let f = self.fields().clone();
        let filter = doc! {
            "is_anomaly": 1,
            &f.time: { "$gte": DateTime::from_millis(from_ms), "$lt": DateTime::from_millis(to_ms) },
        };
        let cursor = self
            .coll(source)
            .find(filter)
            .sort(doc! { &f.time: -1, "_id": -1 })
            .limit(i64::try_from(max).unwrap_or(i64::MAX))
            .run()
            .map_err(self.fail("read anomalies"))?;
        let mut out = Vec::new();
        for doc in cursor {
            let doc = doc.map_err(self.fail("read anomalies"))?;
            // A document that was scored was readable then; one that no longer is gets skipped.
            if let Ok(record) = self.record(&doc, source) {
                let score = doc
                    .get("anomaly_score")
                    .ok()
                    .flatten()
                    .and_then(raw_number)
                    .unwrap_or(f64::NAN);
                let aggregate_id = doc.get(AGGREGATE_FIELD).ok().flatten().map(raw_to_id);
                out.push(Anomaly {
                    record,
                    score,
                    aggregate_id,
                });
            }
        }
        out.reverse();
        Ok(out)
    }

    /// See [`crate::Store::aggregates`], oldest (smallest ObjectId) first.
    fn aggregates(&mut self, input_source: Option<&str>) -> Result<Vec<Aggregate>, StoreError> {
        let mut out = Vec::new();
        for (source, target) in self.targets(input_source)? {
            let cursor = self
                .target_db
                .collection::<Document>(&target)
                .find(doc! {})
                .sort(doc! { "_id": 1 })
                .run()
                .map_err(self.fail("read aggregates"))?;
            let mut found = Vec::new();
            for doc in cursor {
                let doc = doc.map_err(self.fail("read aggregates"))?;
                let Ok(oid) = doc.get_object_id("_id") else {
                    continue;
                };
                found.push((
                    oid,
                    AggregateDraft {
                        message: doc.get_str("message").unwrap_or_default().to_owned(),
                        total_logs: doc
                            .get("total_logs")
                            .and_then(bson_number)
                            .map_or(0, |n| n.max(0.0) as u64),
                        average_time_ms: bson_time(doc.get("average_datetime")),
                        average_anomaly_score: doc
                            .get("average_anomaly_score")
                            .and_then(bson_number)
                            .unwrap_or(f64::NAN),
                        most_frequent_hostname: doc
                            .get_str("most_frequent_hostname")
                            .unwrap_or_default()
                            .to_owned(),
                        was_added_at_ms: bson_time(doc.get("was_added_at")),
                        member_ids: Vec::new(),
                    },
                ));
            }
            let ids: Vec<ObjectId> = found.iter().map(|(oid, _)| *oid).collect();
            let mut members: HashMap<ObjectId, Vec<RecordId>> = HashMap::new();
            for chunk in ids.chunks(MAX_IDS_PER_STATEMENT) {
                let cursor = self
                    .coll(&source)
                    .find(doc! { AGGREGATE_FIELD: { "$in": chunk } })
                    .projection(doc! { "_id": 1, AGGREGATE_FIELD: 1 })
                    .sort(doc! { "_id": 1 })
                    .run()
                    .map_err(self.fail("read aggregate members"))?;
                for doc in cursor {
                    let doc = doc.map_err(self.fail("read aggregate members"))?;
                    if let (Ok(Some(id)), Ok(Some(RawBsonRef::ObjectId(a)))) =
                        (doc.get("_id"), doc.get(AGGREGATE_FIELD))
                    {
                        members.entry(a).or_default().push(raw_to_id(id));
                    }
                }
            }
            for (oid, mut draft) in found {
                draft.member_ids = members.remove(&oid).unwrap_or_default();
                out.push((
                    oid,
                    Aggregate {
                        id: RecordId::ObjectId(oid.to_hex()),
                        input_source: source.clone(),
                        target: target.clone(),
                        draft,
                    },
                ));
            }
        }
        out.sort_by_key(|a| a.0.bytes());
        Ok(out.into_iter().map(|(_, a)| a).collect())
    }

    /// See [`crate::Store::add_feedback`]: ids come from a counter document (`findAndModify`).
    fn add_feedback(&mut self, mark: &NewFeedback) -> Result<i64, StoreError> {
        let counter = self
            .db
            .collection::<Document>(COUNTERS)
            .find_one_and_update(
                doc! { "_id": "feedback" },
                doc! { "$inc": { "seq": 1_i64 } },
            )
            .upsert(true)
            .return_document(mongodb::options::ReturnDocument::After)
            .run()
            .map_err(self.fail("add feedback"))?;
        let id = counter
            .as_ref()
            .and_then(|d| d.get("seq"))
            .and_then(bson_number)
            .map(|n| n as i64)
            .ok_or_else(|| {
                self.command_error(
                    "add feedback",
                    "the feedback counter was not returned".into(),
                )
            })?;
        let doc = doc! {
            "_id": id,
            "source": &mark.source,
            "host": &mark.host,
            "record_id": mark.record_id.as_ref().map(ToString::to_string),
            "message": &mark.message,
            "template": mark.template.clone(),
            "who": &mark.who,
            "at": DateTime::from_millis(mark.at_ms),
            "undone_at": Bson::Null,
        };
        self.db
            .collection::<Document>(FEEDBACK)
            .insert_one(doc)
            .run()
            .map_err(self.fail("add feedback"))?;
        Ok(id)
    }

    /// See [`crate::Store::list_feedback`].
    fn list_feedback(
        &mut self,
        source: Option<&str>,
        include_undone: bool,
    ) -> Result<Vec<Feedback>, StoreError> {
        let mut filter = Document::new();
        if let Some(s) = source {
            filter.insert("source", s);
        }
        if !include_undone {
            filter.insert("undone_at", Bson::Null);
        }
        let cursor = self
            .db
            .collection::<Document>(FEEDBACK)
            .find(filter)
            .sort(doc! { "_id": 1 })
            .run()
            .map_err(self.fail("list feedback"))?;
        let mut out = Vec::new();
        for doc in cursor {
            let doc = doc.map_err(self.fail("list feedback"))?;
            let text = |k: &str| doc.get_str(k).unwrap_or_default().to_owned();
            let optional = |k: &str| doc.get_str(k).ok().map(str::to_owned);
            out.push(Feedback {
                id: doc.get("_id").and_then(bson_number).map_or(0, |n| n as i64),
                mark: NewFeedback {
                    source: text("source"),
                    host: text("host"),
                    record_id: optional("record_id").map(|s| RecordId::parse(&s)),
                    message: text("message"),
                    template: optional("template"),
                    who: text("who"),
                    at_ms: bson_time(doc.get("at")),
                },
                undone_at_ms: match doc.get("undone_at") {
                    Some(Bson::DateTime(t)) => Some(t.timestamp_millis()),
                    _ => None,
                },
            });
        }
        Ok(out)
    }

    /// See [`crate::Store::undo_feedback`].
    fn undo_feedback(&mut self, id: i64, at_ms: i64) -> Result<bool, StoreError> {
        let n = self.update(
            FEEDBACK,
            vec![Bson::Document(doc! {
                "q": { "_id": id, "undone_at": Bson::Null },
                "u": { "$set": { "undone_at": DateTime::from_millis(at_ms) } },
            })],
            "undo feedback",
        )?;
        Ok(n == 1)
    }
}

impl MongoStore {
    /// The (input source, target) pairs aggregates were written for from this database.
    pub(super) fn targets(
        &self,
        input_source: Option<&str>,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let mut filter = doc! { "input_db": &self.config.db };
        if let Some(s) = input_source {
            filter.insert("input_source", s);
        }
        let cursor = self
            .target_db
            .collection::<Document>(TARGETS)
            .find(filter)
            .sort(doc! { "_id": 1 })
            .run()
            .map_err(self.fail("read aggregate targets"))?;
        let mut out = Vec::new();
        for doc in cursor {
            let doc = doc.map_err(self.fail("read aggregate targets"))?;
            if let (Ok(s), Ok(t)) = (doc.get_str("input_source"), doc.get_str("target")) {
                out.push((s.to_owned(), t.to_owned()));
            }
        }
        Ok(out)
    }
}
