"""`make bench`: every benchmark of the project, printed as one table (figures, units, method).

    .venv/bin/python tools/bench/bench.py [--quick]
Runs tools/bench/bench_coap.py, tools/bench/bench_lwm2m.py, tools/bench/bench_read.py, tools/bench/heapfit.py, the .mpy
size build of tools/mpy_build.py, tools/bench/bench_fw.py, tools/bench/bench_aio.py, tools/bench/bench_sleep.py
and, when the env var MICROPYTHON32 names a 32-bit unix port, tools/bench/bench_heap32.py (a board's
word size: the figures the README's table comes from). Measurements for the README, never
pass/fail: a figure that cannot be taken says FAILED or "not measured" and the rest still print.
"""
import contextlib
import io
import os
import re
import subprocess
import sys
import tempfile
import time

from benchpath import BENCH, TOP  # first: tools/ and tools/bench/ on sys.path

import bench_heap32  # noqa: E402
import bench_lwm2m  # noqa: E402
import bench_read  # noqa: E402
import bench_sleep  # noqa: E402
import heapfit  # noqa: E402
import mpy_build  # noqa: E402

# how tools/bench/bench_coap.py takes each of its figures (it prints name and value only)
COAP_HOW = (
    ("codec", "decode + encode_into of a CON GET / ACK 2.05 pair, 20,000 loops in the unix port"),
    ("GET round trip", "aiocoap client (CPython) -> host_tests/apps/coap_demo_app.py under the unix "
                       "port, sequential, loopback"),
    ("heap: idle Endpoint +", "gc.mem_alloc() delta after gc.collect(), beyond the imports"),
    ("heap: idle Endpoint", "gc.mem_alloc() delta after gc.collect(), beyond the imports"),
    ("heap: the same", "gc.mem_alloc() delta after gc.collect(), beyond the imports"),
)

FW_ROWS = (
    "firmware push throughput (Block1 PUT /5/0/0, loopback)",
    "firmware pull throughput (Block2 GET of Package URI, loopback)",
    "peak heap growth during a 256 KB transfer (above registered level)",
    "256 KB transfer at the smallest heapsize + 16K",
)


def parse_table(text, source):
    """Rows (name, value, how) of a printed `name  value  [how]` table (a header line followed
    by a line of dashes is skipped; so is anything that does not split into two columns)."""
    lines = text.splitlines()
    out = []
    for i, line in enumerate(lines):
        if not line.strip() or set(line.strip()) <= set("-=+ "):
            continue
        if i + 1 < len(lines) and lines[i + 1].strip() and set(lines[i + 1].strip()) <= set("-= "):
            continue  # a header
        parts = re.split(r"\s{2,}", line.strip())
        if len(parts) < 2:
            continue
        out.append((parts[0], parts[1], "  ".join(parts[2:]) or source))
    return out


def _failed(names, e):
    msg = str(e).strip().splitlines()
    why = "%s%s" % (type(e).__name__, ": " + msg[-1][:120] if msg else "")
    return [(n, "FAILED", why) for n in names]


def _script(name, args=(), timeout=300, env=None):
    r = subprocess.run([sys.executable, os.path.join(BENCH, name)] + list(args), cwd=TOP,
                       capture_output=True, text=True, timeout=timeout,
                       env=dict(os.environ, **(env or {})))
    if r.returncode:
        raise RuntimeError("%s exit %d: %s" % (name, r.returncode, (r.stdout + r.stderr).strip()))
    return r.stdout


def coap_rows(quick):
    try:
        text = _script("bench_coap.py", ["--gets", "200" if quick else "1000"])
    except Exception as e:
        return _failed(["CoAP figures (tools/bench/bench_coap.py)"], e)
    rows = []
    for name, value, _src in parse_table(text, "tools/bench/bench_coap.py"):
        how = "tools/bench/bench_coap.py"
        for pre, h in COAP_HOW:
            if name.startswith(pre):
                how = h
                break
        rows.append((name, value, how))
    return rows


