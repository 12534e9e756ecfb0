"""Boot-time apply and rollback of the application bundle board.bundle staged (boot.py), and the
bundle writer (host tools): what a transfer never needs, kept out of the store it loads."""
import binascii
import hashlib
import os

from .fwfile import _exists, _isdir, _read, _remove, _rmtree, _write
from .fwstore import FwError
from .unpack import _MAGIC, unpack_bundle


def write_bundle(out, items):
    """Write a bundle of (path, bytes) items to out (has write); returns the trailer SHA-256."""
    h = hashlib.sha256(_MAGIC)
    out.write(_MAGIC)
    for path, data in items:
        head = ("%s\n%d\n" % (path, len(data))).encode()
        out.write(head)
        out.write(data)
        h.update(head)
        h.update(data)
    digest = binascii.hexlify(h.digest()).decode()
    out.write(("END %s\n" % digest).encode())
    return digest


def _touch(path):
    open(path, "w").close()


def boot_apply(root, app_dir, max_boots=3, count=True):
    """Run at every boot; returns 'applied', 'rolledback', 'failed', 'trial' or 'none'.
    count=False: <root>/trial was counted elsewhere (main.py, which mpremote's soft resets in the
    raw REPL do not run); only roll back once it is over max_boots."""
    if _exists(root + "/rollback"):
        boot_rollback(root, app_dir)
        return "rolledback"
    if _exists(root + "/apply") and not _exists(root + "/swap"):
        _rmtree(root + "/new")
        _rmtree(root + "/prev")
        try:
            unpack_bundle(root + "/staged.bundle", root + "/new")
        except (FwError, OSError, ValueError):
            _rmtree(root + "/new")
            _remove(root + "/apply")
            _remove(root + "/staged.bundle")
            _write(root + "/result", "failed")
            return "failed"
        _touch(root + "/swap")
    if _exists(root + "/swap"):
        if _exists(root + "/new"):
            if _exists(app_dir):
                os.rename(app_dir, root + "/prev")
            os.rename(root + "/new", app_dir)
        _write(root + "/trial", "1" if count else "0")  # count=False: main.py counts this one
        _write(root + "/result", "applied")
        _remove(root + "/apply")
        _remove(root + "/staged.bundle")
        _remove(root + "/swap")
        return "applied"
    boots = _read(root + "/trial")
    if boots is None:
        return "none"
    n = (int(boots) if boots.isdigit() else max_boots) + (1 if count else 0)
    if n > max_boots or (not count and n >= max_boots):
        if boot_rollback(root, app_dir):
            return "rolledback"
        _remove(root + "/trial")  # nothing to go back to: keep the new app
        return "none"
    if count:
        _write(root + "/trial", str(n))
    return "trial"


def boot_rollback(root, app_dir):
    """Put <root>/prev back as app_dir if the running app is unconfirmed; True if it did."""
    journal = root + "/rollback"
    prev = root + "/prev"
    if not _exists(journal):
        if not _exists(root + "/trial") or not _isdir(prev):
            return False
        _rmtree(root + "/bad")
        _touch(journal)
    if _exists(prev):
        if _exists(app_dir):
            os.rename(app_dir, root + "/bad")
        os.rename(prev, app_dir)
    _remove(root + "/trial")
    _write(root + "/result", "rolledback")
    _remove(journal)
    _rmtree(root + "/bad")
    return True
