"""End to end: `micropython main.py` in a board-like directory against lwm2m-node-lib 1.4.0 (npm),
a second, independently written LwM2M server, driven through tools/nodelib/server.js. What is
judged here is judged by lwm2m-node-lib: Register (its parser of our link list), Read, Write in
its 1541, Execute, Write-Attributes, Observe, Update, Deregister; Discover and TLV go through its
socket as raw requests and are checked against the TS's example form.

node and tools/nodelib/node_modules (`make nodelib`) are required: missing ones fail, never skip."""
import json
import os
import shutil
import signal
import sys
import tempfile

from boardir import TOP, make_board_dir
from hostenv import micropython
from proc import Proc

EP = "nodelib-1"
NODEDIR = os.path.join(TOP, "tools", "nodelib")
CF_TLV = 11542


class NodeServer(Proc):
    """tools/nodelib/server.js: its JSON events and answers (.msgs, each with "_rx", its arrival
    time) and other lines (.junk) read by Proc's thread, so waits can time out."""

    def __init__(self):
        node = shutil.which("node")
        assert node, "node not found on PATH: install Node.js 20 (make nodelib needs node and npm)"
        assert os.path.isdir(os.path.join(NODEDIR, "node_modules", "lwm2m-node-lib")), \
            "lwm2m-node-lib not installed: run `make nodelib`"
        self.msgs = []
        self.junk = []
        self.next_id = 1
        self.err = tempfile.TemporaryFile(mode="w+")
        super().__init__([node, os.path.join(NODEDIR, "server.js"), "0"], cwd=NODEDIR, stdin=True,
                         stderr=self.err)
        self.port = self.wait(lambda m: m.get("event") == "listening", 15)["port"]

    def take(self, line, t):
        super().take(line, t)
        try:
            m = json.loads(line)
        except ValueError:
            m = None
        if isinstance(m, dict):
            m["_rx"] = t
            self.msgs.append(m)
        else:
            self.junk.append(line)

    def wait(self, pred, timeout, start=0):
        """The first message from index `start` of .msgs that pred() is true for."""
        i = self.wait_for(pred, timeout, start, among=self.msgs)
        with self.cond:
            return self.msgs[i]

    def mark(self):
        with self.cond:
            return len(self.msgs)

    def event(self, kind, timeout=15, start=0, ep=EP):
        return self.wait(lambda m: m.get("event") == kind and m.get("ep") == ep, timeout, start)

    def events(self, kind, start=0):
        with self.cond:
            return [m for m in self.msgs[start:] if m.get("event") == kind]

    def cmd(self, op, timeout=15, **kw):
        i = self.next_id
        self.next_id += 1
        kw.update(id=i, op=op)
        kw.setdefault("ep", EP)
        self.say(json.dumps(kw))
        return self.wait(lambda m: m.get("id") == i, timeout)

    def tail(self):
        return self.dump()

    def dump(self):
        self.err.seek(0)
        err = [ln for ln in self.err.read().splitlines() if "circular dependency" not in ln
               and "--trace-warnings" not in ln]
        return "\n".join([json.dumps(m) for m in self.msgs] + self.junk + err[-40:])

    def close(self):
        try:
            self.kill()
        finally:
            self.err.close()


def config(port, lifetime=300):
    return {"endpoint": EP, "local_port": 0, "data_dir": "data", "log": "debug",
            "servers": [{"uri": "coap://127.0.0.1:%d" % port, "ssid": 1, "lifetime": lifetime}]}


def scenario(body, lifetime=300):
    """Start the node server and the client, run body(srv, client), always kill both."""
    srv = NodeServer()
    d = tempfile.mkdtemp(prefix="lwm2m-nodelib-")
    c = None
    try:
        make_board_dir(d, config(srv.port, lifetime))
        c = Proc([micropython(), "-X", "heapsize=1M", "main.py"], cwd=d)
        body(srv, c)
    except BaseException:
        sys.stderr.write("node server:\n%s\n" % srv.dump())
        if c is not None:
            sys.stderr.write("client output:\n%s\n" % "\n".join(c.lines))
        raise
    finally:
        try:
            if c is not None:
                c.kill()
        finally:
            srv.close()
            shutil.rmtree(d, ignore_errors=True)


def ok(r):
    assert r.get("ok") is True, r
    return r


