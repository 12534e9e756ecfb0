"""Firmware update packages for the peer tests and benchmarks: filler, bundles, header + bundle.

In tools/ beside proc.py because both host_tests/ (through conftest.py) and tools/bench/ (through
benchpath) import from here. It builds packages with the client's own writers (board.fwboot's
bundle, lwm2m.fwpkg's header), so lib/ and tools/cpy/ must be on sys.path when a function runs.
"""
import hashlib
import io


def blob(n, seed=b"fw"):
    """n bytes that do not compress: a SHA-256 chain from `seed`."""
    out = bytearray()
    d = hashlib.sha256(seed).digest()
    while len(out) < n:
        d = hashlib.sha256(d).digest()
        out += d
    return bytes(out[:n])


def bundle(items):
    """An application bundle (board.fwstore format) of [(path, bytes)]."""
    from board.fwboot import write_bundle

    b = io.BytesIO()
    write_bundle(b, items)
    return b.getvalue()


def package(body, name="lwm2m-app", version="2.0.0", digest=None):
    """`body` behind an update package header (lwm2m.fwpkg); digest: a wrong one, for tests."""
    from lwm2m.fwpkg import make_header

    d = hashlib.sha256(body).digest() if digest is None else digest
    return make_header(len(body), d, name, version) + body


def blob_package(size, seed=b"fw", name="lwm2m-app", version="2.0.0"):
    """(bundle, package): a bundle of one file, blob.bin, of `size` filler bytes, and that
    bundle behind a package header."""
    img = bundle([("blob.bin", blob(size, seed))])
    return img, package(img, name, version)