def read_rows(quick):
    try:
        return bench_read.rows(100 if quick else 200)
    except Exception as e:
        return _failed(["Read /3/0 GET to ACK (tools/bench/bench_read.py)"], e)


def heapfit_rows():
    """Two rows: lib/ as .py sources (compiled on import) and as precompiled .mpy (a deployed
    board); returns (rows, {"py": smallest K, "mpy": smallest K}) for the firmware check."""
    rows, found = [], {}
    for mpy, label in ((False, "lib/ as .py"), (True, "lib/ as .mpy")):
        name = "smallest -X heapsize, e2e scenario, " + label
        try:
            r = heapfit.smallest(16, 512, 4, mpy=mpy)
        except Exception as e:
            rows += _failed([name], e)
            continue
        k = r["kib"]
        how = ("tools/bench/heapfit.py%s: bisect 16K..512K in 4K steps, %d runs in %.0f s; register with "
               "2 servers, 10 obs, reads/writes, a notification, deregister; 64-bit port" % (
                   " --mpy" if mpy else "", r["runs"], r["s"]))
        if k is None:
            rows.append((name, "FAILED", "does not pass at 512K; " + how))
            continue
        below = [t for t in r["tried"] if t[0] == k - 4 and not t[1]]
        if below:
            how += "; at %dK: %s" % (k - 4, below[0][2][:60])
        rows.append((name, "%dK" % k, how))
        found["mpy" if mpy else "py"] = k
    return rows, found


def mpy_rows():
    try:
        with tempfile.TemporaryDirectory() as d:
            sizes, errors = mpy_build.compile_all(d)
    except Exception as e:
        return _failed([".mpy sizes"], e)
    a, b = mpy_build.ARCHS
    pk = {}
    for rel, s in sizes.items():
        parts = rel.split("/")
        names = [parts[0]]
        if len(parts) > 2:
            names.append("/".join(parts[:2]))  # e.g. lwm2m/objects, also inside lwm2m
        for n in names + ["total"]:
            t = pk.setdefault(n, [0, 0, 0])
            t[0] += s.get(a, 0)
            t[1] += s.get(b, 0)
            t[2] += 1
    how = ("mpy-cross " + mpy_build.OPT + " per module (tools/mpy_build.py), sum of file sizes; "
           "the same for both while nothing is @native: .mpy bytecode does not depend on the arch")
    if errors:
        how += "; %d modules FAILED to compile" % errors
    rows = []
    for n in sorted(pk, key=lambda x: (x == "total", x)):
        t = pk[n]
        label = ".mpy size, %s (%d modules%s)" % (
            "lib/" + n if n != "total" else "total, all of lib/", t[2],
            ", within lib/" + n.split("/")[0] if "/" in n else "")
        rows.append((label, "%d / %d B" % (t[0], t[1]),
                     "%s / %s: %s" % (a, b, how) if not rows else "%s / %s, as above" % (a, b)))
    return rows


def fw_rows(min_heap_k, quick):
    path = os.path.join(BENCH, "bench_fw.py")
    if not os.path.exists(path):
        return [(n, "not measured", "tools/bench/bench_fw.py is not there yet") for n in FW_ROWS]
    # it may use the smallest heap heapfit found (issue: the transfer must pass at that + 16K)
    min_heap_k = min_heap_k or {}
    env = {name: str(min_heap_k[key]) for key, name in (("py", "LWM2M_MIN_HEAPSIZE_K"),
                                                         ("mpy", "LWM2M_MIN_HEAPSIZE_MPY_K"))
           if min_heap_k.get(key)}
    if quick:
        env["LWM2M_BENCH_QUICK"] = "1"
    try:
        text = _script("bench_fw.py", timeout=240, env=env)
    except Exception as e:
        return _failed(["firmware figures (tools/bench/bench_fw.py)"], e)
    rows = parse_table(text, "tools/bench/bench_fw.py")
    if not rows:
        rows = [(line.strip(), "", "tools/bench/bench_fw.py") for line in text.splitlines()
                if line.strip()]
    return rows or [(n, "not measured", "tools/bench/bench_fw.py printed nothing") for n in FW_ROWS]