def test_register_read_write_execute_unregister():
    def body(srv, c):
        reg = srv.event("registration", 20)
        assert reg["lt"] == "300" and reg["b"] == "U" and reg["lwm2m"] == "1.0", reg
        paths = [ln.get("path") for ln in reg["links"]]
        assert "/1/0" in paths and "/3/0" in paths, reg
        assert not any(p.startswith("/0") for p in paths), reg  # Security is never announced
        assert all("raw" not in ln for ln in reg["links"]), reg
        assert " " not in reg["payload"], reg
        # the lib answered 2.01 with Location-Path as the one option "rd/<id>": the client must
        # still register and use that location for everything that follows
        dev = [d for d in ok(srv.cmd("devices"))["devices"] if d["name"] == EP]
        assert len(dev) == 1, dev
        c.wait_line("lwm2m: registered with coap://127.0.0.1:%d" % srv.port, 15)

        # Read, no Accept: plain text answers
        assert ok(srv.cmd("read", path="/3/0/0"))["value"] == "MicroPython"
        assert ok(srv.cmd("read", path="/3/0/2"))["value"] == "HOST-0001"
        assert ok(srv.cmd("read", path="/1/0/1"))["value"] == "300"
        r = ok(srv.cmd("raw", method="GET", path="/3/0/0"))
        assert (r["code"], r["format"], r["text"]) == ("2.05", 0, "MicroPython"), r
        r = srv.cmd("read", path="/3/0/99")
        assert r["ok"] is False and r["error"] == "RESOURCE_NOT_FOUND", r

        # instance read as TLV (beyond the lib's read API: its own transport with an Accept)
        r = ok(srv.cmd("raw", method="GET", path="/3/0", accept=CF_TLV))
        assert r["code"] == "2.05" and r["format"] == CF_TLV, r
        b = bytes.fromhex(r["hex"])
        # TLV resource 0 (type 11, 8-bit id, 8-bit length) "MicroPython" comes first
        assert b[:3] == bytes([0xC8, 0x00, 11]) and b[3:14] == b"MicroPython", r

        # Write in the lib's default Content-Format 1541 (legacy text): a lifetime change makes
        # the client send an Update carrying it, and the new value reads back
        m = srv.mark()
        ok(srv.cmd("write", path="/1/0/1", value="45"))
        u = srv.event("update", 10, m)
        assert u["lifetime"] == "45" and u["payload"] == "", u  # lt only, no object links
        assert ok(srv.cmd("read", path="/1/0/1"))["value"] == "45"
        # an unwritable resource is refused
        r = srv.cmd("write", path="/3/0/0", value="x")
        assert r["ok"] is False and r["code"] == "4.05", r

        # Execute the Registration Update Trigger: an Update reaches the server at once
        m = srv.mark()
        ok(srv.cmd("execute", path="/1/0/8"))
        u = srv.event("update", 10, m)
        # nothing changed, so no links; the lib keeps the lifetime it had when lt is absent
        assert u["lifetime"] == "45" and u["payload"] == "", u
        assert len(srv.events("update", m)) == 1
        r = srv.cmd("execute", path="/3/0/0")
        assert r["ok"] is False and r["code"] == "4.05", r

        # SIGINT: the client deregisters (the lib sees DELETE on its "rd/<id>" location), exit 0
        m = srv.mark()
        c.p.send_signal(signal.SIGINT)
        srv.event("unregistration", 10, m)
        assert c.wait_exit(15) == 0, "\n".join(c.lines)
        assert ok(srv.cmd("devices"))["devices"] == []

    scenario(body)


def test_observe_with_attributes_survives_unacked_notifications():
    def body(srv, c):
        srv.event("registration", 20)
        c.wait_line("lwm2m: registered with coap://127.0.0.1:%d" % srv.port, 15)
        ok(srv.cmd("attrs", path="/3/0/13", attrs={"pmin": 1, "pmax": 2}))
        m = srv.mark()
        # the lib's node-coap 0.22 drops an initial 2.05 carrying Observe 0 (ours does), so its
        # answer is the first notification, up to pmax later
        first = ok(srv.cmd("observe", path="/3/0/13"))
        t0 = int(first["value"])
        # current time ticks every second: with pmin 1 / pmax 2 notifications keep coming, and
        # the lib acknowledges none of them, so the client must not stall waiting for ACKs
        n = [srv.event("notify", 6, m)]
        for _ in range(3):
            n.append(srv.wait(lambda x: x.get("event") == "notify" and x["_rx"] > n[-1]["_rx"], 6,
                              m))
        assert all(x["path"] == "/3/0/13" for x in n), n
        vals = [int(x["value"]) for x in n]
        assert vals == sorted(vals) and vals[-1] >= t0 + 2, vals
        gaps = [b["_rx"] - a["_rx"] for a, b in zip(n, n[1:])]
        assert all(0.5 <= g <= 3.5 for g in gaps), gaps
        # the observation does not disturb other requests
        assert ok(srv.cmd("read", path="/3/0/0"))["value"] == "MicroPython"
        # Discover from the independent server's socket: the form of TS 1.0.2 5.4.2's example
        # ("</3/0>,...,</3/0/6>;dim=..."), carrying the attributes lwm2m-node-lib just wrote
        r = ok(srv.cmd("raw", method="GET", path="/3/0", accept=40))
        assert r["code"] == "2.05" and r["format"] == 40, r
        links = r["text"].split(",")
        assert links[0] == "</3/0>" and "</3/0/13>;pmin=1;pmax=2" in links, r
        assert "</3/0/0>" in links and any(x.startswith("</3/0/6>;dim=") for x in links), r
        assert all(x.startswith("</3/0") for x in links) and " " not in r["text"], r
        # the lib's cancel only forgets the stream locally (nothing goes on the wire); the client
        # keeps notifying and the lib's socket swallows them - the registration is unaffected
        ok(srv.cmd("cancel", path="/3/0/13"))
        m = srv.mark()
        ok(srv.cmd("execute", path="/1/0/8"))
        srv.event("update", 10, m)
        c.p.send_signal(signal.SIGINT)
        srv.event("unregistration", 10, m)
        assert c.wait_exit(15) == 0, "\n".join(c.lines)

    scenario(body)
