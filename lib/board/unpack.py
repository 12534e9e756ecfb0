"""Reading an application bundle (format: board.bundle): check it, and extract it at boot.

Loaded by BundleStore.finish(), whose work is finish() here, for the check (gone again after it)
and by board.fwboot.boot_apply() to unpack: a transfer's blocks never need it, so the store its
first block loads does without it."""
import binascii
import hashlib
import os
import sys

from .fwstore import FwError

_MAGIC = b"LWM2MBUNDLE 1\n"


def finish(st):
    """BundleStore st's finish(): the staged file closed and checked, then renamed for apply;
    (length, sha256 hex) of it. The module goes when it returns (the caller holds what runs)."""
    sys.modules.pop(__name__, None)
    sys.modules["board"].__dict__.pop("unpack", None)
    if st._f is None:
        raise FwError(8)  # finish before begin
    st._f.close()
    st._f = None
    d = st._sha.digest()
    st._sha = None  # freed before the check makes its own: the last block is a heap peak
    part = st.root + "/staged.part"
    unpack_bundle(part)
    os.rename(part, st.root + "/staged.bundle")
    return (st.offset, binascii.hexlify(d).decode())


def unpack_bundle(path, dest=None):
    """Check a bundle file; with dest, also extract it there. Returns the file count. (The check
    at a transfer's end is finish()'s, which drops this module first.)"""
    buf = bytearray(256)  # small: the check runs at the last block, a heap peak
    mv = memoryview(buf)
    h = hashlib.sha256()
    count = 0
    with open(path, "rb") as f:
        line = f.readline(64)
        if line != _MAGIC:
            raise FwError(5)  # integrity: not a bundle
        h.update(line)
        while True:
            line = f.readline(256)
            if line[:4] == b"END " and line[-1:] == b"\n":
                if line[4:-1] != binascii.hexlify(h.digest()) or f.read(1):
                    raise FwError(5)  # the checksum does not match
                return count
            try:
                name = line[:-1].decode() if line[-1:] == b"\n" else ""
            except UnicodeError:
                raise FwError(5)  # a name that is not UTF-8
            size = f.readline(16)
            # a path relative to dest, '/'-separated, without '..', '.' or empty parts (each
            # part is between two '/' in s: an empty name, or one starting with '/', has "//")
            s = "/" + name + "/"
            if ("//" in s or "/./" in s or "/../" in s or "\\" in name or size[-1:] != b"\n"
                    or not size[:-1].isdigit()):
                raise FwError(5)  # a bad entry
            h.update(line)
            h.update(size)
            left = int(size)
            out = None
            if dest is not None:
                # dest and every directory on the way to the file (board.fwfile's _makedirs:
                # here, as board.fwfile is dropped with the engine and this runs at boot)
                p = dest + "/" + name
                d = ""
                for c in p.split("/")[:-1]:
                    d = d + "/" + c if d or p[:1] == "/" else c
                    if c:
                        try:
                            os.mkdir(d)
                        except OSError:  # there already (anything else fails the open)
                            pass
                out = open(p, "wb")
            try:
                while left:
                    n = f.readinto(mv[:min(left, len(buf))])
                    if not n:
                        raise FwError(5)  # truncated
                    h.update(mv[:n])
                    if out:
                        out.write(mv[:n])
                    left -= n
            finally:
                if out:
                    out.close()
            count += 1
