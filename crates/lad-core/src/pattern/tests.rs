//! Tests of the miner: ids, evidence, the bound, counts, saving, and the properties that must
//! hold for every input (no panic, determinism, online equals batch, idempotence, size
//! independence).

use super::*;
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Counts near `u64::MAX` (a saved miner may hold any) and times near the ends of `i64`
/// saturate instead of overflowing (the model_file fuzz target found the merge overflow).
#[test]
fn stats_saturate_at_the_ends() {
    let p = params();
    let full = PatternStats {
        count: u64::MAX,
        first_ms: 0,
        last_ms: 0,
        buckets: vec![(0, u64::MAX)],
    };
    let mut merged = full.clone();
    merged.merge(full.clone(), p.params());
    assert_eq!(
        (merged.count, merged.buckets.clone()),
        (u64::MAX, vec![(0, u64::MAX)])
    );
    let mut added = full;
    added.add(1, 1, p.params());
    assert_eq!(
        (added.count, added.buckets),
        (u64::MAX, vec![(0, u64::MAX)])
    );
    let mut early = PatternStats::default();
    early.add(i64::MIN + 1, 1, p.params());
    early.add(i64::MAX, 1, p.params());
    assert_eq!(early.buckets[0].0, i64::MIN);
    assert_eq!(
        (early.first_ms, early.last_ms, early.count),
        (i64::MIN + 1, i64::MAX, 2)
    );
}

fn params() -> PatternValidParams {
    PatternParams::default()
        .check()
        .expect("default params are valid")
}

/// Ids of lines once all are seen, grouped into labels numbered by first appearance.
fn labels(ids: &[PatternId]) -> Vec<usize> {
    let mut seen: Vec<PatternId> = Vec::new();
    ids.iter()
        .map(|id| match seen.iter().position(|s| s == id) {
            Some(i) => i,
            None => {
                seen.push(*id);
                seen.len() - 1
            }
        })
        .collect()
}

fn text_of(miner: &Miner, id: PatternId) -> String {
    miner
        .get(id)
        .map(|p| p.text.to_string())
        .unwrap_or_default()
}

#[test]
fn ids_are_fnv1a_of_the_text_in_hex() {
    assert_eq!(PatternId::of_text(""), PatternId(0xcbf2_9ce4_8422_2325));
    assert_eq!(PatternId::of_text("a"), PatternId(0xaf63_dc4c_8601_ec8c));
    let id = PatternId::of_text("Failed password for <*>");
    assert_eq!(id.to_string().len(), 16);
    assert_eq!(id.to_string().parse::<PatternId>(), Ok(id));
}

#[test]
fn bad_params_are_refused() {
    for (p, name) in [
        (
            PatternParams {
                max_shapes: 0,
                ..PatternParams::default()
            },
            "max_shapes",
        ),
        (
            PatternParams {
                variable_after: 1,
                ..PatternParams::default()
            },
            "variable_after",
        ),
        (
            PatternParams {
                bucket_ms: 0,
                ..PatternParams::default()
            },
            "bucket_ms",
        ),
        (
            PatternParams {
                max_buckets: 0,
                ..PatternParams::default()
            },
            "max_buckets",
        ),
    ] {
        assert!(matches!(p.check(), Err(PatternError::InvalidParam { name: n, .. }) if n == name));
    }
}

#[test]
fn shapes_group_lines_and_values_become_variables_by_evidence() {
    let mut miner = Miner::new(params());
    let a = miner.observe("Failed password for root from 1.2.3.4 port 22 ssh2", 0);
    let b = miner.observe("Failed password for root from 5.6.7.8 port 2222 ssh2", 0);
    assert_eq!(a, b);
    assert_eq!(
        text_of(&miner, a),
        "Failed password for root from <*> port <*> ssh2"
    );
    for user in ["admin", "oracle", "guest"] {
        miner.observe(
            &format!("Failed password for {user} from 1.2.3.4 port 22 ssh2"),
            0,
        );
    }
    let merged = miner.classify("Failed password for test from 9.9.9.9 port 1 ssh2");
    assert_eq!(
        text_of(&miner, merged),
        "Failed password for <*> from <*> port <*> ssh2"
    );
    // The id handed out before the join still finds the pattern.
    assert_eq!(miner.resolve(a), merged);
    assert_ne!(a, merged);
}

