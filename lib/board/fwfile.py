"""File helpers of the firmware steps past a transfer: boot-time apply and rollback (board.fwboot)
and the stores' apply/boot_result/confirm, which import them where they run. A transfer needs
none of them, so the store its first block loads does without them (board.fwstore keeps what it
does need); lwm2m.objects.firmware drops this module with the engine."""
import os


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
