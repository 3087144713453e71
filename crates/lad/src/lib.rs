//! The `lad` library behind the binary: configuration, command line, daemon and HTTP.

pub mod config;
