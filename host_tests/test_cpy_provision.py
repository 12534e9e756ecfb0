# tools/provision.py writes a config.json the board accepts, and refuses what the board would.
import json
import os
import subprocess
import sys
import tempfile

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOL = os.path.join(TOP, "tools", "provision.py")

from lwm2m.config import validate  # noqa: E402


def prov(*args):
    d = tempfile.mkdtemp()
    out = os.path.join(d, "config.json")
    r = subprocess.run([sys.executable, TOOL, "-o", out] + list(args), capture_output=True,
                       text=True)
    cfg = None
    if os.path.exists(out):
        with open(out) as f:
            cfg = json.load(f)
    return r, cfg


def test_coaps_with_generated_key_and_wifi():
    r, cfg = prov("--endpoint", "node-7", "--server", "coaps://10.0.0.1:5684", "--gen-key", "16",
                  "--wifi-ssid", "lab", "--wifi-password", "pw", "--queue")
    assert r.returncode == 0, r.stderr
    key = cfg["servers"][0]["psk_key"]
    assert len(bytes.fromhex(key)) == 16 and key in r.stdout
    assert cfg["servers"][0]["psk_identity"] == "node-7" and cfg["servers"][0]["binding"] == "UQ"
    v = validate(cfg)
    assert v["servers"][0]["psk_key"] == bytes.fromhex(key) and v["wifi"]["ssid"] == "lab"


def test_two_servers_and_bootstrap():
    r, cfg = prov("--endpoint", "n", "--server", "coap://127.0.0.1:5683", "--ssid", "101",
                  "--server", "coap://127.0.0.1:5783", "--ssid", "102",
                  "--bootstrap", "coap://127.0.0.1:5693", "--hold-off", "5")
    assert r.returncode == 0, r.stderr
    assert [s["ssid"] for s in cfg["servers"]] == [101, 102]
    assert cfg["bootstrap"] == {"uri": "coap://127.0.0.1:5693", "hold_off": 5}


def test_refusals_write_nothing():
    cases = [
        (["--server", "http://x"], "servers[0].uri"),
        (["--server", "coaps://x", "--psk-key", "00" * 33], "psk_key"),
        (["--server", "coaps://x", "--psk-key", "abc"], "psk_key"),
        (["--server", "coaps://x"], "psk_key"),
        (["--server", "coap://x", "--lifetime", "0"], "lifetime"),
        (["--server", "coaps://x", "--gen-key", "40"], "gen-key"),
    ]
    for args, key in cases:
        r, cfg = prov("--endpoint", "n", *args)
        assert r.returncode == 2 and cfg is None, (args, r.stdout)
        assert key in r.stderr and len(r.stderr.strip().splitlines()) == 1, (args, r.stderr)
