//! Fuzz target `jsonl`: see `lad_fuzz::targets::jsonl`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    lad_fuzz::targets::jsonl(data);
});
