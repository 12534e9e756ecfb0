# package.json (mip) and firmware/manifest.py must list what lib/ really holds.
import os
import subprocess
import sys

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_package_json_in_sync():
    r = subprocess.run([sys.executable, os.path.join(TOP, "tools", "gen_package.py"), "--check"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout


def test_manifest_freezes_every_lib_package():
    with open(os.path.join(TOP, "firmware", "manifest.py")) as f:
        text = f.read()
    pkgs = [d for d in os.listdir(os.path.join(TOP, "lib"))
            if os.path.isdir(os.path.join(TOP, "lib", d)) and not d.startswith((".", "_"))]
    assert pkgs
    for p in pkgs:
        assert 'package("%s", base_path="../lib")' % p in text, p