#[test]
fn a_few_recurring_words_stay_distinct_events() {
    let mut miner = Miner::new(params());
    let mut ids = Vec::new();
    for _ in 0..50 {
        for state in ["Active", "Inactive", "Paused"] {
            ids.push(miner.observe(&format!("Location icon should now be in state {state}"), 0));
        }
    }
    let ids: Vec<PatternId> = ids.into_iter().map(|id| miner.resolve(id)).collect();
    assert_eq!(&labels(&ids)[..3], [0, 1, 2]);
}

#[test]
fn a_named_value_joins_the_pattern_with_a_bare_value_there() {
    for order in [false, true] {
        let mut lines = vec![
            "clock synced to 192.168.0.7, level 3",
            "clock synced to SELF(1), level 9",
        ];
        if order {
            lines.reverse();
        }
        let mined = mine(&lines, &params());
        assert_eq!(mined.ids[0], mined.ids[1], "order {order}");
        assert_eq!(
            text_of(&mined.miner, mined.ids[0]),
            "clock synced to <*>, level <*>"
        );
    }
    // Fitting a generalised template counts as well (`owner=<*>` opened by evidence).
    let mut lines: Vec<String> = ["ann", "bob", "cy", "dee"]
        .iter()
        .map(|u| format!("grant id=1, owner={u}, set=null"))
        .collect();
    lines.push("grant id=2, owner=root, set=Group{7}".into());
    let mined = mine(&lines, &params());
    assert!(mined.ids.iter().all(|&id| id == mined.ids[0]));
    // Without a bare value anywhere, a named value stays as it is.
    let mined = mine(
        &["power setLevel(3) done", "power setLevel(4) done"],
        &params(),
    );
    assert_eq!(
        text_of(&mined.miner, mined.ids[0]),
        "power setLevel(<*>) done"
    );
}

#[test]
fn a_word_where_another_shape_has_a_value_is_a_value() {
    let lines = [
        "login failed for user 4711 from 10.0.0.1 port 22",
        "login failed for user guest from 10.0.0.2 port 22",
        "login failed for user admin from 10.0.0.3 port 22",
    ];
    let mined = mine(&lines, &params());
    assert!(mined.ids.iter().all(|&id| id == mined.ids[0]));
    assert_eq!(
        text_of(&mined.miner, mined.ids[0]),
        "login failed for user <*> from <*> port <*>"
    );
    // Two words alone are not evidence enough.
    let mined = mine(&lines[1..], &params());
    assert_ne!(mined.ids[0], mined.ids[1]);
}

#[test]
fn three_names_equal_but_for_their_digits_are_a_value() {
    let lines = [
        "IRQ0 used by override.",
        "IRQ2 used by override.",
        "IRQ9 used by override.",
    ];
    let mined = mine(&lines, &params());
    assert!(mined.ids.iter().all(|&id| id == mined.ids[0]), "{mined:?}");
    assert_eq!(text_of(&mined.miner, mined.ids[0]), "<*> used by override.");
    // Two are not evidence enough (`IPV4` and `IPV6` name two events), nor are three words
    // that differ in more than their digits.
    let mined = mine(&lines[..2], &params());
    assert_ne!(mined.ids[0], mined.ids[1]);
    let mixed = [
        "IRQ0 used by override.",
        "NMI2 used by override.",
        "IRQ9 used by override.",
    ];
    let mined = mine(&mixed, &params());
    assert_ne!(mined.ids[0], mined.ids[2]);
}

#[test]
fn after_a_word_that_named_a_variable_two_values_are_enough() {
    let mut lines: Vec<String> = ["ann", "bob", "cy", "dee"]
        .iter()
        .map(|u| format!("lock released for owner {u}"))
        .collect();
    lines.push("lock taken by owner eve at once".into());
    lines.push("lock taken by owner fay at once".into());
    let mined = mine(&lines, &params());
    assert_eq!(mined.ids[4], mined.ids[5]);
    assert_eq!(
        text_of(&mined.miner, mined.ids[4]),
        "lock taken by owner <*> at once"
    );
    // The same when the two values come first: they wait for the word to name values.
    lines.rotate_left(4);
    let mined = mine(&lines, &params());
    assert_eq!(mined.ids[0], mined.ids[1]);
    // Without the other pattern, two values are two events.
    let mined = mine(&lines[..2], &params());
    assert_ne!(mined.ids[0], mined.ids[1]);
}

