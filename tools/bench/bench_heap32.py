"""Heap figures on a 32-bit unix port (a board's word size), lib/ as .mpy: what fits which board.

    MICROPYTHON32=<32-bit micropython> .venv/bin/python tools/bench/bench_heap32.py [--quick]
Prints a table (measurements, never pass/fail): the import cost of every module of lib/, the
level after main.py's imports and after registering with one server, the smallest
`-X heapsize` of both tools/bench/heapfit.py scenarios, and the heap growth during a 256 KB firmware
transfer (tools/bench/bench_fw.py). Without MICROPYTHON32 (or --interp) it says so and prints nothing
else. Every figure is gc.mem_alloc() after gc.collect() unless it says otherwise.
"""
import ast
import asyncio
import os
import subprocess
import sys
import tempfile

from benchpath import TOP  # first: tools/ and tools/bench/ on sys.path

import bench_lwm2m as B  # noqa: E402
import heapfit  # noqa: E402
import lwm2m_server as L  # noqa: E402
from boardir import AFTER_PASS, make_board_dir  # noqa: E402
from mpy_build import OPT  # noqa: E402
from proc import Proc  # noqa: E402

# the stock boards' GC heap right after boot (BOARDS.md)
BOARDS = (("ESP32_GENERIC", 112000), ("RPI_PICO_W", 205184))

# import every module of lib/ in dependency order: each figure is that module alone
_IMPORTS = r"""
import gc, sys, micropython
sys.path.insert(0, "lib")
for m in %r:
    gc.collect()
    b = gc.mem_alloc()
    micropython.qstr_info()
    __import__(m)
    gc.collect()
    a = gc.mem_alloc()
    micropython.qstr_info()
    print("IMP", m, a - b)
"""
# the qstr pool grows in doubling steps, so a raw delta charges a whole step to whichever module
# crosses it; spread it instead: a new name costs its characters plus this (hash, length, pointer)
_QSTR_ENTRY = 8

# main.py's imports, then registration with one server (the probe stops the client there)
_PROBE = r'''"""Heap probe written by tools/bench/bench_heap32.py."""
import gc
import sys

sys.path.insert(0, "lib")
gc.collect()
b = gc.mem_alloc()
import main
import board
import board.host
import coap.runner
import lwm2m.client as C

gc.collect()
print("LEVEL imports", gc.mem_alloc() - b)
''' + AFTER_PASS + r'''
_tick = C.Client.tick


def tick(self, now):
    r = _tick(self, now)
    if self.regs and all(x.registered for x in self.regs.values()):
        after_pass(registered)  # the level once the pass that registered is done
    return r


def registered():
    gc.collect()
    print("LEVEL registered", gc.mem_alloc() - b)
    print("LEVEL modules", len(sys.modules))
    raise KeyboardInterrupt


C.Client.tick = tick
main.main()
'''


def _packages(found):
    return {m for m, path in found.items() if path.endswith("__init__.py")}


def modules():
    """Every module of lib/ (dotted), in an order where each one's top-level imports come first."""
    lib = os.path.join(TOP, "lib")
    found = {}
    for root, _dirs, files in os.walk(lib):
        for f in files:
            if f.endswith(".py"):
                rel = os.path.relpath(os.path.join(root, f), lib)[:-3].replace(os.sep, ".")
                found[rel[:-9] if rel.endswith(".__init__") else rel] = os.path.join(root, f)
    deps = {}
    for m, path in found.items():
        with open(path) as fh:
            tree = ast.parse(fh.read())
        d = set()
        for n in tree.body:
            if isinstance(n, ast.Import):
                d.update(a.name for a in n.names)
            elif isinstance(n, ast.ImportFrom):
                mod = n.module or ""
                if n.level:  # relative: from .x import y, from . import x
                    base = m.split(".")
                    pkg = ".".join(base[:len(base) - n.level + (m in _packages(found))])
                    mod = pkg + ("." + mod if mod else "")
                d.add(mod)
                d.update(mod + "." + a.name for a in n.names)
        deps[m] = sorted(x for x in d if x in found and x != m)
    order = []

    def visit(m):
        if m in order:
            return
        parts = m.split(".")
        for i in range(1, len(parts)):
            visit(".".join(parts[:i]))
        for x in deps[m]:
            visit(x)
        order.append(m)

    for m in sorted(found):
        visit(m)
    return order


def _run(interp, d, args, timeout=60):
    r = subprocess.run([interp, "-X", "heapsize=1M"] + args, cwd=d, capture_output=True,
                       text=True, timeout=timeout)
    if r.returncode not in (0, 130):
        raise RuntimeError("%s exit %d: %s" % (args[0], r.returncode,
                                                (r.stdout + r.stderr)[-300:]))
    return r.stdout


