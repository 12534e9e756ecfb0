"""File helpers of the firmware steps past a transfer: boot-time apply and rollback (board.fwboot)
and PartitionStore's apply/boot_result/confirm, which import them where they run, and a
BundleStore's apply, boot_result and confirm themselves, which step() tells from another
store's methods (lwm2m.fwapply and lwm2m.fwrec call it). A transfer
needs none of them, so the store its first block loads does without them; lwm2m.objects.firmware
drops this module with the engine."""
import os

from .fwstore import FwError


def step(st, name):
    """st.<name>() for any store: apply, boot_result or confirm. A BundleStore's (a store with a
    root directory) are the functions below, so a push does not load them with board.bundle;
    another store's are its methods (None for a step it lacks: boot_result, which a hashing
    sink cannot tell)."""
    if hasattr(st, "root"):
        return globals()[name](st)
    m = getattr(st, name, None)
    return None if m is None else m()


def apply(st):
    """BundleStore st: mark the staged bundle for board.fwboot.boot_apply() at the next boot."""
    if not _exists(st.root + "/staged.bundle"):
        raise FwError(8)  # apply before finish
    open(st.root + "/apply", "w").close()


def boot_result(st):
    """BundleStore st: what the last boot_apply did: 'applied', 'rolledback', 'failed' or None."""
    return _read(st.root + "/result")


def confirm(st):
    """BundleStore st: keep the app on trial (False: none is)."""
    if not _exists(st.root + "/trial"):
        return False
    _remove(st.root + "/trial")
    _rmtree(st.root + "/prev")
    return True


def _makedirs(p):
    part = ""
    for c in p.split("/"):
        part = part + "/" + c if part or p[:1] == "/" else c
        if c:
            try:
                os.mkdir(part)
            except OSError:  # there already (anything else fails the open that follows)
                pass


def _remove(p):
    try:
        os.remove(p)
    except OSError:
        pass


def _exists(p):
    try:
        os.stat(p)
        return True
    except OSError:
        return False


def _isdir(p):
    try:
        return os.stat(p)[0] & 0x4000 != 0
    except OSError:
        return False


def _rmtree(p):
    if not _isdir(p):
        _remove(p)
        return
    for name in os.listdir(p):
        _rmtree(p + "/" + name)
    os.rmdir(p)


def _write(path, text):
    # Small state files: written beside and renamed over, so a cut leaves old or new.
    with open(path + ".t", "w") as f:
        f.write(text)
    os.rename(path + ".t", path)


def _read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None
