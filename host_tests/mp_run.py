"""Runs the pure tests of host_tests/ under the MicroPython unix port.

Usage: micropython host_tests/mp_run.py [module ...]
Every test_*.py except test_peer_* (needs CPython-only peers) and test_cpy_* (CPython-only, e.g.
hypothesis) is imported and each test_* function called. Prints one line per failure and a
closing 'micropython: N passed, N failed' line; exits 1 on any failure or when nothing ran.
A test (or lib code under it) raising SystemExit, KeyboardInterrupt or any other BaseException
fails that test; the rest still run and the summary is still printed.
"""
import os
import sys

_here = __file__.rpartition("/")[0] or "."
_top = _here.rpartition("/")[0] or "."
if _here == ".":
    _top = ".."
sys.path.insert(0, _here)
sys.path.insert(0, _top + "/lib")

try:
    from sys import print_exception
except ImportError:  # pragma: no cover
    import traceback

    def print_exception(e):
        traceback.print_exception(type(e), e, e.__traceback__)


def _modules(names):
    if names:
        return [n[:-3] if n.endswith(".py") else n for n in names]
    out = []
    for name in sorted(os.listdir(_here)):
        if not (name.startswith("test_") and name.endswith(".py")):
            continue
        if name.startswith("test_peer_") or name.startswith("test_cpy_"):
            continue
        out.append(name[:-3])
    return out


def main(argv):
    verbose = "-v" in argv
    names = [a for a in argv if a != "-v"]
    passed = failed = 0
    import gc

    for modname in _modules(names):
        before = set(sys.modules)
        try:
            mod = __import__(modname)
        except BaseException as e:  # SystemExit at import must not end the run with exit 0
            print("ERROR importing", modname)
            print_exception(e)
            failed += 1
            continue
        for attr in sorted(dir(mod)):
            if not attr.startswith("test_"):
                continue
            fn = getattr(mod, attr)
            if not callable(fn):
                continue
            try:
                fn()
                passed += 1
                if verbose:
                    print("ok", modname, attr)
            except BaseException as e:  # SystemExit(0) too: it must fail, not end the run
                failed += 1
                print("FAIL", modname + "." + attr)
                print_exception(e)
            gc.collect()
        # forget the test modules this one brought in, so their data does not fragment the
        # heap for the modules after it (lib/ modules stay: they are shared state)
        mod = fn = None
        for k in list(sys.modules):
            if k.startswith("test_") and k not in before:
                del sys.modules[k]
        gc.collect()
    print("micropython: %d passed, %d failed" % (passed, failed))
    return 0 if (failed == 0 and passed > 0) else 1


sys.exit(main(sys.argv[1:]))
