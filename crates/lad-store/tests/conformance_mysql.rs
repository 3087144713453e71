//! Runs the shared conformance suite against the `mysql` backend on the MariaDB at
//! 127.0.0.1:3306: once with input and target in one database, once in two databases (so the
//! store cannot join them). See `mysql_common` for skipping when the server is down.

mod mysql_common;

mod one_database {
    use super::mysql_common::MysqlHarness;
    lad_store::conformance_tests!(match MysqlHarness::new(false) {
        Some(h) => h,
        None => return,
    }; record_source, training_reader, verdict_sink, state_store, incident_store, record_archive);
}

mod two_databases {
    use super::mysql_common::MysqlHarness;
    lad_store::conformance_tests!(match MysqlHarness::new(true) {
        Some(h) => h,
        None => return,
    }; record_source, training_reader, verdict_sink, state_store, incident_store, record_archive);
}
