"""Hypothesis profiles for the property tests (CPython only).

'ci', the default: derandomised (the seed comes from each test), no example database, so a
verdict never depends on luck or on what an earlier run left in .hypothesis/.
'explore': random seeds and HYPOTHESIS_SCALE times the examples, for long runs that look for
new failures (`make explore`); turn what one finds into a plain test in test_edges.py or the
area's own file.
"""
import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.register_profile("explore", derandomize=False, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
SCALE = max(1, int(os.environ.get("HYPOTHESIS_SCALE", "1")))


def examples(n):
    """max_examples for a test: n in CI, n * HYPOTHESIS_SCALE when exploring."""
    return n * SCALE
