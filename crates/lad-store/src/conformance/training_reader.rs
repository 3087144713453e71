//! Checks of the [`TrainingReader`](crate::TrainingReader) role.

use super::*;

/// Training windows: host filter, half-open bounds, newest-first cap returned oldest first,
/// fields and extra intact.
pub fn training_window(h: &mut dyn Harness) {
    let mut records: Vec<NewRecord> = (0..10)
        .map(|i| rec("a", T0 + i * S, &format!("a{i}")))
        .collect();
    records.extend((0..3).map(|i| rec("b", T0 + i * S, &format!("b{i}"))));
    import(h, "src", &records);
    let w = ok(
        h.store().training_window("src", "a", T0, T0 + 10 * S, 4),
        "training window",
    );
    assert_eq!(
        messages(&w.records),
        ["a6", "a7", "a8", "a9"],
        "newest 4, oldest first"
    );
    assert!(w.malformed.is_empty());
    let r = &w.records[0];
    assert_eq!(
        (r.source.as_str(), r.host.as_str(), r.time),
        ("src", "a", T0 + 6 * S)
    );
    assert_eq!(r.extra.get("tag"), Some(&json!("a6")));
    let w = ok(
        h.store()
            .training_window("src", "a", T0 + 2 * S, T0 + 5 * S, 100),
        "training window",
    );
    assert_eq!(
        messages(&w.records),
        ["a2", "a3", "a4"],
        "[from, to) bounds"
    );
    let w = ok(
        h.store().training_window("src", "b", 0, i64::MAX, 100),
        "training window",
    );
    assert_eq!(messages(&w.records), ["b0", "b1", "b2"]);
    let w = ok(
        h.store().training_window("other", "a", 0, i64::MAX, 100),
        "training window",
    );
    assert!(w.records.is_empty(), "sources are separate");
}
