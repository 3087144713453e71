//! The one retry policy of `lad-store`: how often and how long a backend that retries by itself
//! waits before it gives up on a transient failure. Only calls that are safe to repeat (every
//! role's operations are idempotent) go through it; what counts as transient is the caller's
//! answer, from the driver's error. It sleeps the calling thread and knows no driver.
//!
//! Today the `mysql` backend retries (a lost connection or a deadlock is common and short);
//! `mg` does not (the driver already retries reads and writes once), and the daemon backs off
//! across passes on any [`crate::StoreError::is_transient`] error.

use std::time::Duration;

/// How many times to retry a transient failure, and the first pause (doubled after each try).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub retries: u32,
    /// The pause before the first retry.
    pub first_delay: Duration,
}

impl RetryPolicy {
    /// Three retries after 200 ms, 400 ms and 800 ms: about 1.4 s, enough for a server restart's
    /// first refusals or a deadlock, short enough that the daemon's own backoff takes over.
    pub const DEFAULT: RetryPolicy = RetryPolicy {
        retries: 3,
        first_delay: Duration::from_millis(200),
    };

    /// Runs `attempt` until it succeeds, fails with an error `is_transient` rejects, or the
    /// retries are spent; returns the last result.
    pub fn run<T, E>(
        &self,
        mut attempt: impl FnMut() -> Result<T, E>,
        is_transient: impl Fn(&E) -> bool,
    ) -> Result<T, E> {
        let mut delay = self.first_delay;
        let mut tries = 0;
        loop {
            match attempt() {
                Err(e) if tries < self.retries && is_transient(&e) => {
                    tries += 1;
                    std::thread::sleep(delay);
                    delay *= 2;
                }
                result => return result,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_transient_failures_then_gives_up() {
        let policy = RetryPolicy {
            retries: 2,
            first_delay: Duration::from_millis(1),
        };
        let mut calls = 0;
        let r: Result<(), &str> = policy.run(
            || {
                calls += 1;
                Err("busy")
            },
            |_| true,
        );
        assert_eq!((r, calls), (Err("busy"), 3));
        let mut calls = 0;
        let r: Result<(), &str> = policy.run(
            || {
                calls += 1;
                Err("bad")
            },
            |_| false,
        );
        assert_eq!((r, calls), (Err("bad"), 1));
        let mut calls = 0;
        let r = policy.run(
            || {
                calls += 1;
                if calls < 2 {
                    Err("busy")
                } else {
                    Ok(calls)
                }
            },
            |_| true,
        );
        assert_eq!(r, Ok(2));
    }
}
