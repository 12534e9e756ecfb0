"""The pull (Package URI) half of lwm2m.fwupdate.FwUpdate `fu`: coap(s) URIs, the Block2 downloader
with resume and back-off, coaps detection. Loaded with the first Package URI (or a Read of /5/0/8),
never for a push. lwm2m.fwupdate imports this module, never the other way round: the State and
Update Result values it needs are copied here."""
import sys

from micropython import const

from lwm2m.errors import BadRequest, MethodNotAllowed

_IDLE = const(0)
_DOWNLOADING = const(1)
_UPDATING = const(3)
_R_INITIAL = const(0)
_R_CONN_LOST = const(4)
_R_BAD_URI = const(7)
_R_BAD_PROTOCOL = const(9)


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


def coap_download(ep, szx=6):
    """A download callable for FwUpdate over a coap.endpoint.Endpoint (GET with Block2)."""
    from coap import msg as m

    def download(uri, start_block, sink, done, now, peer):
        _, host, port, segs, qs = parse_uri(uri)
        req = m.Message(m.CON, m.GET, 0, b"", b"")
        for s in segs:
            req.add(m.URI_PATH, s)
        for q in qs:
            req.add(m.URI_QUERY, q)
        return ep.download(req, peer if peer is not None else (host, port), now, sink, done,
                           szx=szx, start_block=start_block)

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


def pull(fu, uri, now):
    """FwUpdate.write_uri: "" cancels; a coap(s) URI starts the Block2 download."""
    if not uri:
        fu.cancel()
        if fu.uri:
            fu.uri = ""
            fu._set(fu.state)
        return
    if fu.state in (_DOWNLOADING, _UPDATING):
        raise MethodNotAllowed("busy")
    fu._end(_R_INITIAL, None)  # stop what there is; the URI's outcome is persisted next
    fu.uri = uri
    if fu.none:
        fu._set(_IDLE, _R_BAD_PROTOCOL)  # /5/0/8 is empty: no pull protocol at all
        raise BadRequest("firmware update not supported on this board")
    try:
        scheme = parse_uri(uri)[0]
    except ValueError:
        return fu._set(_IDLE, _R_BAD_URI)
    if scheme in ("http", "https") or (scheme == "coaps" and 1 not in fu.get(8)):
        return fu._set(_IDLE, _R_BAD_PROTOCOL)
    if scheme not in ("coap", "coaps"):
        return fu._set(_IDLE, _R_BAD_URI)
    c = fu.client
    if fu._download is None and c is not None:
        # a client's engine: pulls go over client.ep, peers as its runner resolves them
        fu._download = lambda *a: coap_download(c.ep)(*a)
        fu._resolve = _peer
        fu._secure = lambda peer: _secured(c, peer)
    if fu._download is None:
        return fu._set(_IDLE, _R_BAD_PROTOCOL)  # built without a downloader: push only
    fu._end(_R_INITIAL, _DOWNLOADING, True)
    attempt(fu, now)


def _secured(client, peer):
    """True when datagrams to peer go through a DTLS session (a coaps:// server's), so a coaps://
    package URI never leaves as plain UDP."""
    f = client.transport_factory
    link = getattr(f, "links", {}).get(peer)
    return link is not None and hasattr(link.t, "start")


def _peer(host, port):
    from coap.runner import resolve

    return resolve("coap://%s:%d" % ("[%s]" % host if ":" in host else host, port))[3]


def attempt(fu, now):
    """One download attempt from fu.offset on; a failure retries with back-off (lost())."""
    fu._deadline = None
    fu._gen += 1
    gen = fu._gen
    fu._at = fu.offset
    start = fu.offset >> (fu.szx + 4)

    def sink(offset, data):
        if gen != fu._gen:
            raise ValueError("stale transfer")
        skip = fu.offset - offset
        if skip < 0:
            raise ValueError("gap in download")  # ends the attempt: retried as a loss
        if skip < len(data) and fu._take(memoryview(data)[skip:]):
            raise ValueError("package rejected")  # the transfer ended; /5/0/5 says why

    def done(code, now):
        if gen != fu._gen:
            return
        fu._handle = None
        if code is not None and code >> 5 == 2:
            fu._take(None)  # a failure lands in Idle with its result
        elif code is not None and code >> 5 == 4:
            fu._end(_R_BAD_URI)  # 4.04 and friends: nothing to fetch there
        else:
            lost(fu, now)

    peer = None
    try:
        scheme, host, port, _, _ = parse_uri(fu.uri)
        if fu._resolve is not None:
            peer = fu._resolve(host, port)
        if scheme == "coaps" and (fu._secure is None or not fu._secure(peer)):
            # no DTLS session to that host: never send the request as plain UDP
            fu._end(_R_BAD_PROTOCOL)
            return
        h = fu._download(fu.uri, start, sink, done, now, peer)
    except OSError:
        lost(fu, now)
        return
    if gen == fu._gen and fu.state == _DOWNLOADING:
        fu._handle = h


def lost(fu, now):
    fu._handle = None
    if fu.offset > fu._at:
        fu._fails = 0  # it moved forward: only attempts that get nowhere count
    fu._fails += 1
    if fu._fails >= fu.tries:
        fu._end(_R_CONN_LOST)
        return
    import time

    from coap.retry import backoff_ms, urandom_int

    d = backoff_ms(fu._fails, fu.retry_ms, fu.retry_cap_ms, fu._rand or urandom_int)
    fu._deadline = time.ticks_add(now, d)
    fu._set(fu.state)  # the resume offset, once per failure rather than once per block
