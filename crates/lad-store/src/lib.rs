//! `lad-store` is the storage contract of lad and its backends. It knows nothing of models:
//! it reads records, writes verdicts, reads anomalies and writes aggregates.

mod error;
pub mod parse;
pub mod record;
pub mod timefmt;

pub use error::StoreError;
pub use record::*;
