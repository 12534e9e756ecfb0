"""Writes a board's config.json from command-line arguments, validated as the board will.

    python tools/provision.py --endpoint node-7 --server coaps://lwm2m.example:5684 \\
        --psk-identity node-7 --gen-key 16 --wifi-ssid lab --wifi-password secret -o config.json

An invalid URI, key length or value is refused with the same one-line error the board would
print, and nothing is written. A generated key is printed once, so it can be entered on the
server; it is not logged anywhere else. config.json is in .gitignore: keep it out of git.
"""
import argparse
import json
import os
import secrets
import sys

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TOP, "tools", "cpy"))
sys.path.insert(0, os.path.join(TOP, "lib"))
import mpshim  # noqa: E402,F401  (time.ticks_* for lib/ under CPython)
from lwm2m.config import ConfigError, validate  # noqa: E402


def build(a):
    """The config dict for parsed arguments (not yet validated)."""
    key = a.psk_key
    if a.gen_key:
        key = secrets.token_hex(a.gen_key)
    servers = []
    for i, uri in enumerate(a.server or ()):
        s = {"uri": uri, "ssid": (a.ssid or [])[i] if i < len(a.ssid or []) else i + 1,
             "lifetime": a.lifetime, "binding": "UQ" if a.queue else "U"}
        if uri.startswith("coaps://"):
            s["psk_identity"] = a.psk_identity or a.endpoint
            s["psk_key"] = key
        servers.append(s)
    cfg = {"endpoint": a.endpoint, "servers": servers, "queue_mode": a.queue,
           "local_port": a.local_port, "data_dir": a.data_dir, "log": a.log}
    if a.bootstrap:
        bs = {"uri": a.bootstrap, "hold_off": a.hold_off}
        if a.bootstrap.startswith("coaps://"):
            bs["psk_identity"] = a.psk_identity or a.endpoint
            bs["psk_key"] = key
        cfg["bootstrap"] = bs
    if a.wifi_ssid:
        cfg["wifi"] = {"ssid": a.wifi_ssid, "password": a.wifi_password or ""}
    if a.ntp:
        cfg["ntp"] = a.ntp
    return cfg, (key if a.gen_key else None)


def parser():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--endpoint", required=True, help="endpoint name (ep=)")
    ap.add_argument("--server", action="append", help="LwM2M server URI (repeatable)")
    ap.add_argument("--ssid", action="append", type=int, help="Short Server ID per --server")
    ap.add_argument("--lifetime", type=int, default=300)
    ap.add_argument("--queue", action="store_true", help="queue mode (b=UQ)")
    ap.add_argument("--bootstrap", help="bootstrap server URI")
    ap.add_argument("--hold-off", type=int, default=0, help="Client Hold Off Time, seconds")
    ap.add_argument("--psk-identity", help="PSK identity for coaps:// (default: the endpoint)")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--psk-key", help="PSK key as hex (at most 32 bytes)")
    g.add_argument("--gen-key", type=int, metavar="BYTES", help="generate a random key")
    ap.add_argument("--wifi-ssid")
    ap.add_argument("--wifi-password")
    ap.add_argument("--ntp", help="NTP host to set the clock from")
    ap.add_argument("--local-port", type=int, default=0)
    ap.add_argument("--data-dir", default="data")
    ap.add_argument("--log", default="info")
    ap.add_argument("-o", "--out", default="config.json")
    return ap


def main(argv):
    a = parser().parse_args(argv)
    if a.gen_key is not None and not 1 <= a.gen_key <= 32:
        print("provision: --gen-key: MicroPython's tls takes a PSK of 1..32 bytes", file=sys.stderr)
        return 2
    cfg, generated = build(a)
    try:
        validate(json.loads(json.dumps(cfg)))
    except ConfigError as e:
        print("provision: %s" % e, file=sys.stderr)
        return 2
    with open(a.out, "w") as f:
        json.dump(cfg, f, indent=1)
        f.write("\n")
    print("provision: wrote %s for %s (%d server(s)%s)" % (
        a.out, a.endpoint, len(cfg["servers"]), ", bootstrap" if a.bootstrap else ""))
    if generated:
        print("provision: generated PSK key (enter it on the server): %s" % generated)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
