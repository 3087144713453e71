//! Checks of the [`RecordArchive`](crate::RecordArchive) role.

use super::*;

/// Export returns every record once across pages, with its extra fields exactly as imported.
pub fn export_pages_and_extra_fields(h: &mut dyn Harness) {
    let extra = json!({"nested": {"a": [1, 2.5, null, true]}, "unicode": "żółw ✓", "big": 9007199254740993_u64, "empty": ""});
    let records: Vec<NewRecord> = (0..5)
        .map(|i| {
            let mut r = rec("a", T0 + i * S, &format!("m{i}"));
            if let Value::Object(m) = extra.clone() {
                r.extra = m;
            }
            r
        })
        .collect();
    import(h, "src", &records);
    import(h, "elsewhere", &[rec("a", T0, "not here")]);
    let (mut seen, mut cursor, mut pages) = (Vec::new(), None, 0);
    loop {
        let page = ok(h.store().export_page(Some("src"), cursor, 2), "export");
        pages += 1;
        assert!(page.rows.len() <= 2);
        seen.extend(page.rows);
        match page.next {
            Some(c) => cursor = Some(c),
            None => break,
        }
        assert!(pages < 10, "export does not end");
    }
    assert_eq!(
        seen.iter()
            .map(|r| r.record.message.as_str())
            .collect::<Vec<_>>(),
        ["m0", "m1", "m2", "m3", "m4"]
    );
    for r in &seen {
        assert_eq!(
            Value::Object(r.record.extra.clone()),
            extra,
            "extra fields are kept"
        );
        assert_eq!(
            (r.is_anomaly, r.anomaly_score, r.aggregate_id.clone()),
            (None, None, None)
        );
    }
    let everything = ok(h.store().export_page(None, None, 100), "export all");
    assert_eq!(everything.rows.len(), 6);
}
