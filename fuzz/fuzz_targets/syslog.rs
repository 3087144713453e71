//! Fuzz target `syslog`: see `lad_fuzz::targets::syslog_import`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    lad_fuzz::targets::syslog_import(data);
});
