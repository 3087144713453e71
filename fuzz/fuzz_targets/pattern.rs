//! Fuzz target `pattern`: see `lad_fuzz::targets::pattern`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    lad_fuzz::targets::pattern(data);
});
