//! lad's state in the `mg` backend, the [`StateStore`] role: anomalies of a window with their
//! links, stored aggregates (found through `lad_aggregate_targets`), and feedback (`lad_feedback`,
//! ids from `lad_counters`); the [`IncidentStore`](crate::IncidentStore) role
//! (`lad_incidents`, `lad_incident_links`).

use super::*;
use crate::incident::{IncidentLink, IncidentQuery, StoredIncident};
use crate::roles::{IncidentStore, StateStore};

const INCIDENTS: &str = "lad_incidents";
const INCIDENT_LINKS: &str = "lad_incident_links";

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

/// A link's `_id`: one document per (source, record), so a second link of a record is ignored.
fn link_key(source: &str, id: &RecordId) -> String {
    format!("{source}\n{id}")
}

impl IncidentStore for MongoStore {
    /// Links first (`$setOnInsert`, so the first link stands), then the incidents (replaced by
    /// `_id`); MongoDB has no transaction here, see the role's docs.
    fn write_incidents(
        &mut self,
        incidents: &[StoredIncident],
        links: &[IncidentLink],
    ) -> Result<(), StoreError> {
        if !links.is_empty() {
            let statements = links
                .iter()
                .map(|l| {
                    Bson::Document(doc! {
                        "q": { "_id": link_key(&l.source, &l.record_id) },
                        "u": { "$setOnInsert": {
                            "source": &l.source,
                            "record_id": l.record_id.to_string(),
                            "incident_id": &l.incident_id,
                            "host": &l.host,
                            "time_ms": l.time_ms,
                        } },
                        "upsert": true,
                    })
                })
                .collect();
            self.update(INCIDENT_LINKS, statements, "write incident links")?;
        }
        if !incidents.is_empty() {
            let statements = incidents
                .iter()
                .map(|i| {
                    let (_, body) = crate::incident::json_columns(i);
                    Bson::Document(doc! {
                        "q": { "_id": &i.id },
                        "u": {
                            "source": &i.source,
                            "state": &i.state,
                            "first_seen_ms": i.first_seen_ms,
                            "last_seen_ms": i.last_seen_ms,
                            "hosts": &i.hosts,
                            "body": body,
                        },
                        "upsert": true,
                    })
                })
                .collect();
            self.update(INCIDENTS, statements, "write incidents")?;
        }
        Ok(())
    }

    fn incidents(&mut self, query: &IncidentQuery) -> Result<Vec<StoredIncident>, StoreError> {
        if query.max == 0 {
            return Ok(Vec::new());
        }
        let mut filter = doc! {
            "last_seen_ms": { "$gte": query.from_ms },
            "first_seen_ms": { "$lt": query.to_ms },
        };
        if let Some(s) = &query.source {
            filter.insert("source", s);
        }
        if let Some(s) = &query.state {
            filter.insert("state", s);
        }
        let cursor = self
            .db
            .collection::<Document>(INCIDENTS)
            .find(filter)
            .sort(doc! { "last_seen_ms": -1, "_id": 1 })
            .limit(i64::try_from(query.max).unwrap_or(i64::MAX))
            .run()
            .map_err(self.fail("read incidents"))?;
        let mut out = Vec::new();
        for doc in cursor {
            let doc = doc.map_err(self.fail("read incidents"))?;
            out.push(self.incident_of(&doc)?);
        }
        Ok(out)
    }

    fn incident(&mut self, id: &str) -> Result<Option<StoredIncident>, StoreError> {
        let doc = self
            .db
            .collection::<Document>(INCIDENTS)
            .find_one(doc! { "_id": id })
            .run()
            .map_err(self.fail("read an incident"))?;
        doc.map(|d| self.incident_of(&d)).transpose()
    }

    fn incident_links(
        &mut self,
        source: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<IncidentLink>, StoreError> {
        let cursor = self
            .db
            .collection::<Document>(INCIDENT_LINKS)
            .find(doc! { "source": source, "time_ms": { "$gte": from_ms, "$lt": to_ms } })
            .run()
            .map_err(self.fail("read incident links"))?;
        let mut out = Vec::new();
        for doc in cursor {
            let doc = doc.map_err(self.fail("read incident links"))?;
            let text = |k: &str| doc.get_str(k).unwrap_or_default().to_owned();
            out.push(IncidentLink {
                source: text("source"),
                record_id: RecordId::parse(doc.get_str("record_id").unwrap_or_default()),
                incident_id: text("incident_id"),
                host: text("host"),
                time_ms: doc
                    .get("time_ms")
                    .and_then(bson_number)
                    .map_or(0, |n| n as i64),
            });
        }
        out.sort_by(|a, b| {
            a.time_ms
                .cmp(&b.time_ms)
                .then_with(|| a.record_id.to_string().cmp(&b.record_id.to_string()))
        });
        Ok(out)
    }
}

impl MongoStore {
    fn incident_of(&self, doc: &Document) -> Result<StoredIncident, StoreError> {
        let id = doc.get_str("_id").unwrap_or_default().to_owned();
        let body = doc.get_str("body").unwrap_or("{}");
        let body: Value = serde_json::from_str(body).map_err(|e| {
            self.command_error(
                "read incidents",
                format!("incident {id}: field body is not JSON: {e}"),
            )
        })?;
        let int = |k: &str| doc.get(k).and_then(bson_number).map_or(0, |n| n as i64);
        Ok(StoredIncident {
            source: doc.get_str("source").unwrap_or_default().to_owned(),
            state: doc.get_str("state").unwrap_or_default().to_owned(),
            first_seen_ms: doc
                .get_i64("first_seen_ms")
                .unwrap_or_else(|_| int("first_seen_ms")),
            last_seen_ms: doc
                .get_i64("last_seen_ms")
                .unwrap_or_else(|_| int("last_seen_ms")),
            hosts: doc
                .get_array("hosts")
                .map(|a| {
                    a.iter()
                        .filter_map(|h| h.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            body,
            id,
        })
    }
}
