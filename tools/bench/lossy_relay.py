"""UDP impairment relay on loopback: drop, duplicate, delay and reorder datagrams per direction.

    python tools/bench/lossy_relay.py --listen 5700 --upstream 127.0.0.1:5683 --drop 0.2 --dup 0.1 --seed 1

Each client address gets its own upstream socket, so requests the server starts (reads, writes,
observe notifications going the other way) reach the client that registered through the relay.
Decisions come from one random.Random(seed) per direction, so a run is reproducible as far as the
order of datagrams is. CPython only (asyncio)."""
import argparse
import asyncio
import random
import sys


class Impairment:
    """Rates for one direction: drop, dup(licate), reorder in 0..1; delay_ms (lo, hi) added to each
    datagram; a reordered datagram is held back an extra reorder_ms so later ones overtake it."""

    def __init__(self, drop=0.0, dup=0.0, delay_ms=(0, 0), reorder=0.0, reorder_ms=30, seed=0):
        for name, v in (("drop", drop), ("dup", dup), ("reorder", reorder)):
            if not 0.0 <= v <= 1.0:
                raise ValueError("%s rate must be in 0..1" % name)
        self.drop = drop
        self.dup = dup
        self.delay_ms = tuple(delay_ms)
        self.reorder = reorder
        self.reorder_ms = reorder_ms
        self.rng = random.Random(seed)
        self.passed = 0
        self.dropped = 0
        self.duplicated = 0
        self.reordered = 0

    def plan(self):
        """Delays in seconds for the copies of one datagram to send ([] when dropped)."""
        r = self.rng
        if r.random() < self.drop:
            self.dropped += 1
            return []
        copies = 2 if r.random() < self.dup else 1
        if copies == 2:
            self.duplicated += 1
        out = []
        for _ in range(copies):
            lo, hi = self.delay_ms
            d = r.uniform(lo, hi) if hi > lo else lo
            if r.random() < self.reorder:
                self.reordered += 1
                d += self.reorder_ms
            out.append(d / 1000.0)
        self.passed += 1
        return out

    def counters(self):
        return {"passed": self.passed, "dropped": self.dropped, "duplicated": self.duplicated,
                "reordered": self.reordered}


class _Up(asyncio.DatagramProtocol):
    # one per client address: what the server sends here goes back to that client
    def __init__(self, relay, client):
        self.relay = relay
        self.client = client
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        self.relay._forward(self.relay.down, self.relay._front, data, self.client)


class _Front(asyncio.DatagramProtocol):
    def __init__(self, relay):
        self.relay = relay

    def datagram_received(self, data, addr):
        self.relay._from_client(data, addr)


class LossyRelay:
    """Listens on (host, port) (0: any free port, see .port after start()); forwards to upstream.
    up/down are Impairment for client->server and server->client."""

    def __init__(self, upstream, host="127.0.0.1", port=0, up=None, down=None):
        self.upstream = upstream
        self.host = host
        self._want_port = port
        self.port = None
        self.up = up or Impairment()
        self.down = down or Impairment()
        self._front = None
        self._ups = {}  # client addr -> _Up
        self._pending = {}  # client addr -> [datagrams waiting for the upstream socket]
        self._handles = set()

    @classmethod
    def symmetric(cls, upstream, drop=0.0, dup=0.0, delay_ms=(0, 0), reorder=0.0, seed=0, **kw):
        return cls(upstream, up=Impairment(drop, dup, delay_ms, reorder, seed=seed * 2 + 1),
                   down=Impairment(drop, dup, delay_ms, reorder, seed=seed * 2 + 2), **kw)

    async def start(self):
        loop = asyncio.get_running_loop()
        self._front, _ = await loop.create_datagram_endpoint(
            lambda: _Front(self), local_addr=(self.host, self._want_port))
        self.port = self._front.get_extra_info("sockname")[1]
        return self

    async def stop(self):
        for h in list(self._handles):
            h.cancel()
        self._handles.clear()
        for u in self._ups.values():
            if u.transport is not None:
                u.transport.close()
        self._ups.clear()
        if self._front is not None:
            self._front.close()
            self._front = None

    async def __aenter__(self):
        return await self.start()

    async def __aexit__(self, *exc):
        await self.stop()

    def counters(self):
        return {"up": self.up.counters(), "down": self.down.counters()}

    def summary(self):
        return " ".join("%s: passed %d dropped %d duplicated %d reordered %d" % (
            d, c["passed"], c["dropped"], c["duplicated"], c["reordered"])
            for d, c in self.counters().items())

    def _from_client(self, data, addr):
        u = self._ups.get(addr)
        if u is None:
            u = self._ups[addr] = _Up(self, addr)
            self._pending[addr] = []
            asyncio.ensure_future(self._open(u))
        self._forward(self.up, u, data, None)

    async def _open(self, u):
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: u, remote_addr=self.upstream)
        for data in self._pending.pop(u.client, ()):
            u.transport.sendto(data)

    def _forward(self, imp, via, data, dest):
        loop = asyncio.get_running_loop()
        for d in imp.plan():
            if d <= 0:
                self._send(via, data, dest)
            else:
                h = loop.call_later(d, self._later, via, data, dest)
                self._handles.add(h)

    def _later(self, via, data, dest):
        self._handles = {h for h in self._handles if not h.cancelled() and h.when() >
                         asyncio.get_running_loop().time()}
        self._send(via, data, dest)

    def _send(self, via, data, dest):
        if isinstance(via, _Up):
            if via.transport is None:
                p = self._pending.get(via.client)
                if p is not None:
                    p.append(data)
                return
            via.transport.sendto(data)
        elif via is not None:  # the front socket, back to a client
            via.sendto(data, dest)


def _rate(s):
    v = float(s)
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError("rate must be in 0..1")
    return v


def _hostport(s):
    h, _, p = s.rpartition(":")
    return (h or "127.0.0.1", int(p))


def _delay(s):
    lo, _, hi = s.partition("-")
    return (float(lo), float(hi or lo))


async def _serve(a):
    relay = LossyRelay(
        _hostport(a.upstream), a.host, a.listen,
        up=Impairment(a.drop if a.drop_up is None else a.drop_up, a.dup if a.dup_up is None else a.dup_up,
                      _delay(a.delay), a.reorder, seed=a.seed * 2 + 1),
        down=Impairment(a.drop if a.drop_down is None else a.drop_down,
                        a.dup if a.dup_down is None else a.dup_down,
                        _delay(a.delay), a.reorder, seed=a.seed * 2 + 2))
    await relay.start()
    print("relay %s:%d -> %s:%d" % (a.host, relay.port, *relay.upstream), flush=True)
    try:
        while True:
            await asyncio.sleep(a.report)
            print(relay.summary(), flush=True)
    finally:
        print(relay.summary(), flush=True)
        await relay.stop()


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--listen", type=int, default=0, help="port to listen on (default: any)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--upstream", required=True, help="server host:port")
    ap.add_argument("--drop", type=_rate, default=0.0)
    ap.add_argument("--dup", type=_rate, default=0.0)
    ap.add_argument("--drop-up", type=_rate, help="client->server drop rate (default --drop)")
    ap.add_argument("--drop-down", type=_rate)
    ap.add_argument("--dup-up", type=_rate)
    ap.add_argument("--dup-down", type=_rate)
    ap.add_argument("--delay", default="0", help="ms or lo-hi ms added to every datagram")
    ap.add_argument("--reorder", type=_rate, default=0.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--report", type=float, default=10.0, help="seconds between counter lines")
    a = ap.parse_args(argv)
    try:
        asyncio.run(_serve(a))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
