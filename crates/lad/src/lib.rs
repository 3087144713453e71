//! The `lad` library behind the binary: configuration, command line, daemon and HTTP.
//! Only this crate knows the configuration format and the JSON shapes on the wire.

/// The version `lad --version` prints: the package version and the commit it was built from.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("LAD_COMMIT"),
    ")"
);

/// The commit `lad` was built from (`unknown` when built outside a git checkout without
/// `LAD_COMMIT` set).
pub const COMMIT: &str = env!("LAD_COMMIT");

pub mod aggregation;
pub mod alerts;
pub mod cli;
pub mod commands;
pub mod config;
pub mod daemon;
pub mod demo;
pub mod error;
pub mod feedback;
pub mod http;
pub mod incidents;
pub mod models;
pub mod offline;
pub mod patterns;
pub mod pipeline;
pub mod runtime;
pub mod state;
pub mod stored;
pub mod telemetry;
pub mod wire;
pub mod wiring;
