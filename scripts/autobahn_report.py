#!/usr/bin/env python3
"""Reads Autobahn|Testsuite reports (index.json) and holds them to our bar.

Usage: autobahn_report.py REPORT_DIR [REPORT_DIR ...]
       autobahn_report.py --nine REPORT_DIR [REPORT_DIR ...]   (9.* durations as a Markdown table)

Prints, per report, the counts per behaviour and the total duration of the 9.* (throughput)
cases, and exits 1 if any case is neither OK nor INFORMATIONAL, in its behaviour or its
close behaviour. (autobahn.sh itself already fails on FAILED and on missing cases.)
"""
import json
import sys
from collections import Counter
from pathlib import Path

ACCEPTED = {"OK", "INFORMATIONAL"}


def case_key(case_id):
    return [int(part) for part in case_id.split(".")]


def main(dirs):
    bad = []
    for d in dirs:
        index = json.loads((Path(d) / "index.json").read_text())
        for agent, cases in index.items():
            behaviours = Counter(r["behavior"] for r in cases.values())
            nine = sum(r["duration"] for c, r in cases.items() if c.startswith("9."))
            counts = ", ".join(f"{k} {v}" for k, v in sorted(behaviours.items()))
            print(f"{d} ({agent}): {len(cases)} cases: {counts}; 9.* took {nine} ms")
            for case_id in sorted(cases, key=case_key):
                r = cases[case_id]
                if r["behavior"] not in ACCEPTED or r["behaviorClose"] not in ACCEPTED:
                    bad.append(f"{d} {case_id}: {r['behavior']} / close {r['behaviorClose']}")
    for line in bad:
        print("NOT OK:", line)
    if bad:
        sys.exit(1)


def nine_table(dirs):
    """One row per 9.* case, one column of milliseconds per report."""
    columns = []
    for d in dirs:
        index = json.loads((Path(d) / "index.json").read_text())
        for agent, cases in index.items():
            columns.append((f"{Path(d).name} ({agent})", cases))
    ids = sorted({c for _, cases in columns for c in cases if c.startswith("9.")}, key=case_key)
    print("| case | " + " | ".join(name for name, _ in columns) + " |")
    print("|---|" + "---:|" * len(columns))
    for case_id in ids:
        cells = [str(cases.get(case_id, {}).get("duration", "-")) for _, cases in columns]
        print(f"| {case_id} | " + " | ".join(cells) + " |")
    totals = [str(sum(r["duration"] for c, r in cases.items() if c.startswith("9."))) for _, cases in columns]
    print("| **total** | " + " | ".join(totals) + " |")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    if sys.argv[1] == "--nine":
        nine_table(sys.argv[2:])
    else:
        main(sys.argv[1:])
