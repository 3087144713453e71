//! Test hooks of the `mysql` backend (feature `test-support`): raw SQL on either database and
//! statements on a server with no database selected. Never part of a normal build.

use super::error::is_transient_sql;
use super::*;

impl MysqlStore {
    /// Runs raw SQL on the input (`on_target == false`) or target database; for tests that need
    /// rows no well-behaved writer would produce.
    #[doc(hidden)]
    pub fn execute_raw(&mut self, sql: &str, on_target: bool) -> Result<(), StoreError> {
        let sql = sql.to_owned();
        run!(self, "execute raw SQL", |ctx| {
            let pool = if on_target { &ctx.target } else { &ctx.input };
            pool.execute(AssertSqlSafe(sql.clone()))
                .await
                .map_err(|e| {
                    if on_target {
                        Fail::Target(e)
                    } else {
                        Fail::Input(e)
                    }
                })?;
            Ok::<(), Fail>(())
        })
    }

    /// Runs a query on the input or target database and returns every cell as text (`None` for
    /// NULL; cast numbers with `CAST(.. AS CHAR)`); for tests that check the stored tables.
    #[doc(hidden)]
    pub fn query_raw(
        &mut self,
        sql: &str,
        on_target: bool,
    ) -> Result<Vec<Vec<Option<String>>>, StoreError> {
        let sql = sql.to_owned();
        run!(self, "run a raw query", |ctx| {
            let pool = if on_target { &ctx.target } else { &ctx.input };
            let wrap = |e| {
                if on_target {
                    Fail::Target(e)
                } else {
                    Fail::Input(e)
                }
            };
            let rows = pool
                .fetch_all(AssertSqlSafe(sql.clone()))
                .await
                .map_err(wrap)?;
            rows.iter()
                .map(|r| {
                    (0..r.len())
                        .map(|i| {
                            r.try_get::<Option<Vec<u8>>, _>(i)
                                .map(|c| c.map(|b| String::from_utf8_lossy(&b).into_owned()))
                        })
                        .collect::<Result<Vec<_>, _>>()
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(wrap)
        })
    }
}

/// Runs statements on a server without selecting a database (creating or dropping test
/// databases); for tests.
#[doc(hidden)]
pub fn execute_admin(endpoint: &MysqlEndpoint, statements: &[&str]) -> Result<(), StoreError> {
    let rt = runtime(endpoint)?;
    rt.block_on(async {
        use sqlx::{ConnectOptions as _, Connection as _};
        let mut conn = endpoint.options(false).connect().await?;
        for s in statements {
            conn.execute(AssertSqlSafe(s.to_string())).await?;
        }
        conn.close().await
    })
    .map_err(|e| {
        if is_transient_sql(&e) {
            StoreError::Unavailable {
                backend: BACKEND,
                address: format!("{}:{}", endpoint.host, endpoint.port),
                operation: "connect",
                reason: e.to_string(),
            }
        } else {
            StoreError::driver(
                BACKEND,
                endpoint.address(),
                "run admin statements",
                false,
                e,
            )
        }
    })
}
