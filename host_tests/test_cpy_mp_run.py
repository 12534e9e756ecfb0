"""host_tests/mp_run.py itself, on the MicroPython unix port: a test raising SystemExit(0),
KeyboardInterrupt or another BaseException fails, the others still run, the summary prints and
the exit code is 1. CPython-only: it starts the unix port on a copy of the runner."""
import os
import shutil
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
MPY = os.path.join(os.path.dirname(HERE), ".venv", "bin", "micropython")

_MOD = '''
class Odd(BaseException):
    pass


def test_a_exit_zero():
    raise SystemExit(0)


def test_b_interrupt():
    raise KeyboardInterrupt


def test_c_base():
    raise Odd()


def test_d_fine():
    pass


def test_e_fails():
    assert 1 == 2
'''


def _run(tmp_path, *mods):
    shutil.copy(os.path.join(HERE, "mp_run.py"), str(tmp_path))
    for name, text in mods:
        (tmp_path / (name + ".py")).write_text(text)
    return subprocess.run([MPY, "mp_run.py"] + [n for n, _ in mods], cwd=str(tmp_path),
                          capture_output=True, text=True, timeout=120)


def test_base_exceptions_fail_the_test_and_the_run_goes_on(tmp_path):
    r = _run(tmp_path, ("test_zz_exits", _MOD))
    out = r.stdout
    assert r.returncode == 1, (r.returncode, out, r.stderr)
    for t in ("test_a_exit_zero", "test_b_interrupt", "test_c_base", "test_e_fails"):
        assert "FAIL test_zz_exits." + t in out, out
    assert "FAIL test_zz_exits.test_d_fine" not in out
    assert out.rstrip().endswith("micropython: 1 passed, 4 failed"), out


def test_exit_at_import_fails_and_later_modules_run(tmp_path):
    r = _run(tmp_path, ("test_zz_a", "raise SystemExit(0)\n"),
             ("test_zz_b", "def test_ok():\n    pass\n"))
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "ERROR importing test_zz_a" in r.stdout
    assert r.stdout.rstrip().endswith("micropython: 1 passed, 1 failed"), r.stdout


def test_all_passing_exits_zero_and_nothing_run_exits_one(tmp_path):
    r = _run(tmp_path, ("test_zz_ok", "def test_ok():\n    pass\n"))
    assert r.returncode == 0 and r.stdout.rstrip().endswith("micropython: 1 passed, 0 failed")
    r = _run(tmp_path, ("test_zz_none", "X = 1\n"))
    assert r.returncode == 1 and r.stdout.rstrip().endswith("micropython: 0 passed, 0 failed")
