"""What a Package URI write runs once (lwm2m.fwupdate.FwUpdate.write_uri): URI parsing, scheme
checks, coaps detection, the request. Loaded for that call (and a Read of /5/0/8) and dropped
again: only lwm2m.fwpull, the part that runs per block, stays for the transfer (each attempt's
start and back-off, lwm2m.fwtry, loads for the call).
Like lwm2m.fwpull it imports nothing of lwm2m.fwupdate: the values it needs are copied here."""
import sys

from micropython import const

from lwm2m import unload
from lwm2m.errors import BadRequest, MethodNotAllowed

_DOWNLOADING = const(1)
_UPDATING = const(3)
_R_INITIAL = const(0)
_R_BAD_URI = const(7)
_R_BAD_PROTOCOL = const(9)
_URI_PATH = const(11)  # coap.msg's option numbers
_URI_QUERY = const(15)


def _unquote(s):
    parts = s.split("%")
    out = bytearray(parts[0].encode())
    for p in parts[1:]:
        if len(p) < 2 or p[0] in "+-" or p[1] in "+-":
            raise ValueError("uri")
        out.append(int(p[:2], 16))  # ValueError on a bad escape: invalid URI
        out.extend(p[2:].encode())
    return out.decode()


def parse_uri(uri):
    """(scheme, host, port, [path segment], [query]) of a coap(s) URI; ValueError if malformed."""
    if len(uri) > 255 or "#" in uri or " " in uri:
        raise ValueError("uri")
    scheme, sep, rest = uri.partition("://")
    if not sep:
        raise ValueError("uri")
    scheme = scheme.lower()
    rest, _, query = rest.partition("?")
    auth, _, path = rest.partition("/")
    if auth[:1] == "[":
        host, sep, port = auth[1:].partition("]")
        if not sep or port[:1] not in ("", ":"):
            raise ValueError("uri")
        port = port[1:]
    else:
        host, _, port = auth.partition(":")
    if not host or "@" in host or (port and not (port.isdigit() and 0 < int(port) < 65536)):
        raise ValueError("uri")
    port = int(port) if port else (5684 if scheme == "coaps" else 5683)
    segs = [_unquote(p) for p in path.split("/")] if path else []
    qs = [_unquote(q) for q in query.split("&")] if query else []
    return scheme, host, port, segs, qs


def _request(segs, qs):
    from coap.msg import CON, GET, Message

    req = Message(CON, GET, 0, b"", b"")
    for s in segs:
        req.add(_URI_PATH, s)
    for q in qs:
        req.add(_URI_QUERY, q)
    return req


def coap_download(ep, szx=6):
    """A download callable for an FwUpdate of one's own over a coap.endpoint.Endpoint (GET with
    Block2). A client's engine does without: its pulls go over client.ep (lwm2m.fwpull)."""

    def download(uri, start_block, sink, done, now, peer):
        _, host, port, segs, qs = parse_uri(uri)
        return ep.download(_request(segs, qs), peer if peer is not None else (host, port), now,
                           sink, done, szx=szx, start_block=start_block)

    return download


def coaps_supported():
    """True where a coaps:// pull can work: MicroPython (its tls module) with lib/coap/dtls.py."""
    if sys.implementation.name != "micropython":
        return False
    try:
        import tls  # noqa: F401 (none at all: no need to load the probe)
    except ImportError:
        return False
    from coap import tlsinfo

    if tlsinfo.level() != tlsinfo.PSK:
        return False  # no DTLS, or DTLS without PSK (v1.25-v1.28): /5/0/8 must not say CoAPS
    if "coap.dtls" in sys.modules:
        return True
    import coap

    # look for the module rather than import it: compiling it costs more heap than it is worth
    d = getattr(coap, "__path__", None) or coap.__file__.rpartition("/")[0]
    if not isinstance(d, str):
        d = d[0]
    import os

    for ext in (".py", ".mpy"):
        try:
            os.stat(d + "/dtls" + ext)
            return True
        except OSError:
            pass
    return False


def protocols(fu):
    """FwUpdate.get(8), Firmware Update Protocol Support: {} without room for any image, else
    CoAP, and CoAPS where coaps_supported() says (asked once, unless the engine was told). Drops
    this module (the call holds it)."""
    unload("fwuri")
    if getattr(fu.storage, "none", False):  # no room for any image: "not supported"
        return {}
    c = fu.coaps
    if c is None:
        c = fu.coaps = coaps_supported()
    return {0: 0, 1: 1} if c else {0: 0}


def pull(fu, uri):
    """FwUpdate.write_uri's checks: "" cancels (None); a coap(s) URI is parsed here, once: the
    outcome is (result, u), u = (coaps?, host, port, the GET for a client's engine or None) for a
    pull to start, None when the URI is refused with that result. The caller stops what there
    is and takes the outcome once this module is gone (storage's abort loads board.stage: both
    with the Write's step were its heap peak); its next tick() starts the pull.
    Dropped here: this call holds it."""
    unload("fwuri")
    if not uri:
        fu.cancel()
        if fu.uri:
            fu.uri = ""
            fu._set(fu.state)
        return None
    if fu.state in (_DOWNLOADING, _UPDATING):
        raise MethodNotAllowed("busy")
    if getattr(fu.storage, "none", False):
        fu.uri = uri
        fu._end(_R_BAD_PROTOCOL)  # stop what there is: /5/0/8 is empty, no pull protocol at all
        raise BadRequest("firmware update not supported on this board")
    try:
        scheme, host, port, segs, qs = parse_uri(uri)
    except ValueError:
        return _R_BAD_URI, None
    if scheme in ("http", "https") or (scheme == "coaps" and 1 not in protocols(fu)):
        return _R_BAD_PROTOCOL, None
    if scheme not in ("coap", "coaps"):
        return _R_BAD_URI, None
    d = getattr(fu, "_download", None)  # lwm2m.fwapply.setup: set when given
    if d is None and fu.client is None:
        return _R_BAD_PROTOCOL, None  # built without a downloader: push only
    # a client's engine (no downloader given): the GET goes over client.ep, built once here
    return _R_INITIAL, (scheme == "coaps", host, port, None if d else _request(segs, qs))
