//! Fuzz target `tokenizer`: see `lad_fuzz::targets::tokenizer`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    lad_fuzz::targets::tokenizer(data);
});
