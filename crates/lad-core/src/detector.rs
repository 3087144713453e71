//! detector: under construction.
