//! Replays the fuzz inputs on stable Rust in a normal `cargo test`: every file of
//! `fuzz/corpus/<target>/` (the committed seeds) and `fuzz/regressions/<target>/` (inputs that
//! once crashed a target, kept after the fix) runs through the same code as the fuzz target,
//! `fuzz/src/targets.rs`, compiled here as a module. A panic or a failed check names the file.

#[path = "../../../fuzz/src/targets.rs"]
mod targets;

use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("a readable folder entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Runs `target` on each seed and regression input; fails naming every input that panicked.
fn replay(target: &str) {
    let seeds = files(&fuzz_dir().join("corpus").join(target));
    assert!(
        !seeds.is_empty(),
        "fuzz/corpus/{target}/ holds no seed inputs"
    );
    let regressions = files(&fuzz_dir().join("regressions").join(target));
    let mut failed = Vec::new();
    for path in seeds.iter().chain(&regressions) {
        let data = std::fs::read(path).expect("a readable input");
        let outcome = std::panic::catch_unwind(|| targets::run(target, &data));
        match outcome {
            Ok(true) => {}
            Ok(false) => panic!("no fuzz target named {target}"),
            Err(_) => failed.push(path.display().to_string()),
        }
    }
    assert!(
        failed.is_empty(),
        "{target}: these inputs failed (the panic messages are above): {failed:?}"
    );
}

#[test]
fn tokenizer_inputs() {
    replay("tokenizer");
}

#[test]
fn pattern_inputs() {
    replay("pattern");
}

#[test]
fn jsonl_inputs() {
    replay("jsonl");
}

#[test]
fn mongoexport_inputs() {
    replay("mongoexport");
}

#[test]
fn syslog_inputs() {
    replay("syslog");
}

#[test]
fn config_inputs() {
    replay("config");
}

#[test]
fn model_file_inputs() {
    replay("model_file");
}

/// Every target has a binary, a seed folder and a test above; no folder names an unknown one.
#[test]
fn targets_binaries_and_folders_agree() {
    let root = fuzz_dir();
    for target in targets::TARGETS {
        assert!(
            root.join("fuzz_targets")
                .join(format!("{target}.rs"))
                .is_file(),
            "fuzz/fuzz_targets/{target}.rs is missing"
        );
    }
    for folder in ["corpus", "regressions", "fuzz_targets"] {
        for path in files(&root.join(folder)).into_iter().chain(
            std::fs::read_dir(root.join(folder))
                .into_iter()
                .flatten()
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_dir()),
        ) {
            let name = path
                .file_stem()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            assert!(
                targets::TARGETS.contains(&name.as_str()),
                "fuzz/{folder}/{name} names no target of fuzz/src/targets.rs"
            );
        }
    }
}

/// Writes the seeds of the `model_file` target: a model trained on the offline fixture and its
/// patterns, each as a whole file and as the bare payload (which the target frames with a right
/// header). Run it after a model format change:
/// `cargo test -p lad --test fuzz_regressions -- --ignored write_model_file_seeds`.
#[test]
#[ignore = "writes fuzz/corpus/model_file/; run by hand after a model format change"]
fn write_model_file_seeds() {
    use lad_core::detector::{DetectorParams, HostModel};
    use lad_core::model_file;
    use lad_core::pattern::mine;

    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/offline_train.jsonl");
    let text = std::fs::read_to_string(&fixture).expect("the fixture reads");
    let messages: Vec<String> = text
        .lines()
        .take(60)
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
            v["message"].as_str().expect("a message").to_string()
        })
        .collect();
    let mut params = DetectorParams::default();
    // A small model keeps the seed small: short vectors, few neighbours.
    params.word2vec.vector_length = 4;
    params.lof_neighbors = 5;
    let mut model = HostModel::train(&messages, &params).expect("the fixture trains");
    let mined = mine(&messages, &Default::default());
    model.set_patterns(mined.miner.clone());
    let dir = fuzz_dir().join("corpus/model_file");
    std::fs::create_dir_all(&dir).expect("the corpus folder");
    let model_bytes = model_file::encode(&model).expect("the model encodes");
    let miner_bytes = model_file::encode(&mined.miner).expect("the patterns encode");
    for (name, bytes) in [("model", &model_bytes), ("patterns", &miner_bytes)] {
        std::fs::write(dir.join(name), bytes).expect("write a seed");
        // The payload alone: the header is 20 bytes.
        std::fs::write(dir.join(format!("{name}-payload")), &bytes[20..]).expect("write a seed");
    }
}