#[test]
fn the_bound_sends_new_shapes_to_overflow_patterns() {
    let p = PatternParams {
        max_shapes: 2,
        ..PatternParams::default()
    }
    .check()
    .expect("valid");
    let mut miner = Miner::new(p);
    let a = miner.observe("alpha beta", 0);
    let b = miner.observe("gamma delta", 0);
    let c = miner.observe("epsilon zeta", 0);
    let d = miner.observe("eta theta iota", 0);
    assert_eq!(miner.shapes(), 2);
    assert!(a != b && c != d && ![a, b].contains(&c));
    assert_eq!(miner.classify("epsilon zeta"), c);
    assert_eq!(miner.observe("alpha beta", 0), a);
    let overflow: Vec<_> = miner.patterns().filter(|p| p.overflow).collect();
    assert_eq!(overflow.len(), 2);
    assert!(overflow.iter().all(|p| p.text == VAR && p.stats.count == 1));
}

#[test]
fn counts_per_bucket_are_bounded() {
    let p = PatternParams {
        bucket_ms: 1_000,
        max_buckets: 3,
        ..PatternParams::default()
    }
    .check()
    .expect("valid");
    let mut miner = Miner::new(p);
    for t in [0, 10, 1_500, 2_000, 3_999, 500, 7_000] {
        miner.observe("disk full on /dev/sda1", t);
    }
    let view = miner.patterns().next().expect("one pattern");
    assert_eq!(view.stats.count, 7);
    assert_eq!((view.stats.first_ms, view.stats.last_ms), (0, 7_000));
    assert_eq!(view.stats.buckets, [(2_000, 1), (3_000, 1), (7_000, 1)]);
    assert_eq!(view.template(TemplateFormat::Stars), "disk full on ***");
}

#[test]
fn odd_input_gets_a_pattern_and_long_lines_are_cheap() {
    let mut miner = Miner::new(params());
    let long = "x".repeat(1 << 20);
    let spaced = "word 12 ".repeat(1 << 17);
    for body in [
        "",
        " ",
        "\u{0}\u{1}\u{7f}",
        "é\u{301} ∑ 🚀 \u{202e}",
        "<*>",
        "***",
        &long,
        &spaced,
    ] {
        let started = std::time::Instant::now();
        let id = miner.observe(body, 0);
        assert!(
            started.elapsed().as_millis() < 200,
            "slow on {} bytes",
            body.len()
        );
        assert_eq!(miner.classify(body), id);
        assert!(miner.get(id).is_some());
    }
}

#[test]
fn a_saved_miner_reads_back_the_same() {
    let mut miner = Miner::new(params());
    let lines = generated_lines(500, 7);
    for (t, line) in lines.iter().enumerate() {
        miner.observe(line, t as i64 * 1_000);
    }
    let bytes = postcard::to_stdvec(&miner).expect("serialises");
    let back: Miner = postcard::from_bytes(&bytes).expect("deserialises");
    let a: Vec<_> = miner
        .patterns()
        .map(|p| (p.id, p.text.to_string(), p.stats.clone()))
        .collect();
    let b: Vec<_> = back
        .patterns()
        .map(|p| (p.id, p.text.to_string(), p.stats.clone()))
        .collect();
    assert_eq!(a, b);
    for line in &lines {
        assert_eq!(miner.classify(line), back.classify(line));
    }
}

/// Lines of a few synthetic events with values of real shapes: numbers, addresses, hex ids,
/// user and host names drawn from large pools (so that 2,000 lines already show many).
fn generated_lines(n: usize, seed: u64) -> Vec<String> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let word = |rng: &mut ChaCha8Rng| -> String {
        let len = rng.random_range(3..9);
        (0..len)
            .map(|_| char::from(b'a' + rng.random_range(0..26u8)))
            .collect()
    };
    (0..n)
        .map(|_| {
            let ip = format!(
                "{}.{}.{}.{}",
                rng.random_range(1..255),
                rng.random_range(0..255),
                rng.random_range(0..255),
                rng.random_range(1..255)
            );
            match rng.random_range(0..6) {
                0 => format!(
                    "Failed password for {} from {ip} port {} ssh2",
                    word(&mut rng),
                    rng.random_range(1024..65535)
                ),
                1 => format!(
                    "Accepted publickey for {} from {ip} port {} ssh2",
                    word(&mut rng),
                    rng.random_range(1024..65535)
                ),
                2 => format!(
                    "session opened for user {} by (uid={})",
                    word(&mut rng),
                    rng.random_range(0..2000)
                ),
                3 => format!(
                    "Received block blk_{} of size {} from /{ip}",
                    rng.random::<u32>(),
                    rng.random_range(1..1 << 26)
                ),
                4 => format!("Connection closed by {ip} [preauth]"),
                _ => format!(
                    "worker {:08x} finished job {} in {} ms",
                    rng.random::<u32>(),
                    word(&mut rng),
                    rng.random_range(1..5000)
                ),
            }
        })
        .collect()
}

