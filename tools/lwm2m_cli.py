"""Command line for the local LwM2M server and bootstrap server (tools/lwm2m_server.py), CPython only.

  lwm2m_cli.py serve [--port 5683] [--script FILE [--exit-after-script]] [--ep NAME]
                     [--location-style split|joined] [--bootstrap-port 5693 --provision FILE]
  lwm2m_cli.py bootstrap [--port 5693] --provision FILE [--once]

Commands (script lines, or typed on stdin; '@ep cmd' picks a client, default the first registered):
  list | read PATH [text|tlv|json|opaque|link|N] | write PATH VALUE [text|tlv|opaque]
  execute PATH [ARGS] | create PATH RID=VALUE... | delete PATH | discover PATH
  attrs PATH pmin=N pmax=N gt=X lt=X st=X cancel | observe PATH [COUNT [TIMEOUT]] | cancel PATH
  fw-push FILE [BLOCK] | fw-pull FILE [NAME] | wait KIND [TIMEOUT] | sleep S | echo TEXT | quit
"""
import argparse
import asyncio
import os
import shlex
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lwm2m_server as L  # noqa: E402

FORMATS = {"text": L.CF_TEXT, "tlv": L.CF_TLV, "json": L.CF_JSON, "opaque": L.CF_OPAQUE, "link": L.CF_LINK}


def typed(s):
    """A command-line value as int, float, bool, bytes (hex:..) or str, for TLV writes."""
    if s in ("true", "false"):
        return s == "true"
    if s.startswith("hex:"):
        return bytes.fromhex(s[4:])
    for conv in (int, float):
        try:
            return conv(s)
        except ValueError:
            pass
    return s


