//! Fuzz target `model_file`: see `lad_fuzz::targets::model_file`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    lad_fuzz::targets::model_file(data);
});