#[test]
fn groups_and_texts_of_the_first_lines_do_not_depend_on_what_follows() {
    let lines = generated_lines(22_000, 11);
    let p = params();
    let small = mine(&lines[..2_000], &p);
    let large = mine(&lines, &p);
    assert_eq!(labels(&small.ids), labels(&large.ids[..2_000]));
    for (a, b) in small.ids.iter().zip(&large.ids) {
        assert_eq!(text_of(&small.miner, *a), text_of(&large.miner, *b));
    }
    let texts: Vec<String> = small.miner.patterns().map(|p| p.text.to_string()).collect();
    assert_eq!(texts.len(), 6, "{texts:#?}");
}

#[test]
fn online_equals_batch_and_classify_agrees() {
    let lines = generated_lines(3_000, 3);
    let p = params();
    let batch = mine(&lines, &p);
    let mut online = Miner::new(p);
    let handed: Vec<PatternId> = lines.iter().map(|l| online.observe(l, 0)).collect();
    let resolved: Vec<PatternId> = handed.iter().map(|id| online.resolve(*id)).collect();
    assert_eq!(resolved, batch.ids);
    for (line, id) in lines.iter().zip(&batch.ids) {
        assert_eq!(online.classify(line), *id);
    }
}

/// Log-like lines from a small vocabulary, so that shapes repeat and join.
fn log_like() -> impl Strategy<Value = Vec<String>> {
    let piece = prop::sample::select(vec![
        "failed",
        "password",
        "for",
        "user",
        "root",
        "admin",
        "guest",
        "oracle",
        "test",
        "from",
        "1.2.3.4",
        "10.0.0.1:22",
        "port",
        "22",
        "4096",
        "(host.example.org)",
        "()",
        "uid=0",
        "a=1,b=true",
        "5",
        "KB",
        "ms",
        "/var/log/x",
        "***",
        "<*>",
        "Über",
        "-",
        "[x]",
        "node-7",
    ]);
    proptest::collection::vec(
        proptest::collection::vec(piece, 0..9).prop_map(|w| w.join(" ")),
        0..60,
    )
}

proptest! {
    #[test]
    fn never_panics_and_every_line_has_its_pattern(lines in proptest::collection::vec(any::<String>(), 0..30)) {
        let mined = mine(&lines, &params());
        for (line, id) in lines.iter().zip(&mined.ids) {
            prop_assert_eq!(mined.miner.classify(line), *id);
            prop_assert!(mined.miner.get(*id).is_some());
        }
    }

    #[test]
    fn mining_is_deterministic_and_online_equals_batch(lines in log_like()) {
        let p = params();
        let a = mine(&lines, &p);
        let b = mine(&lines, &p);
        prop_assert_eq!(&a.ids, &b.ids);
        let mut online = Miner::new(p);
        let handed: Vec<PatternId> = lines.iter().map(|l| online.observe(l, 0)).collect();
        let resolved: Vec<PatternId> = handed.iter().map(|id| online.resolve(*id)).collect();
        prop_assert_eq!(&resolved, &a.ids);
        for (line, id) in lines.iter().zip(&a.ids) {
            prop_assert_eq!(a.miner.classify(line), *id);
        }
    }

    #[test]
    fn lines_seen_again_change_nothing(lines in log_like()) {
        let p = params();
        let once = mine(&lines, &p);
        let twice: Vec<&String> = lines.iter().chain(&lines).collect();
        let again = mine(&twice, &p);
        prop_assert_eq!(&once.ids[..], &again.ids[..lines.len()]);
        prop_assert_eq!(&again.ids[..lines.len()], &again.ids[lines.len()..]);
    }

    #[test]
    fn a_template_mined_as_a_line_is_itself(lines in log_like()) {
        let mined = mine(&lines, &params());
        for view in mined.miner.patterns() {
            let again = mine(&[view.text], &params());
            let id = again.ids[0];
            prop_assert_eq!(text_of(&again.miner, id), view.text.to_string());
            prop_assert_eq!(id, view.id);
        }
    }
}
