"""Mutation testing of lib/ with mutmut (pinned in requirements.txt): `make mutate`.

mutmut wants the code under src/ and its tests beside it, so this copies lib/ to build/mutate/src
with host_tests/ and the CPython shim, writes mutmut's setup.cfg there, runs `mutmut run` on the
areas asked for (at low priority, bounded in time), then prints every surviving mutant as a diff
and the kill rate per area. Nothing in the worktree is modified.

    .venv/bin/python tools/bench/mutate.py                      # codecs block dedup acl reporting
    .venv/bin/python tools/bench/mutate.py block acl --minutes 10

The tests run are TESTS below: the pure tests of those areas and the composed client, plus the
derandomised property tests of test_cpy_codecs.py; mutmut runs, for each mutant, only those that
reach the mutated function. Mutants of log and exception message texts are not generated
(the do_not_mutate_patterns below): they change no behaviour a peer can see.
"""
import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import time

from benchpath import TOP

WORK = os.path.join(TOP, "build", "mutate")

# area -> (files under lib/, mutant name globs or None for every function of those files)
AREAS = {
    "codecs": (["coap/msg.py", "lwm2m/tlv.py", "lwm2m/text.py", "lwm2m/parse.py",
                "lwm2m/link.py", "lwm2m/json.py"], None),
    "block": (["coap/block.py", "coap/transfer.py", "coap/upload.py"], None),
    # duplicate detection lives in the endpoint: the cache, its lookup on receive, its expiry,
    # and the server side's use of it
    "dedup": (["coap/endpoint.py", "coap/server.py"],
              ["coap.endpoint.xǁEndpointǁ_remember__mutmut_*",
               "coap.endpoint.xǁEndpointǁreceive__mutmut_*",
               "coap.server.xǁServerǁ_serve__mutmut_*",
               "coap.endpoint.xǁEndpointǁtick__mutmut_*"]),
    "acl": (["lwm2m/acl.py"], None),
    "reporting": (["lwm2m/report.py", "lwm2m/attrs.py"], None),
}

# lines never mutated: texts only a human reads
_SKIP = [
    r"""^\s*raise \w+\((["'][^"']*["'])?\)\s*(#.*)?$""",
    r"""\.(debug|info|warn|warning|error)\(""",
    r"""\b_log\(""",
]


def _module(path):
    return path[:-3].replace("/", ".")


# the pure tests that exercise these areas, plus the derandomised property tests; the slow
# whole-client runs (soak, heap floods, store, bootstrap, ...) would only make each mutant slower
TESTS = ["test_tlv", "test_text", "test_link", "test_json", "test_coap_msg", "test_coap_endpoint",
         "test_coap_fuzz", "test_fuzz_replay", "test_acl", "test_dm", "test_report",
         "test_edges", "test_client", "test_cpy_codecs"]


def _tests():
    return ["host_tests/%s.py" % t for t in TESTS]


