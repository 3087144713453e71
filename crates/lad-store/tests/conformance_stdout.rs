//! Runs the conformance checks of the sink role against the `stdout` sink writing to a buffer.

use std::io::Write;
use std::sync::{Arc, Mutex};

use lad_store::conformance::{Harness, T0};
use lad_store::{Record, RecordId, StdoutConfig, StdoutSink, Store};

#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))?
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

struct StdoutHarness {
    buffer: Shared,
    store: Store,
}

impl StdoutHarness {
    fn new() -> StdoutHarness {
        let buffer = Shared::default();
        let sink = StdoutSink::with_writer(&StdoutConfig::default(), Box::new(buffer.clone()));
        StdoutHarness {
            buffer,
            store: Store::Stdout(sink),
        }
    }
}

impl Harness for StdoutHarness {
    fn store(&mut self) -> &mut Store {
        &mut self.store
    }
    fn reopen(&mut self) {}
    fn inject_malformed(&mut self, _: &str, _: &str, _: i64) {}
    fn sink_output(&mut self) -> String {
        String::from_utf8_lossy(&self.buffer.0.lock().expect("not poisoned")).into_owned()
    }
    fn records_to_judge(&mut self, source: &str, n: usize) -> Vec<Record> {
        (0..n)
            .map(|i| Record {
                id: RecordId::Int(i as i64),
                source: source.into(),
                host: "a".into(),
                time: T0 + i as i64 * 1000,
                message: format!("m{i}"),
                extra: Default::default(),
            })
            .collect()
    }
}

lad_store::conformance_tests!(StdoutHarness::new(); verdict_sink, sink_only);
