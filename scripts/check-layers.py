#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""check-layers.py SRCDIR [LIBVOLMOUNT.so] - the layering of docs/ARCHITECTURE.md as a test (TAP).

The build gives each layer only the include directories of what it may use (meson.build);
this checks what include paths alone cannot:
  - each layer includes only the project headers it may (drivers never see internal.h, the
    CLI only the public header and lib/util), and <sqlite3.h> is the ledger's alone,
    <libmount.h> the kernel view's;
  - engine headers ("engine/x.h") are included by lib/engine/ only;
  - no two files of lib/ or cli/ depend on each other, directly or around a circle: a file
    depends on a module when it includes that module's header;
  - with the shared library given, the exported symbols are exactly those libvolmount.sym
    lists.
"""
import os
import re
import subprocess
import sys

SRC = sys.argv[1]
SO = sys.argv[2] if len(sys.argv) > 2 else None
n = 0
failed = 0


def report(ok, desc, diag=()):
    global n, failed
    n += 1
    if not ok:
        failed += 1
    print(("ok" if ok else "not ok") + " %d - %s" % (n, desc))
    for d in diag:
        print("# " + d)


def files(sub, exts=(".c", ".h")):
    out = []
    for root, _, names in os.walk(os.path.join(SRC, sub)):
        for name in sorted(names):
            if name.endswith(exts):
                out.append(os.path.relpath(os.path.join(root, name), SRC))
    return sorted(out)


def includes(path):
    text = open(os.path.join(SRC, path)).read()
    return re.findall(r'^\s*#\s*include\s+([<"][^>"]+[>"])', text, re.M)


def project_includes(path):
    return [i[1:-1] for i in includes(path) if i.startswith('"')]


# Every header of lib/util (a leaf: rule 1 checks it includes nothing else of volmount).
UTIL = {os.path.basename(f) for f in files("lib/util", (".h",))}
DRIVERS = {"driver.h", "common.h"}

# ---- what each layer may include ----
rules = [
    ("lib/util/", UTIL, "lib/util includes only lib/util"),
    ("lib/drivers/", UTIL | DRIVERS | {"volmount.h"},
     "drivers include only driver headers, lib/util and the public header (never internal.h)"),
    ("cli/", UTIL | {"volmount.h"} | {os.path.basename(f) for f in files("cli", (".h",))},
     "the CLI includes only the public header, lib/util and its own headers"),
]
for prefix, allowed, desc in rules:
    bad = []
    for f in files(prefix):
        for inc in project_includes(f):
            if inc not in allowed:
                bad.append("%s includes \"%s\"" % (f, inc))
    report(not bad, desc, bad)

# Leaves below the context: they report through error.h and nothing else of the library.
LEAVES = {
    "lib/error.c": {"error.h"} | UTIL,
    "lib/ledger.c": {"error.h", "ledger.h"} | UTIL,
    "lib/kview.c": {"kview.h"} | UTIL,
    "lib/exec.c": {"exec.h"} | UTIL,
    "lib/lock.c": {"error.h", "lock.h"} | UTIL,
}
bad = []
for f, allowed in LEAVES.items():
    if not os.path.exists(os.path.join(SRC, f)):
        bad.append("%s is missing" % f)
        continue
    for inc in project_includes(f):
        if inc not in allowed:
            bad.append("%s includes \"%s\"" % (f, inc))
report(not bad, "error, ledger, kview, exec and lock use no other module of the library", bad)

for header, owner in (("sqlite3.h", "lib/ledger.c"), ("libmount.h", "lib/kview.c")):
    users = [f for f in files("lib") + files("cli")
             if any(i[1:-1] == header for i in includes(f))]
    report(users == [owner], "<%s> is included by %s only" % (header, owner),
           ["included by " + u for u in users if u != owner])

bad = [f for f in files("lib") + files("cli") if not f.startswith("lib/engine/")
       and any(i.startswith("engine/") for i in project_includes(f))]
report(not bad, "engine headers are included by lib/engine/ only", bad)


# ---- no circles: module graphs of lib/ and cli/ ----
def module_of(path):
    return os.path.splitext(path)[0]


def graph(paths, resolve):
    edges = {}
    for f in paths:
        m = module_of(f)
        for inc in project_includes(f):
            target = resolve(f, inc)
            if target and target != m:
                edges.setdefault(m, set()).add(target)
    return edges


def find_cycle(edges):
    state = {}
    stack = []

    def visit(v):
        state[v] = 1
        stack.append(v)
        for w in sorted(edges.get(v, ())):
            if state.get(w) == 1:
                return stack[stack.index(w):] + [w]
            if w not in state:
                c = visit(w)
                if c:
                    return c
        stack.pop()
        state[v] = 2
        return None

    for v in sorted(edges):
        if v not in state:
            c = visit(v)
            if c:
                return c
    return None


lib_files = files("lib")
lib_modules = {module_of(f) for f in lib_files if f.endswith(".c")}


def resolve_lib(f, inc):
    for cand in ("lib/" + inc, os.path.join(os.path.dirname(f), inc), "lib/util/" + inc,
                 "lib/drivers/" + inc):
        m = module_of(os.path.normpath(cand))
        if m in lib_modules and os.path.exists(os.path.join(SRC, m + ".h")):
            return m
    return None


cyc = find_cycle(graph(lib_files, resolve_lib))
report(cyc is None, "no circle of dependencies between the files of lib/",
       [" -> ".join(cyc)] if cyc else [])

cli_files = files("cli")
cli_modules = {module_of(f) for f in cli_files if f.endswith(".c")}


def resolve_cli(f, inc):
    m = module_of("cli/" + inc)
    return m if m in cli_modules else None


cyc = find_cycle(graph(cli_files, resolve_cli))
report(cyc is None, "no circle of dependencies between the files of cli/",
       [" -> ".join(cyc)] if cyc else [])

# ---- exported symbols ----
if SO:
    listed = set(re.findall(r"^\s*(volmount_[a-z0-9_]+);", open(os.path.join(SRC, "lib/libvolmount.sym")).read(), re.M))
    out = subprocess.run(["nm", "-D", "--defined-only", SO], capture_output=True, text=True,
                         check=True).stdout
    exported = {l.split()[-1].split("@")[0] for l in out.splitlines()
                if len(l.split()) >= 3 and l.split()[1] in "TDBRV"}
    exported -= {s for s in exported if s.startswith("LIBVOLMOUNT")}
    report(exported == listed, "the library exports exactly what libvolmount.sym lists",
           ["exported, not listed: " + s for s in sorted(exported - listed)] +
           ["listed, not exported: " + s for s in sorted(listed - exported)])

print("1..%d" % n)
sys.exit(1 if failed else 0)