def _prepare(areas):
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(os.path.join(WORK, "tools"))
    shutil.copytree(os.path.join(TOP, "lib"), os.path.join(WORK, "src"))
    shutil.copytree(os.path.join(TOP, "host_tests"), os.path.join(WORK, "host_tests"),
                    ignore=shutil.ignore_patterns("__pycache__", ".hypothesis"))
    shutil.copytree(os.path.join(TOP, "tools", "cpy"), os.path.join(WORK, "tools", "cpy"))
    for name in os.listdir(os.path.join(TOP, "tools")):
        if name.endswith(".py"):
            shutil.copy(os.path.join(TOP, "tools", name), os.path.join(WORK, "tools"))
    shutil.copytree(os.path.join(TOP, "tools", "bench"), os.path.join(WORK, "tools", "bench"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    files = sorted({f for a in areas for f in AREAS[a][0]})

    def lst(items):
        return "".join("\n    " + i for i in items)

    with open(os.path.join(WORK, "setup.cfg"), "w") as f:
        f.write("[mutmut]\nsource_paths=src\n")
        f.write("only_mutate=" + lst("src/" + p for p in files) + "\n")
        f.write("do_not_mutate_patterns=" + lst(_SKIP) + "\n")
        f.write("also_copy=" + lst(["host_tests/", "tools/"]) + "\n")
        f.write("pytest_add_cli_args=" + lst(["-p", "no:cacheprovider"]) + "\n")
        f.write("pytest_add_cli_args_test_selection=" + lst(_tests()) + "\n")


def _mutmut():
    exe = os.path.join(os.path.dirname(sys.executable), "mutmut")
    if not os.path.exists(exe):
        raise SystemExit("mutate: mutmut is not installed in this venv (make venv)")
    return exe


def _wanted(name, areas):
    for a in areas:
        files, globs = AREAS[a]
        mods = [_module(p) for p in files]
        if globs is None:
            if any(name.startswith(m + ".") for m in mods):
                return a
        else:
            for g in globs:
                if re.match(re.escape(g).replace(r"\*", ".*") + "$", name):
                    return a
    return None


def _results(exe):
    r = subprocess.run([exe, "results", "--all", "true"], cwd=WORK, capture_output=True,
                       text=True)
    out = []
    for line in r.stdout.splitlines():
        m = re.match(r"\s*(\S+): (.+)$", line)
        if m:
            out.append((m.group(1), m.group(2).strip()))
    return out


def _diff(exe, name):
    r = subprocess.run([exe, "show", name], cwd=WORK, capture_output=True, text=True)
    return [ln for ln in r.stdout.splitlines()
            if ln[:1] in "+-" and not ln.startswith(("+++", "---"))]


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("areas", nargs="*", help="any of: " + " ".join(sorted(AREAS)) + " (default all)")
    ap.add_argument("--minutes", type=float, default=60, help="stop mutmut after this long")
    # 1: with 2 parallel children mutmut 3.8.1 reported some killed mutants as survived here
    ap.add_argument("--children", type=int, default=1)
    ap.add_argument("--no-run", action="store_true", help="only report the last run's results")
    ap.add_argument("--recheck", action="store_true",
                    help="copy the current host_tests/ into the last run and run its survivors again")
    ap.add_argument("--resume", action="store_true",
                    help="like --recheck, for the mutants the last run did not get to (or had no test for)")
    a = ap.parse_args(argv)
    areas = a.areas or sorted(AREAS)
    bad = [x for x in areas if x not in AREAS]
    if bad:
        ap.error("unknown area %s (choose from %s)" % (", ".join(bad), " ".join(sorted(AREAS))))
    exe = _mutmut()
    if a.recheck or a.resume:
        want = ("not checked", "no tests") if a.resume else ("survived",)
        names = [n for n, st in _results(exe) if st in want and _wanted(n, areas)]
        for d in (os.path.join(WORK, "host_tests"), os.path.join(WORK, "mutants", "host_tests")):
            shutil.rmtree(d, ignore_errors=True)
            shutil.copytree(os.path.join(TOP, "host_tests"), d,
                            ignore=shutil.ignore_patterns("__pycache__", ".hypothesis"))
        if not names:
            a.no_run = True
    elif not a.no_run:
        _prepare(areas)
        names = []  # mutmut runs only the mutants matching these (fnmatch)
        for ar in areas:
            files, globs = AREAS[ar]
            names += globs or [_module(f) + ".*" for f in files]
    if not a.no_run:
        cmd = ["nice", "-n", "19", exe, "run", "--max-children", str(a.children)] + names
        t0 = time.monotonic()
        print("mutate: %s on %s (log: build/mutate/mutmut.log)" % (" ".join(areas), ", ".join(
            sorted({f for ar in areas for f in AREAS[ar][0]}))), flush=True)
        with open(os.path.join(WORK, "mutmut.log"), "w") as log:
            p = subprocess.Popen(cmd, cwd=WORK, stdout=log, stderr=subprocess.STDOUT,
                                 start_new_session=True)
            try:
                p.wait(a.minutes * 60)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGTERM)
                p.wait(30)
                print("mutate: stopped after %.0f min; unchecked mutants are counted apart"
                      % a.minutes)
        print("mutate: mutmut ran %.0f s, exit %s" % (time.monotonic() - t0, p.returncode))
    res = _results(exe)
    per = {}
    survivors = []
    for name, status in res:
        ar = _wanted(name, areas)
        if ar is None:
            continue
        d = per.setdefault(ar, {})
        d[status] = d.get(status, 0) + 1
        if status == "survived":
            survivors.append((ar, name))
    for ar, name in survivors:
        print("SURVIVED [%s] %s" % (ar, name))
        for ln in _diff(exe, name):
            print("    " + ln)
    tk = tt = 0
    for ar in areas:
        d = per.get(ar, {})
        killed = d.get("killed", 0) + d.get("timeout", 0)
        tested = killed + d.get("survived", 0)
        tk += killed
        tt += tested
        rest = ", ".join("%s %d" % kv for kv in sorted(d.items())
                         if kv[0] not in ("killed", "survived", "timeout"))
        print("mutate: %-9s killed %4d of %4d (%5.1f%%), timeouts %d%s" % (
            ar, killed, tested, 100.0 * killed / tested if tested else 0.0, d.get("timeout", 0),
            ("; " + rest) if rest else ""))
    print("mutate: total     killed %4d of %4d (%5.1f%%); %d survived" % (
        tk, tt, 100.0 * tk / tt if tt else 0.0, tt - tk))
    return 0 if tt else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
