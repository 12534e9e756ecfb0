"""Runner.rebind(): a new UDP socket in place of the old one after an address change; loaded for
the call and dropped again (coap.unload), so a client holds this code only while it rebinds."""
from coap.runner import UdpTransport


def rebind(r, local_port, now):
    """coap.runner.Runner.rebind() of runner r (its docstring says what and why)."""
    old = r.udp
    # a new port is opened first, so the kernel cannot hand out the old one; the same port
    # again needs the old socket closed first
    new = None if local_port else UdpTransport(0)
    if old.sock is not None:
        r._resock(old.sock, None)
        try:
            old.close()
        except OSError:
            pass
        old.sock = None
    if new is None:
        new = UdpTransport(local_port)
    r.udp = new
    i = r._transports.index(old) if old in r._transports else len(r._transports)
    r._transports[i:i + 1] = [new]
    r._resock(None, new.sock)
    for p, v in list(r._routes.items()):
        if v is old:
            r._routes[p] = new
    for t in r._transports:
        if t is not new and t.sock is not None and hasattr(t, "start"):
            t.start(now)
    for fn in r.on_rebind:
        fn(now)
    r.wake()  # the listeners queued requests whose timers the current deadline ignores
    return new
