//! `lad-store` is the storage contract of lad and its backends. It knows nothing of models:
//! it reads records, writes verdicts, reads anomalies and writes aggregates.
