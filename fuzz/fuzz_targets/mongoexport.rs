//! Fuzz target `mongoexport`: see `lad_fuzz::targets::mongoexport`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    lad_fuzz::targets::mongoexport(data);
});