def aio_rows(quick):
    """tools/bench/bench_aio.py: worst ticker stall beside the asyncio driver, its heap vs run()."""
    try:
        text = _script("bench_aio.py", ["--runs", "1" if quick else "3"], timeout=600)
    except Exception as e:
        return _failed(["asyncio driver figures (tools/bench/bench_aio.py)"], e)
    return parse_table(text, "tools/bench/bench_aio.py")


def mp_version():
    try:
        r = subprocess.run([bench_lwm2m.micropython(), "-c",
                            "import sys; v = sys.implementation.version; "
                            "print('v%d.%d.%d, %d-bit' % (v[0], v[1], v[2], "
                            "64 if sys.maxsize > 1 << 32 else 32))"],
                           capture_output=True, text=True, timeout=10)
        return r.stdout.strip()
    except Exception:
        return "?"


def timed(fn, *a):
    t = time.monotonic()
    r = fn(*a)
    return r, time.monotonic() - t


def collect(quick=False, log=None):
    """[(section, rows, seconds)] in print order; log(str) gets progress lines."""
    def step(title, fn, *a):
        if log:
            log("bench: %s ..." % title)
        rows, s = timed(fn, *a)
        out.append((title, rows, s))
        return rows

    out = []
    step("CoAP (issue 2)", coap_rows, quick)
    step("LwM2M data model and client (issues 3, 4)", bench_lwm2m.rows, quick)
    step("Read /3/0 latency from an independent client (issue 12)", read_rows, quick)
    found = {}

    def fit():
        rows, found["k"] = heapfit_rows()
        return rows

    step("heap fit (issue 4)", fit)
    step("firmware update (issue 5)", fw_rows, found.get("k"), quick)
    step("flash: .mpy sizes (issue 7)", mpy_rows)
    step("32-bit heap, lib/ as .mpy (issue 11)", heap32_rows, quick)
    step("asyncio driver (issue 13)", aio_rows, quick)
    step("sleeping node: per wake (issue 14)", bench_sleep.rows, quick)
    return out


def heap32_rows(quick):
    interp = os.environ.get("MICROPYTHON32")
    if not interp:
        return [("32-bit heap figures", "not measured",
                 "set MICROPYTHON32 to a 32-bit unix port (tools/bench/bench_heap32.py)")]
    return bench_heap32.rows(interp, quick)


def render(sections, total_s, mp):
    rows = [r for _t, rs, _s in sections for r in rs]
    w = max([len(r[0]) for r in rows] + [24])
    v = max([len(r[1]) for r in rows] + [5])
    lines = ["make bench: MicroPython unix port (%s), loopback, this host's CPU" % mp, ""]
    lines.append("%-*s  %*s  %s" % (w, "figure", v, "value", "how it was measured"))
    lines.append("-" * (w + v + 60))
    for title, rs, s in sections:
        lines.append("[%s]  (%.0f s)" % (title, s))
        for name, val, how in rs:
            lines.append("%-*s  %*s  %s" % (w, name, v, val, how))
    lines.append("-" * (w + v + 60))
    lines += [
        "Notes: the unix port is 64-bit: its heap figures are about 1.4x a 32-bit ESP32 /",
        "RP2040's (measured; bytecode and strings do not shrink with the word size). The 32-bit",
        "section is what a board holds with lib/ as .mpy (stock firmware loads .mpy into RAM;",
        "frozen modules stay in flash).",
        "Times are this host's CPU on loopback; a board is much slower. Printed, never asserted.",
        "B = bytes, K = KiB, /s = per second of wall time. make bench took %.0f s." % total_s,
    ]
    return "\n".join(lines)


def main(argv):
    if not bench_lwm2m.micropython():
        raise SystemExit("bench: micropython (unix port) not found")
    quick = "--quick" in argv
    t0 = time.monotonic()
    with contextlib.redirect_stdout(io.StringIO()):  # helpers' chatter stays out of the table
        sections = collect(quick, log=lambda s: print(s, file=sys.stderr))
    print(render(sections, time.monotonic() - t0, mp_version()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
