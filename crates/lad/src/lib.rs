//! The `lad` library behind the binary: configuration, command line, daemon and HTTP.
//! Only this crate knows the configuration format and the JSON shapes on the wire.

pub mod aggregation;
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
