//! lof: under construction.