def import_rows(interp):
    """(rows, {module: bytes}) for every module of lib/ as .mpy."""
    with tempfile.TemporaryDirectory() as d:
        make_board_dir(d, mpy=True)
        with open(os.path.join(d, "imports.py"), "w") as f:
            f.write(_IMPORTS % (modules(),))
        out = _run(interp, d, ["imports.py"])
    cost, names, q = {}, {}, []
    for line in out.splitlines():
        p = line.split()
        if line.startswith("qstr pool:"):
            q.append(dict(kv.split("=") for kv in line.split(":")[1].replace(",", " ").split()))
        elif p[:1] == ["IMP"]:
            b, a = q[-2], q[-1]
            nq = int(a["n_qstr"]) - int(b["n_qstr"])
            pool = int(a["n_total_bytes"]) - int(b["n_total_bytes"])
            spread = int(a["n_str_data_bytes"]) - int(b["n_str_data_bytes"]) + nq * _QSTR_ENTRY
            cost[p[1]] = int(p[2]) - pool + spread
            names[p[1]] = nq
    raw = sum(cost.values())
    how = ("lib/ as .mpy (%s), modules imported one by one after their own imports, "
           "gc.mem_alloc() delta after gc.collect(), the qstr pool's doubling steps spread over "
           "the names that filled them (%d B a name plus its characters)" % (OPT, _QSTR_ENTRY))
    rows = [("import cost, %s" % m, "%d B" % c,
             ("%d new names; " % names[m]) + (how if i == 0 else "as above"))
            for i, (m, c) in enumerate(sorted(cost.items(), key=lambda x: -x[1]))]
    rows.append(("import cost, all of lib/", "%d B" % raw,
                 "sum of the above; %d new names in all" % sum(names.values())))
    return rows, cost


async def _levels(interp):
    srv = await L.LwM2MServer().start()
    d = tempfile.mkdtemp(prefix="lwm2m-heap32-")
    try:
        make_board_dir(d, B.config([srv.port], log="warn"), mpy=True)
        with open(os.path.join(d, "probe.py"), "w") as f:
            f.write(_PROBE)
        p = Proc([interp, "-X", "heapsize=1M", "probe.py"], cwd=d, error=TimeoutError)
        try:
            await p.line("LEVEL modules", 20)
        finally:
            p.kill()
        return {ln.split()[1]: int(ln.split()[2]) for ln in p.output().splitlines()
                if ln.startswith("LEVEL ")}
    finally:
        await srv.stop()
        import shutil

        shutil.rmtree(d, ignore_errors=True)


def level_rows(interp):
    lv = asyncio.run(_levels(interp))
    how = "main.py with lib/ as .mpy, one coap:// server (tools/lwm2m_server.py), -X heapsize=1M"
    rows = [("heap after main.py's imports", "%d B" % lv["imports"],
             "main, lwm2m.client, coap.runner, board, board.host; " + how),
            ("heap after registering with one server", "%d B" % lv["registered"],
             "%d modules loaded; %s" % (lv["modules"], how))]
    for name, total in BOARDS:
        rows.append(("left for the application on %s" % name, "%d B" % (total - lv["registered"]),
                     "its stock GC heap %d B less the registered level (before any request "
                     "needs working room)" % total))
    return rows


def fit_rows(interp, quick):
    rows = []
    for which, label, lo, hi in (("one", "one server, objects 0-5, 256 KB firmware", 64, 320),
                                 ("two", "two servers + bootstrap, 10 observations", 64, 320)):
        name = "smallest -X heapsize, %s" % label
        r = heapfit.smallest(lo, hi, 8 if quick else 4, mpy=True, which=which, interp=interp)
        k = r["kib"]
        how = "tools/bench/heapfit.py --scenario %s --mpy, bisect %dK..%dK, %d runs" % (
            which, lo, hi, r["runs"])
        rows.append((name, "%dK" % k if k else "FAILED", how))
    return rows


def fw_rows(interp):
    import bench_fw

    return bench_fw.growth_rows(bench_fw.measured(1024, 256 * 1024, mpy=True, interp=interp),
                                ", 32-bit", limit=True)


def rows(interp, quick=False):
    out = []
    for fn, args in ((import_rows, (interp,)), (level_rows, (interp,)),
                     (fit_rows, (interp, quick)), (fw_rows, (interp,))):
        try:
            r = fn(*args)
            out += r[0] if fn is import_rows else r
        except Exception as e:
            out.append((fn.__name__, "FAILED", "%s: %s" % (type(e).__name__, str(e)[-120:])))
    return out


def main(argv):
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--interp", default=os.environ.get("MICROPYTHON32") or None)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args(argv)
    if not a.interp:
        print("bench_heap32: not measured (set MICROPYTHON32 to a 32-bit unix port)")
        return 0
    B.print_table(rows(a.interp, a.quick), "measurement")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
