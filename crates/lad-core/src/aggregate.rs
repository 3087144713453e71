//! aggregate: under construction.
