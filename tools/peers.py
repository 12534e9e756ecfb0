"""Checks (and on request installs) the Debian peers the interop tests need: libcoap3-bin, socat."""
import os
import shutil
import subprocess
import sys

# command we need -> Debian package that provides it
NEEDED = {
    "coap-client-openssl": "libcoap3-bin",
    "coap-server-openssl": "libcoap3-bin",
    "coap-server-gnutls": "libcoap3-bin",
    "socat": "socat",
}


def missing():
    return sorted({pkg for cmd, pkg in NEEDED.items() if shutil.which(cmd) is None})


def install(pkgs):
    if not shutil.which("apt-get"):
        return False
    sudo = [] if os.geteuid() == 0 else (["sudo", "-n"] if shutil.which("sudo") else None)
    if sudo is None:
        return False
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    print("peers: installing", " ".join(pkgs), flush=True)
    subprocess.call(sudo + ["apt-get", "update", "-qq"], env=env)
    return subprocess.call(sudo + ["apt-get", "install", "-y", "-qq"] + pkgs, env=env) == 0


def main(argv):
    need = missing()
    if need and "install" in argv:
        install(need)
        need = missing()
    if need:
        print("peers: missing Debian packages: %s (apt-get install %s)" % (", ".join(need), " ".join(need)))
        return 1
    print("peers: libcoap and socat present")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
