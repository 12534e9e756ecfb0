"""The benchmarks' one sys.path set-up: each imports this first (`import benchpath`).

A benchmark run as a script has its own folder, tools/bench/, on sys.path, so this module is
found; importing it adds tools/ (lwm2m_server, boardir, hostenv, proc, mpy_build, sleepnode) and
tools/bench/ itself (for one benchmark importing another, or from host_tests/). Those that load
the client's own modules under CPython add more with add(): "lib", "tools/cpy" (the micropython
shim), "host_tests" (the tests' helpers). TOP, TOOLS and BENCH are the folders, absolute.
CPython only: tools/bench/soak.py, which also runs on the unix port, sets its path itself.
"""
import os
import sys

BENCH = os.path.dirname(os.path.abspath(__file__))  # tools/bench: benchmarks and long runs
TOOLS = os.path.dirname(BENCH)  # tools: lwm2m_server, boardir, hostenv, proc, mpy_build, cpy/
TOP = os.path.dirname(TOOLS)


def add(*dirs):
    """Put each folder (relative to the top of the repo) on sys.path, unless it is there."""
    for d in dirs:
        p = os.path.join(TOP, *d.split("/"))
        if p not in sys.path:
            sys.path.insert(0, p)


add("tools", "tools/bench")
