//! `lad-core` holds lad's algorithms and nothing else: it does no I/O, reads no clock and uses
//! no global randomness. Every model is built from data and a seed passed in, so the same input
//! and seed give the same model and the same verdicts.
//!
//! Pipeline: [`tokenizer`] turns a message into tokens, [`word2vec`] learns token vectors,
//! a message vector is the mean of its token vectors, [`lof`] and [`autoencoder`] score vectors,
//! [`detector`] combines them (with rarity and severity signals) into a per-host model whose
//! bytes [`model_file`] versions and checksums. [`syslog`] cuts a message's header off its body,
//! [`pattern`] mines the bodies into patterns with stable ids and counts per time bucket,
//! [`incident`] groups anomalies, rate jumps and silent heartbeats into incidents,
//! [`aggregate`] groups anomalous lines by pattern (or by the old DBSCAN, whose text
//! [`template`] writes with `***` where members differ).

pub mod aggregate;
pub mod autoencoder;
pub mod detector;
pub mod incident;
pub mod lof;
pub mod model_file;
pub mod pattern;
pub mod scoring;
pub mod severity;
pub mod syslog;
pub mod template;
pub mod tokenizer;
pub mod word2vec;
