//! Fuzz target `config`: see `lad_fuzz::targets::config`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    lad_fuzz::targets::config(data);
});
