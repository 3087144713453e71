//! lad's fuzz targets as a library: [`targets`] holds one function per input format, which the
//! binaries of `fuzz_targets/` hand libFuzzer's inputs to.

pub mod targets;
