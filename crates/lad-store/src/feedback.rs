//! Feedback storage shared by the backends, so that "not an anomaly" marks mean the same
//! everywhere: the SQL of the `sqlite` and `mysql` tables (the same columns, `?` parameters), the
//! row shape both read back, the filter of a listing, and [`FeedbackLog`], the in-memory list the
//! `local` backend replays from its journal. Holds no connection and does no I/O.

use crate::record::{Feedback, NewFeedback, RecordId};

/// Inserts a mark: binds source, host, record id (text), message, template, who, at_ms.
pub(crate) fn insert_sql(table: &str) -> String {
    format!(
        "INSERT INTO {table} (source, host, record_id, message, template, who, at_ms) \
         VALUES (?, ?, ?, ?, ?, ?, ?)"
    )
}

/// Lists marks oldest first: binds the source (or NULL) twice, then `include_undone`.
pub(crate) fn select_sql(table: &str) -> String {
    format!(
        "SELECT id, source, host, record_id, message, template, who, at_ms, undone_at_ms \
         FROM {table} WHERE (? IS NULL OR source = ?) AND (? OR undone_at_ms IS NULL) ORDER BY id"
    )
}

/// Undoes an active mark: binds `undone_at_ms`, then the id.
pub(crate) fn undo_sql(table: &str) -> String {
    format!("UPDATE {table} SET undone_at_ms = ? WHERE id = ? AND undone_at_ms IS NULL")
}

/// The columns of [`select_sql`], in order.
pub(crate) type FeedbackRow = (
    i64,
    String,
    String,
    Option<String>,
    String,
    Option<String>,
    String,
    i64,
    Option<i64>,
);

/// A mark from the columns of [`select_sql`].
pub(crate) fn from_row(row: FeedbackRow) -> Feedback {
    let (id, source, host, record_id, message, template, who, at_ms, undone_at_ms) = row;
    Feedback {
        id,
        mark: NewFeedback {
            source,
            host,
            record_id: record_id.map(|s| RecordId::parse(&s)),
            message,
            template,
            who,
            at_ms,
        },
        undone_at_ms,
    }
}

/// Whether a listing of `source` (all sources when `None`) shows the mark.
pub(crate) fn listed(f: &Feedback, source: Option<&str>, include_undone: bool) -> bool {
    source.is_none_or(|s| f.mark.source == s) && (include_undone || f.undone_at_ms.is_none())
}

/// Feedback marks held in memory, in id order; ids are never reused.
#[derive(Debug, Default)]
pub(crate) struct FeedbackLog {
    marks: Vec<Feedback>,
}

impl FeedbackLog {
    /// The mark `add` would store next, not yet stored (so the caller can journal it first).
    pub(crate) fn next(&self, mark: &NewFeedback) -> Feedback {
        Feedback {
            id: self.marks.iter().map(|f| f.id).max().unwrap_or(0) + 1,
            mark: mark.clone(),
            undone_at_ms: None,
        }
    }

    /// Keeps a mark (a new one, or one replayed from a journal).
    pub(crate) fn push(&mut self, mark: Feedback) {
        self.marks.push(mark);
    }

    /// The marks a listing shows, oldest first.
    pub(crate) fn list(&self, source: Option<&str>, include_undone: bool) -> Vec<Feedback> {
        self.marks
            .iter()
            .filter(|f| listed(f, source, include_undone))
            .cloned()
            .collect()
    }

    /// True when `id` is an active mark.
    pub(crate) fn is_active(&self, id: i64) -> bool {
        self.marks
            .iter()
            .any(|f| f.id == id && f.undone_at_ms.is_none())
    }

    /// Undoes an active mark; false when there was none with that id.
    pub(crate) fn undo(&mut self, id: i64, at_ms: i64) -> bool {
        match self
            .marks
            .iter_mut()
            .find(|f| f.id == id && f.undone_at_ms.is_none())
        {
            Some(f) => {
                f.undone_at_ms = Some(at_ms);
                true
            }
            None => false,
        }
    }
}