class Shell:
    def __init__(self, srv, out=print):
        self.srv = srv
        self.out = out
        self.default_ep = None
        self.observations = {}
        self.errors = 0

    def say(self, ep, text):
        self.out("[%6.2fs] %s %s" % (self.srv.clock() - self.srv.t0, ep, text))

    def on_event(self, e):
        if e.kind in ("observe", "observe-cancel", "fw-push"):
            return  # the command's own result line says it
        if e.kind == "fw-get":
            step = max(1, (e.info["total"] // (1 << 9)) // 4)
            if e.info["num"] and e.info["more"] and e.info["num"] % step:
                return
        if e.kind == "register" and self.default_ep is None:
            self.default_ep = e.ep
        self.out(e.line())
        sys.stdout.flush()

    async def run_line(self, line):
        """Run one command; returns False on 'quit'."""
        line = line.strip()
        if not line or line.startswith("#"):
            return True
        try:
            argv = shlex.split(line)
        except ValueError as e:
            self.out("error: %s" % e)
            self.errors += 1
            return True
        ep = self.default_ep
        if argv[0].startswith("@"):
            ep, argv = argv[0][1:], argv[1:]
        cmd, args = argv[0], argv[1:]
        if cmd == "quit":
            return False
        try:
            await self.dispatch(ep, cmd, args)
        except (asyncio.TimeoutError, TimeoutError):
            self.errors += 1
            self.say(ep, "%s: timed out" % line)
        except Exception as e:  # a bad command must not stop the server
            self.errors += 1
            self.say(ep, "%s: error %s: %s" % (line, type(e).__name__, e))
        sys.stdout.flush()
        return True

    async def dispatch(self, ep, cmd, a):
        s = self.srv
        if cmd == "list":
            if not s.clients:
                self.out("(no clients)")
            for r in s.clients.values():
                self.out("%s %s lt=%d %s %s objects %s updates=%d observations=%d" % (
                    r.ep, r.binding, r.lifetime, r.location.lstrip("/"), r.address,
                    L.format_links(r.objects), r.update_count, len(r.observations)))
            return
        if cmd == "sleep":
            await asyncio.sleep(float(a[0]))
            return
        if cmd == "echo":
            self.say("--", " ".join(a))
            return
        if cmd == "wait":
            e = await s.wait_event(a[0], ep, float(a[1]) if len(a) > 1 else 60.0)
            self.say(e.ep, "waited for %s" % a[0])
            return
        if ep is None:
            raise KeyError("no client registered")
        path = a[0] if a else "/"
        if cmd == "read":
            accept = None
            if len(a) > 1:
                accept = FORMATS[a[1]] if a[1] in FORMATS else int(a[1])
            r = await s.read(ep, path, accept=accept)
        elif cmd == "discover":
            r = await s.discover(ep, path)
        elif cmd == "write":
            fmt = a[2] if len(a) > 2 else "text"
            if fmt == "tlv":
                r = await s.write_value(ep, path, typed(a[1]))
            elif fmt == "opaque":
                r = await s.write(ep, path, bytes.fromhex(a[1]), L.CF_OPAQUE)
            else:
                r = await s.write(ep, path, a[1], L.CF_TEXT)
        elif cmd == "execute":
            r = await s.execute(ep, path, " ".join(a[1:]))
        elif cmd == "create":
            res = {}
            for kv in a[1:]:
                k, _, v = kv.partition("=")
                res[int(k)] = typed(v)
            r = await s.create(ep, path, L.encode_tlv(res), L.CF_TLV)
            if r.location:
                self.say(ep, "created %s" % r.location)
        elif cmd == "delete":
            r = await s.delete(ep, path)
        elif cmd == "attrs":
            attrs = {}
            for kv in a[1:]:
                k, eq, v = kv.partition("=")
                attrs[k] = v if eq else True
            r = await s.write_attributes(ep, path, **attrs)
        elif cmd == "observe":
            count = int(a[1]) if len(a) > 1 else 0
            timeout = float(a[2]) if len(a) > 2 else 120.0
            obs = await s.observe(ep, path)
            r = obs.first
            self.say(ep, "observe %s -> %s" % (path, r.describe(path)))
            if not obs.active:
                return
            self.observations[(ep, path)] = obs
            if count:
                for _ in range(count):
                    await obs.next(timeout)
                del self.observations[(ep, path)]
                r = await obs.cancel()
                self.say(ep, "cancel %s -> %s" % (path, r.code))
            return
        elif cmd == "cancel":
            obs = self.observations.pop((ep, path))
            r = await obs.cancel()
        elif cmd == "fw-push":
            with open(a[0], "rb") as f:
                data = f.read()
            block = int(a[1]) if len(a) > 1 else 512
            marks = {len(data) * q // 4 for q in (1, 2, 3)}
            shown = set()

            def progress(sent, total):
                for m in sorted(marks - shown):
                    if sent >= m:
                        shown.add(m)
                        self.say(ep, "fw push %d/%d bytes (%d%%)" % (sent, total, 100 * sent // total))
                        break

            self.say(ep, "fw push %s: %d bytes in %d-byte blocks" % (a[0], len(data), block))
            r = await s.push_firmware(ep, data, block_size=block, progress=progress)
            path = "/5/0/0 (%d bytes)" % len(data)
            cmd = "fw-push"
        elif cmd == "fw-pull":
            with open(a[0], "rb") as f:
                data = f.read()
            uri = s.serve_file(a[1] if len(a) > 1 else os.path.basename(a[0]), data)
            r = await s.write(ep, "/5/0/1", uri, L.CF_TEXT)
            path = "/5/0/1 %s" % uri
        else:
            raise ValueError("unknown command %r" % cmd)
        self.say(ep, "%s %s -> %s" % (cmd, path, r.describe(a[0] if a else None)))


async def _stdin_lines():
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            return
        yield line


async def serve(args):
    srv = L.LwM2MServer(args.host, args.port, location_style=args.location_style)
    shell = Shell(srv)
    srv.on_event = shell.on_event
    await srv.start()
    print("[%6.2fs] server listening on coap://%s:%d" % (0.0, args.host, srv.port), flush=True)
    bs = None
    if args.bootstrap_port is not None:
        bs = L.BootstrapServer(args.host, args.bootstrap_port, L.load_provision(args.provision))
        bs.on_event = shell.on_event
        await bs.start()
        bs.t0 = srv.t0
        print("[%6.2fs] bootstrap server listening on coap://%s:%d" % (0.0, args.host, bs.port), flush=True)
    rc = 0
    try:
        if args.script:
            with open(args.script) as f:
                lines = f.readlines()
            reg = await srv.wait_registered(args.ep, args.timeout) if args.ep else \
                (await srv.wait_event("register", None, args.timeout))
            shell.default_ep = args.ep or reg.ep
            for line in lines:
                if not await shell.run_line(line):
                    break
            rc = 1 if shell.errors else 0
            if args.exit_after_script:
                return rc
        elif sys.stdin is not None and not sys.stdin.closed:
            async for line in _stdin_lines():
                if not await shell.run_line(line):
                    return 0
        await asyncio.Event().wait()  # serve until interrupted
    except (asyncio.TimeoutError, TimeoutError):
        print("no client registered within %ss" % args.timeout, flush=True)
        return 2
    finally:
        if bs is not None:
            await bs.stop()
        await srv.stop()
    return rc


async def bootstrap(args):
    bs = L.BootstrapServer(args.host, args.port, L.load_provision(args.provision))
    bs.on_event = lambda e: print(e.line(), flush=True)
    await bs.start()
    print("[%6.2fs] bootstrap server listening on coap://%s:%d" % (0.0, args.host, bs.port), flush=True)
    try:
        while True:
            e = await bs.wait_event("bootstrap-finished", None, 10 ** 9)
            if args.once:
                return 0 if e.info["ok"] else 1
    finally:
        await bs.stop()


def main(argv=None):
    p = argparse.ArgumentParser(description="Local LwM2M 1.0 server (test peer)")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve", help="LwM2M server printing registrations and notifications")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=5683)
    s.add_argument("--location-style", choices=("split", "joined"), default="split")
    s.add_argument("--script", help="commands to run against the first client that registers")
    s.add_argument("--exit-after-script", action="store_true")
    s.add_argument("--ep", help="client the script waits for (default: the first to register)")
    s.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the script's client")
    s.add_argument("--bootstrap-port", type=int, help="also run a bootstrap server on this port")
    s.add_argument("--provision", help="JSON provisioning file for the bootstrap server")
    b = sub.add_parser("bootstrap", help="bootstrap server provisioning clients from a JSON file")
    b.add_argument("--host", default="127.0.0.1")
    b.add_argument("--port", type=int, default=5693)
    b.add_argument("--provision", required=True)
    b.add_argument("--once", action="store_true", help="exit after the first finished bootstrap")
    args = p.parse_args(argv)
    if args.cmd == "serve" and args.bootstrap_port is not None and not args.provision:
        p.error("--bootstrap-port needs --provision")
    try:
        return asyncio.run(serve(args) if args.cmd == "serve" else bootstrap(args))
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
