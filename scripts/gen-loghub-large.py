#!/usr/bin/env python3
"""Builds larger LogHub-like sets from the 2k `groups` sets, for checking that patterns do not
depend on how many lines were seen. Standard library only.

  gen-loghub-large.py IN.jsonl OUT.jsonl [--total 20000] [--seed 1]

OUT holds the lines of IN unchanged, followed by new lines up to --total. Each new line copies a
line of IN drawn at random (so event frequencies stay as in IN) and draws new values for the
`<*>` positions of its `truth_template`, keeping their shape: digits stay digits (same length),
hex ids stay hex, punctuation stays; a value made only of letters is a value seen at that
position of that template, or, half the time where the 2k set shows three or more words there
(a user or host name rather than a flag or a state), random letters with the same case pattern;
letters inside a value with digits stay. Lines whose message does not fit their template are copied as
they are. `truth`, `truth_template` and the other fields are kept. The same input, total and
seed always give the same output. The data is from LogHub (https://github.com/logpai/loghub).
"""
import argparse
import json
import random
import re
import string
import zlib
from collections import defaultdict


def template_regex(template, value=r"(.+?)", gap=r"\s+"):
    parts = re.split(r"(<\*>)", template.strip())
    out = []
    for p in parts:
        if p == "<*>":
            out.append(value)
        else:
            out.append(r"\s+".join(re.escape(w) for w in p.split()) if p.strip() else (gap if p else ""))
            if p and p[0].isspace() and out[-1] and not out[-1].startswith(r"\s"):
                out[-1] = r"\s*" + out[-1]
            if p and p[-1].isspace() and p.strip():
                out[-1] = out[-1] + r"\s*"
    return re.compile("^" + "".join(out) + "$", re.S)


HEX = re.compile(r"^(0x)?[0-9a-fA-F]+$")


def new_value(value, seen, rng):
    if not value:
        return value
    if value.isalpha():
        # a position with few words in the 2k set (a flag, a state) keeps to them; one with
        # several (a user, a host) gets new words half the time
        if seen and (len(seen) < 3 or rng.random() < 0.5):
            return rng.choice(seen)
        return "".join(rng.choice(string.ascii_uppercase if c.isupper() else string.ascii_lowercase)
                       if c.isascii() and c.isalpha() else c for c in value)
    has_digit = any(c.isdigit() for c in value)
    if HEX.match(value) and has_digit and any(c.isalpha() for c in value.replace("0x", "")):
        prefix = "0x" if value.startswith("0x") else ""
        body = value[len(prefix):]
        hexdigits = "0123456789abcdef" if body == body.lower() else "0123456789ABCDEF"
        return prefix + "".join(rng.choice(hexdigits) for _ in body)
    out = []
    for i, c in enumerate(value):
        if c.isdigit():
            lead = i == 0 or not value[i - 1].isdigit()
            nxt_digit = i + 1 < len(value) and value[i + 1].isdigit()
            # a multi-digit number keeps a non-zero first digit
            out.append(rng.choice("123456789") if lead and nxt_digit and c != "0" else rng.choice(string.digits))
        else:
            out.append(c)
    return "".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("inp")
    ap.add_argument("out")
    ap.add_argument("--total", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rows = [json.loads(l) for l in open(a.inp) if l.strip()]
    rng = random.Random(a.seed * 1_000_003 + zlib.crc32(a.inp.split("/")[-1].encode()))
    regexes, values, seen = {}, [], defaultdict(lambda: defaultdict(list))
    for r in rows:
        t = r["truth_template"]
        if t not in regexes:
            # values are not empty where the line allows it
            regexes[t] = (template_regex(t), template_regex(t, r"(.*?)", r"\s*"))
        m = regexes[t][0].match(r["message"].strip()) or regexes[t][1].match(r["message"].strip())
        vals = list(m.groups()) if m else None
        values.append(vals)
        if vals:
            for k, v in enumerate(vals):
                if v.isalpha() and v not in seen[t][k]:
                    seen[t][k].append(v)
    with open(a.out, "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
        for n in range(a.total - len(rows)):
            i = rng.randrange(len(rows))
            r, vals = dict(rows[i]), values[i]
            if vals is not None:
                t = r["truth_template"]
                parts = re.split(r"(<\*>)", t.strip())
                k, text = 0, []
                for p in parts:
                    if p == "<*>":
                        text.append(new_value(vals[k], seen[t][k], rng))
                        k += 1
                    else:
                        text.append(p)
                r["message"] = "".join(text)
            r["line"] = len(rows) + n + 1
            f.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    main()
