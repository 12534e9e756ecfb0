"""Stopping the client: Deregister from every server, then stop, reboot or factory-reset.

Loaded by the first Client.shutdown (Ctrl-C, a server's Reboot or Factory Reset): a client that
runs never carries this code.
"""
import time


def begin(c, now, why):
    """Deregister from every server c is registered with; why: "shutdown", or a server's
    "reboot" / "factory_reset" done once they answered (or ~5 s)."""
    if why != "shutdown":
        c.log.info("%s requested by a server" % why.replace("_", " "))
    left = [r for r in c.regs.values() if r.location]
    state = [len(left), time.ticks_add(now, 5000), False]  # unanswered, deadline, flushed
    c._halt = (why, state)

    def one(t):
        state[0] -= 1

    for r in left:
        r.deregister(now, one)


def halting(c, now):
    """Client.tick while stopping: ms until it looks again, None once c.stopped."""
    why, st = c._halt
    if st[0] > 0 and time.ticks_diff(now, st[1]) < 0:
        return min(1000, time.ticks_diff(st[1], now))
    if not st[2]:
        st[2] = True  # one more pass so the runner flushes what is queued (the 2.04)
        return 0
    c.stopped = True
    if why == "shutdown":
        return None
    if why == "factory_reset":
        c.log.info("factory reset: store wiped")
        c.store.wipe()
    if c.platform is not None:
        c.platform.reboot()
    return None
