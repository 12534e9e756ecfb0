"""coap:// and coaps:// URIs behind coap.runner.resolve() and lwm2m.config, which load this module
for each call and drop it again (coap.unload): URIs are parsed at start-up and when a server is
resolved, too seldom to hold this code."""
import socket

from micropython import const

from coap.runner import peer_key

_DEFAULT_PORT = const(5683)
_DEFAULT_SECURE_PORT = const(5684)


def split(uri):
    """'coap://host:port/...' -> (scheme, host, port, path); raises ValueError on anything else
    (a bad scheme, host or port: one message for all)."""
    ok = isinstance(uri, str)
    scheme, sep, rest = uri.partition("://") if ok else ("", "", "")
    i = 0
    n = len(rest)
    while i < n and rest[i] not in "/?#":
        i += 1
    auth = rest[:i]
    path = rest[i:]
    port = _DEFAULT_SECURE_PORT if scheme == "coaps" else _DEFAULT_PORT
    if auth.startswith("["):
        # IPv6 literal: the colons inside the brackets are not the port separator
        host, b, tail = auth[1:].partition("]")
        if not b or (tail and not tail.startswith(":")):
            ok = False
        ports = tail[1:] if tail else None
    else:
        host, c, ports = auth.partition(":")
        if not c:
            ports = None
    if ports is not None:
        if ports.isdigit() and 0 < int(ports) < 65536:
            port = int(ports)
        else:
            ok = False
    if not ok or not sep or scheme not in ("coap", "coaps") or not host or "@" in auth:
        raise ValueError("bad coap:// or coaps:// URI %r" % (uri,))
    return scheme, host, port, path


def resolve(uri, family):
    """coap.runner.resolve()."""
    scheme, host, port, _ = split(uri)
    for ai in socket.getaddrinfo(host, port, 0, socket.SOCK_DGRAM):
        if ai[0] == family:
            return scheme, host, port, peer_key(ai[-1])
    raise OSError("no IPv4 address for %s" % host)
