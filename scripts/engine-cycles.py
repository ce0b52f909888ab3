#!/usr/bin/env python3
"""Lists call cycles between the engine's source files.

    scripts/engine-cycles.py [BUILD]      (default build; run `make` first)

Reads each object's defined and undefined symbols with nm, draws an edge
file -> file for every call into another engine file, and prints each
strongly connected group of files with the calls that tie it together.
Exit status 1 when there is a cycle, 0 when there is none."""
import glob
import os
import subprocess
import sys


def graph(build):
    defs, uses, files = {}, {}, []
    for obj in sorted(glob.glob(build + "/obj/engine/src/*/*.o")):
        name = obj.split("/obj/engine/src/")[1][:-2]
        if not os.path.exists("engine/src/%s.c" % name):
            continue  # left over from a file that is gone
        files.append(name)
        for line in subprocess.run(["nm", obj], capture_output=True, text=True).stdout.splitlines():
            f = line.split()
            if len(f) == 3 and f[1] in "TDBR":
                defs[f[2]] = name
            elif len(f) == 2 and f[0] == "U":
                uses.setdefault(name, set()).add(f[1])
    edges = {n: {} for n in files}
    for n, syms in uses.items():
        if n not in edges:
            continue
        for s in syms:
            if s in defs and defs[s] != n and defs[s] in edges:
                edges[n].setdefault(defs[s], []).append(s)
    return edges


def cycles(edges):
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    sys.setrecursionlimit(10000)
    for v in edges:
        if v not in index:
            visit(v)
    return out


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    edges = graph(build)
    if not edges:
        print("no engine objects under %s/obj/engine/src (run make first)" % build)
        return 2
    found = cycles(edges)
    for group in found:
        print("cycle:", " ".join(group))
        for a in group:
            for b in sorted(set(edges[a]) & set(group)):
                print("    %s -> %s: %s" % (a, b, " ".join(sorted(edges[a][b])[:6])))
    if not found:
        print("no call cycles between the %d engine files" % len(edges))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
