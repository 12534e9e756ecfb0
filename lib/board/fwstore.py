"""Firmware-update storage: the errors and file helpers every store shares.

Both backends: begin(total_size=None), write(data) streamed, offset, finish() -> (length,
sha256_hex), abort(), apply() (boot the new image next), confirm() (after the first successful
registration of the new image). The caller persists the Firmware Update object state. A push
loads only its board's store: board.partstore (ESP32 OTA slot; board.nostore when there is
none) or board.bundle (a staged application bundle, host and Pico W; board.unpack checks it);
boot-time apply and rollback are board.fwboot (with the bundle writer the host tools use). Those
names are imported from their own modules: a forwarding __getattr__ here cost every transfer
432 B of heap on a 32-bit board.
"""
import binascii
import os


class FwError(Exception):
    result = 8  # /5/0/5 Firmware update failed


class NoSpace(FwError):
    result = 2


class IntegrityError(FwError):
    result = 5


def _hex(h):
    return binascii.hexlify(h.digest()).decode()


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


def _remove(p):
    try:
        os.remove(p)
    except OSError:
        pass


def _rmtree(p):
    if not _isdir(p):
        _remove(p)
        return
    for name in os.listdir(p):
        _rmtree(p + "/" + name)
    os.rmdir(p)


def _makedirs(p):
    part = ""
    for c in p.split("/"):
        part = part + "/" + c if part or p[:1] == "/" else c
        if c and not _isdir(part):
            os.mkdir(part)


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

