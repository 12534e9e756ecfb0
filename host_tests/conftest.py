# pytest setup: lib/ on the path like /lib on a board, plus the CPython shim from tools/cpy.
import os
import sys

_TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for _p in (os.path.join(_TOP, "lib"), os.path.join(_TOP, "tools", "cpy"), os.path.join(_TOP, "tools"),
           os.path.join(_TOP, "tools", "bench")):
    if _p not in sys.path:
        sys.path.insert(0, _p)
import mpshim  # noqa: E402,F401
import hyp  # noqa: E402,F401  hypothesis profile: derandomised unless HYPOTHESIS_PROFILE=explore
