#!/usr/bin/env python3
"""Prints the bench table from ROW lines on stdin (the format bench/lib.sh
describes): each case's figure for tlsshim, its anchor's, the ratio
tlsshim/anchor, the goal, and whether it is met. A goal "<=X" or ">=X" holds
on the ratio, "max=X" on tlsshim's figure itself, "-" is information only."""
import argparse
import datetime
import os
import platform
import sys


def number(text):
    try:
        return float(text)
    except ValueError:
        return None


def fmt(v):
    if v is None:
        return "NA"
    if v >= 100:
        return "%.0f" % v
    if v >= 10:
        return "%.1f" % v
    if v >= 1:
        return "%.2f" % v
    return "%.3f" % v


def verdict(goal, value, ratio):
    if goal in ("", "-"):
        return "info"
    for op, on in (("<=", ratio), (">=", ratio), ("max=", value)):
        if goal.startswith(op):
            limit = number(goal[len(op):])
            if limit is None or on is None:
                return "no figure"
            ok = on >= limit if op == ">=" else on <= limit
            return "met" if ok else "NOT MET"
    return "bad goal"


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--started", default="")
    ap.add_argument("--quick", default="0")
    args = ap.parse_args()
    rows = []
    for line in sys.stdin:
        f = line.rstrip("\n").split("\t")
        if f[0] != "ROW" or len(f) < 8:
            continue
        _, case, label, value, alabel, avalue, unit, goal = f[:8]
        v, a = number(value), number(avalue)
        ratio = v / a if v is not None and a not in (None, 0.0) else None
        rows.append((case, label, fmt(v) + " " + unit, alabel, fmt(a), fmt(ratio) + "x" if ratio is not None
                     else "NA", goal, verdict(goal, v, ratio)))
    mode = "QUICK=1 (small runs: the figures prove the cases run, not how fast)" if args.quick == "1" else "full"
    print("tlsshim bench, %s" % mode)
    print("machine: %s, %d cores (nproc), %s; %s" % (platform.node(), os.cpu_count() or 0, cpu_model(),
                                                      platform.release()))
    print("date: %s (finished %s)" % (args.started,
                                      datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M:%S UTC")))
    head = ("case", "what", "tlsshim", "anchor", "anchor's", "ratio", "goal", "met?")
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    widths[1] = min(widths[1], 90)
    sep = "  "
    print(sep.join(h.ljust(w) for h, w in zip(head, widths)).rstrip())
    print(sep.join("-" * w for w in widths))
    for r in rows:
        cells = [str(c) for c in r]
        out = []
        for i, (c, w) in enumerate(zip(cells, widths)):
            out.append(c.rjust(w) if i in (2, 4, 5) else c.ljust(w))
        print(sep.join(out).rstrip())
    met = sum(1 for r in rows if r[7] == "met")
    goals = sum(1 for r in rows if r[7] not in ("info",))
    print("%d of %d goals met; %d rows" % (met, goals, len(rows)))


if __name__ == "__main__":
    main()
