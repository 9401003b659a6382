#!/usr/bin/env python3
"""The layering of agent/, checked (TAP, for prove).

The build already enforces the direction of dependency: each folder is
compiled with the include paths of the layers below it only. This adds
what include paths cannot see: no relative includes that step around them,
no header name in two folders, no layer reaching up, and no cycle between
modules (a module is a .c with its .h, and its private NAME_impl.h if it has one;
A depends on B when A includes B.h).
"""
import os
import re
import sys

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
AGENT = os.path.join(REPO, "agent")
# What each layer may include, besides itself: util and include/ are below all.
ALLOWED = {
    "util": {"util"},
    "core": {"util", "core"},
    "model": {"util", "model"},
    "control": {"util", "core", "model", "control"},
    "cli": {"util", "core", "model", "control", "cli"},
}
INCLUDE_RE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)

results = []


def check(ok, what, detail=""):
    results.append((ok, what, detail))


def module_of(layer, filename):
    stem = os.path.splitext(filename)[0]
    return layer + "/" + (stem[:-5] if stem.endswith("_impl") else stem)


files = {}  # path -> layer
for layer in ALLOWED:
    d = os.path.join(AGENT, layer)
    for name in sorted(os.listdir(d)):
        if name.endswith((".c", ".h")):
            files[os.path.join(d, name)] = layer
strays = [n for n in os.listdir(AGENT) if n.endswith((".c", ".h"))]
check(not strays, "every source of agent/ is in a layer's folder", " ".join(strays))

headers = {}  # header name -> layer
dupes = []
for path, layer in files.items():
    name = os.path.basename(path)
    if name.endswith(".h"):
        if name in headers:
            dupes.append(name)
        headers[name] = layer
check(not dupes, "no header name in two layers", " ".join(dupes))

relative, upward, unknown = [], [], []
deps = {}  # module (layer/stem) -> set of modules
for path, layer in files.items():
    text = open(path, encoding="utf-8").read()
    mod = module_of(layer, os.path.basename(path))
    deps.setdefault(mod, set())
    for inc in INCLUDE_RE.findall(text):
        where = os.path.relpath(path, REPO)
        if "/" in inc:
            relative.append(f"{where}: {inc}")
            continue
        if inc in headers:
            to = headers[inc]
            if to not in ALLOWED[layer]:
                upward.append(f"{where}: {inc} ({layer} -> {to})")
            dep = module_of(to, inc)
            if dep != mod:
                deps[mod].add(dep)
        elif not (os.path.exists(os.path.join(REPO, "include", inc)) or
                  inc.endswith(".skel.h") or inc == "fc_default_model.h"):
            unknown.append(f"{where}: {inc}")
check(not relative, "no include names a path (it would step around the layers)",
      "; ".join(relative))
check(not upward, "no layer includes a layer above it or beside it", "; ".join(upward))
check(not unknown, "every quoted include is a layer's, include/'s or a skeleton",
      "; ".join(unknown))

# Cycles, by depth-first search over the module graph.
cycles = []
state = {}


def visit(m, stack):
    state[m] = 1
    stack.append(m)
    for d in sorted(deps.get(m, ())):
        if state.get(d) == 1:
            cycles.append(" -> ".join(stack[stack.index(d):] + [d]))
        elif not state.get(d):
            visit(d, stack)
    stack.pop()
    state[m] = 2


for m in sorted(deps):
    if not state.get(m):
        visit(m, [])
check(not cycles, "no include cycle between modules", "; ".join(cycles))

print(f"1..{len(results)}")
for i, (ok, what, detail) in enumerate(results, 1):
    print(f"{'ok' if ok else 'not ok'} {i} - {what}")
    if not ok:
        print(f"# {detail}")
sys.exit(0 if all(r[0] for r in results) else 1)
