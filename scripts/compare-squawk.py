#!/usr/bin/env python3
"""Compares `k12 lint-migrations` with squawk on the linter's corpus: verdict per file
side by side, and wall-clock time over the whole corpus.

Usage: scripts/compare-squawk.py K12_BINARY SQUAWK_BINARY [RUNS]
(squawk: `python3 -m venv /tmp/sq && /tmp/sq/bin/pip install squawk-cli`).
Squawk is told `--assume-in-transaction` for files sqlx wraps (no `-- no-transaction`
first line), and `--pg-version=15`. Prints a markdown table for the README.
"""
import json
import pathlib
import subprocess
import sys
import time

# Squawk rules about style or robustness that the k12 linter deliberately has no rule
# for; listed apart so the verdicts compare like with like.
STYLE = {"require-statement-timeout", "prefer-robust-stmts", "prefer-identity",
         "prefer-bigint-over-int", "prefer-text-field", "prefer-timestamptz",
         "prefer-bigint-over-smallint", "ban-char-field"}

k12, squawk = sys.argv[1], sys.argv[2]
runs = int(sys.argv[3]) if len(sys.argv) > 3 else 20
root = pathlib.Path(__file__).resolve().parent.parent / "crates/migration-lint/tests/corpus"
files = sorted(root.glob("unsafe/*.sql")) + sorted(root.glob("safe/*.sql"))


def ours(paths):
    out = subprocess.run([k12, "lint-migrations", "--format", "json", *map(str, paths)],
                         capture_output=True, text=True, check=False)
    return json.loads(out.stdout)


def squawk_args(path):
    wrapped = not path.read_bytes().startswith(b"-- no-transaction")
    return ["--pg-version=15", "--reporter", "json"] + (["--assume-in-transaction"] if wrapped else [])


def theirs(path):
    out = subprocess.run([squawk, *squawk_args(path), str(path)],
                         capture_output=True, text=True, check=False)
    return json.loads(out.stdout or "[]")


rows, agree = [], 0
for f in files:
    expected = "unsafe" if f.parent.name == "unsafe" else "safe"
    a = sorted({x["rule"] for x in ours([f])})
    b_all = sorted({x["rule_name"] for x in theirs(f)})
    b = [r for r in b_all if r not in STYLE]
    ok_a = bool(a) == (expected == "unsafe")
    ok_b = bool(b) == (expected == "unsafe")
    agree += bool(a) == bool(b)
    style = [r for r in b_all if r in STYLE]
    rows.append(f"| {f.parent.name}/{f.name} | {'flag' if a else 'clean'}{'' if ok_a else ' ✗'} "
                f"({', '.join(a) or '-'}) | {'flag' if b else 'clean'}{'' if ok_b else ' ✗'} "
                f"({', '.join(b) or '-'}) | {', '.join(style) or '-'} |")

print("| file | k12 lint-migrations | squawk (comparable rules) | squawk style-only rules |")
print("| --- | --- | --- | --- |")
print("\n".join(rows))
right_a = sum(1 for r in rows if "✗" not in r.split("|")[2])
right_b = sum(1 for r in rows if "✗" not in r.split("|")[3])
print(f"\n{len(files)} files: k12 right on {right_a}, squawk right on {right_b}, "
      f"same verdict on {agree}. (✗ = verdict differs from the corpus folder.)")

t0 = time.perf_counter()
for _ in range(runs):
    subprocess.run([k12, "lint-migrations", *map(str, files)], capture_output=True, check=False)
t_ours = (time.perf_counter() - t0) / runs
t0 = time.perf_counter()
for _ in range(runs):
    # One squawk process over all files (both modes), as a CI job would run it.
    wrapped = [str(f) for f in files if not f.read_bytes().startswith(b"-- no-transaction")]
    plain = [str(f) for f in files if f.read_bytes().startswith(b"-- no-transaction")]
    subprocess.run([squawk, "--pg-version=15", "--assume-in-transaction", *wrapped], capture_output=True, check=False)
    subprocess.run([squawk, "--pg-version=15", *plain], capture_output=True, check=False)
t_theirs = (time.perf_counter() - t0) / runs
print(f"\nWhole corpus ({len(files)} files), mean of {runs} runs: k12 {t_ours*1000:.1f} ms, "
      f"squawk {t_theirs*1000:.1f} ms (two processes: wrapped and no-transaction files).")
