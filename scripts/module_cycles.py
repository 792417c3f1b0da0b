#!/usr/bin/env python3
"""Import cycles among the modules of a Rust crate ("layers you can see").

Usage: python3 scripts/module_cycles.py SRC_DIR [DEPTH]    (DEPTH defaults to 2)
  e.g. python3 scripts/module_cycles.py src 3
       python3 scripts/module_cycles.py shards/src 3

Modules are cut at DEPTH path segments (`proxy::l2m::tools` at depth 3); an edge A -> B is any
`use` or `crate::`/`super::`/`self::` path in A naming B (comments, `#[cfg(test)]` code and
`*_tests.rs` files are ignored; a module and its own ancestors/descendants never count).
Prints `modules=N cycles=C largest=L`, then one line per cycle (its size and members).
Exits 0 either way: scripts/test.sh fails on `cycles=` other than 0."""
import os, re, sys
from collections import defaultdict
root = sys.argv[1]; depth = int(sys.argv[2]) if len(sys.argv) > 2 else 2
def modpath(path):
    rel = os.path.relpath(path, root)[:-3].split(os.sep)
    if rel[-1] in ("mod", "lib", "main"): rel = rel[:-1]
    return rel
def modname(rel):
    if rel and rel[-1].endswith("_tests"): return None
    return "::".join(rel[:depth]) or "crate"
mods = set(); edges = defaultdict(set)
def strip_tests(src):
    src = re.split(r"#\[cfg\(test\)\]", src)[0]
    return re.sub(r"//[^\n]*", "", src)
def expand(prefix, body):
    """expand `a::{b, c::{d}}` into paths"""
    out = []
    body = body.strip()
    m = re.match(r"^((?:[A-Za-z_0-9]+::)*)\{(.*)\}$", body, re.S)
    if not m:
        return [prefix + [p for p in body.split("::") if p]]
    head = [p for p in m.group(1).split("::") if p]
    inner = m.group(2); parts = []; lvl = 0; cur = ""
    for ch in inner:
        if ch == "{": lvl += 1
        if ch == "}": lvl -= 1
        if ch == "," and lvl == 0: parts.append(cur); cur = ""
        else: cur += ch
    parts.append(cur)
    for p in parts:
        if p.strip(): out += expand(prefix + head, p)
    return out
for d, _, fs in os.walk(root):
    for f in fs:
        if not f.endswith(".rs"): continue
        p = os.path.join(d, f); rel = modpath(p); m = modname(rel)
        if m is None: continue
        mods.add(m)
        is_mod_file = f in ("mod.rs", "lib.rs", "main.rs")
        src = strip_tests(open(p, encoding="utf-8", errors="ignore").read())
        targets = []
        for u in re.findall(r"\buse\s+([^;]+);", src, re.S):
            u = re.sub(r"\s+", "", u).replace("pub", "")
            targets += expand([], u)
        for hit in re.findall(r"\b((?:crate|super|self)(?:::[A-Za-z_0-9]+)+)", src):
            targets.append(hit.split("::"))
        for t in targets:
            if not t: continue
            base = list(rel) if is_mod_file else list(rel[:-0] if False else rel)
            # the module of this file is `rel`; `super` of a non-mod file is rel[:-1]
            if t[0] == "crate": path = t[1:]
            elif t[0] in ("super", "self"):
                cur = list(rel)
                i = 0
                while i < len(t) and t[i] in ("super", "self"):
                    if t[i] == "super": cur = cur[:-1]
                    i += 1
                path = cur + t[i:]
            else: continue
            path = [x for x in path if x and x[0].islower()]
            edges[m].add("::".join(path[:depth]))
def norm(t):
    while t and t not in mods:
        t = "::".join(t.split("::")[:-1])
    return t
g = {m: {norm(t) for t in edges[m] if norm(t) and norm(t) != m and not m.startswith(norm(t) + "::") and not norm(t).startswith(m + "::")} for m in mods}
idx = {}; low = {}; st = []; on = set(); sccs = []; c = [0]
sys.setrecursionlimit(10000)
def sc(v):
    idx[v] = low[v] = c[0]; c[0] += 1; st.append(v); on.add(v)
    for w in g.get(v, ()):
        if w not in idx: sc(w); low[v] = min(low[v], low[w])
        elif w in on: low[v] = min(low[v], idx[w])
    if low[v] == idx[v]:
        comp = []
        while True:
            w = st.pop(); on.discard(w); comp.append(w)
            if w == v: break
        sccs.append(comp)
for v in sorted(mods):
    if v not in idx: sc(v)
big = sorted((s for s in sccs if len(s) > 1), key=len, reverse=True)
print(f"modules={len(mods)} cycles={len(big)} largest={len(big[0]) if big else 1}")
for s in big: print("  ", len(s), " ".join(sorted(s))[:400])
