//! Shared set-up of the MySQL tests: a fresh database (or two) per test on the MariaDB at
//! 127.0.0.1:3306 (root, no password), dropped at the end. An unreachable server fails the test
//! unless `LAD_SKIP_MYSQL=1`, when the test returns early and says so.

#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};

use lad_store::conformance::Harness;
use lad_store::mysql::execute_admin;
use lad_store::{BackendConfig, FieldNames, MysqlConfig, MysqlEndpoint, Store};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// The test server, overridable with `LAD_TEST_MYSQL_HOST` / `LAD_TEST_MYSQL_PORT`.
pub fn server(database: &str) -> MysqlEndpoint {
    let mut e = MysqlEndpoint::new(database);
    e.host = std::env::var("LAD_TEST_MYSQL_HOST").unwrap_or_else(|_| "127.0.0.1".into());
    e.port = std::env::var("LAD_TEST_MYSQL_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3306);
    e
}

/// A database name no other test uses (process id, counter and clock).
pub fn unique_name(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}_{}_{}_{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Creates the databases, or `None` when the server is down and `LAD_SKIP_MYSQL=1`.
pub fn create_databases(names: &[&str]) -> Option<()> {
    let stmts: Vec<String> = names
        .iter()
        .map(|n| format!("CREATE DATABASE `{n}` CHARACTER SET utf8mb4"))
        .collect();
    let refs: Vec<&str> = stmts.iter().map(String::as_str).collect();
    match execute_admin(&server("test"), &refs) {
        Ok(()) => Some(()),
        Err(e) if std::env::var("LAD_SKIP_MYSQL").as_deref() == Ok("1") => {
            eprintln!("skipped: MariaDB not reachable and LAD_SKIP_MYSQL=1: {e}");
            None
        }
        Err(e) => panic!(
            "the MySQL tests need a MariaDB at 127.0.0.1:3306 (root, no password); run \
             scripts/mysql-test-server.sh, or set LAD_SKIP_MYSQL=1 to skip them: {e}"
        ),
    }
}

/// Drops the databases, ignoring errors (the test's own result matters more).
pub fn drop_databases(names: &[String]) {
    let stmts: Vec<String> = names
        .iter()
        .map(|n| format!("DROP DATABASE IF EXISTS `{n}`"))
        .collect();
    let refs: Vec<&str> = stmts.iter().map(String::as_str).collect();
    let _ = execute_admin(&server("test"), &refs);
}

/// A store over fresh databases: one for input and target, or two (`split`).
pub struct MysqlHarness {
    pub config: MysqlConfig,
    pub store: Option<Store>,
    databases: Vec<String>,
}

impl MysqlHarness {
    /// `None` when the server is down and the tests are to be skipped.
    pub fn new(split: bool) -> Option<MysqlHarness> {
        let input = unique_name("lad_t_in");
        let target = if split {
            unique_name("lad_t_out")
        } else {
            input.clone()
        };
        let mut databases = vec![input.clone()];
        if split {
            databases.push(target.clone());
        }
        let names: Vec<&str> = databases.iter().map(String::as_str).collect();
        create_databases(&names)?;
        let config = MysqlConfig {
            input: server(&input),
            target: server(&target),
            fields: FieldNames::default(),
            anomaly_tables: Default::default(),
            sources: Vec::new(),
            aggregation_inputs: Vec::new(),
        };
        let store = match Store::open(&BackendConfig::Mysql(Box::new(config.clone()))) {
            Ok(s) => s,
            Err(e) => {
                drop_databases(&databases);
                panic!("open mysql store: {e}");
            }
        };
        Some(MysqlHarness {
            config,
            store: Some(store),
            databases,
        })
    }

    /// The mysql store inside.
    pub fn mysql(&mut self) -> &mut lad_store::MysqlStore {
        match self.store.as_mut() {
            Some(Store::Mysql(s)) => s,
            _ => panic!("not an open mysql store"),
        }
    }
}

impl Drop for MysqlHarness {
    fn drop(&mut self) {
        self.store = None;
        drop_databases(&self.databases);
    }
}

impl Harness for MysqlHarness {
    fn store(&mut self) -> &mut Store {
        self.store.as_mut().expect("store is open")
    }

    fn reopen(&mut self) {
        self.store = None;
        self.store = Some(
            Store::open(&BackendConfig::Mysql(Box::new(self.config.clone())))
                .expect("reopen mysql store"),
        );
    }

    fn inject_malformed(&mut self, source: &str, host: &str, time_ms: i64) {
        // A message over MAX_MESSAGE_BYTES: the table takes it, a reader must report it.
        let sql = format!(
            "INSERT INTO `{source}` (hostname, received_at, message) VALUES ('{host}', \
             TIMESTAMPADD(MICROSECOND, {}, '1970-01-01 00:00:00'), REPEAT('x', 70000))",
            time_ms * 1000
        );
        self.mysql()
            .execute_raw(&sql, false)
            .expect("insert a malformed row");
    }
}
