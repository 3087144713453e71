#!/usr/bin/env python3
"""Times Drain3 as `pyref drain` configures it (../shared/pyref/lad_ref/drain_ref.py: default
TemplateMinerConfig, IP/HEX/NUM masking) on the `message` of every line of a JSON Lines file:
mining (add_log_message for every line) and then matching (match for every line). Prints one
JSON object. Needs only `drain3` (0.9.11) in the interpreter running it.

  drain3_speed.py IN.jsonl [PYREF_DIR]
"""
import json
import sys
import time

pyref = sys.argv[2] if len(sys.argv) > 2 else "../shared/pyref"
sys.path.insert(0, pyref)
from lad_ref.drain_ref import make_miner  # noqa: E402

messages = [json.loads(l)["message"] for l in open(sys.argv[1]) if l.strip()]
miner = make_miner()
t0 = time.perf_counter()
for m in messages:
    miner.add_log_message(m)
mine_s = time.perf_counter() - t0
t0 = time.perf_counter()
for m in messages:
    miner.match(m)
match_s = time.perf_counter() - t0
print(json.dumps({"lines": len(messages), "clusters": len(miner.drain.clusters),
                  "mine_s": round(mine_s, 6), "match_s": round(match_s, 6)}))
