"""Port personalities: fakes of machine, esp32, rp2, network and tls that behave like stock ports.

Every rule names the fact in ../shared/BOARDS.md it models (read there in MicroPython v1.24.0 and
v1.28.0 source). Board(name, fs) installs the fakes in sys.modules (lib/board then picks the
port's backend), keeps what outlives the Python heap (flash partitions, a running watchdog, the
boot slot) and runs boot.py and main.py the way the port's REPL loop does: power_on() runs both,
SystemExit from main.py soft-resets and runs them again, a normal return is the REPL,
machine.reset() or a watchdog bite is a hard reset (with the ESP32 bootloader's rollback).
Pure Python: runs under CPython and the MicroPython unix port.
"""
import os
import sys

# name: (port, firmware version, OTA slots, tls DTLS level, UDP datagrams kept per socket)
# DTLS: None = no DTLS (v1.24), "cert" = DTLS without PSK (v1.25-v1.28), "psk" = DTLS-PSK (after
# v1.28.0, upstream aa25a4ec) - BOARDS.md "TLS / DTLS". UDP: rp2 < 1.26 keeps one datagram
# (BOARDS.md "Network"; recorded here, not simulated yet: the tests use the host's sockets).
PERSONALITIES = {
    # stock ESP32_GENERIC: a factory app partition, no OTA slots (BOARDS.md "Flash partitions")
    "esp32-generic": ("esp32", (1, 28, 0), False, "cert", 4),
    # the OTA variant: ota_0/ota_1, bootloader rollback on in every build (sdkconfig.base)
    "esp32-ota": ("esp32", (1, 28, 0), True, "cert", 4),
    "pico-w-1.24": ("rp2", (1, 24, 0), False, None, 1),
    "pico-w-1.28": ("rp2", (1, 28, 0), False, "cert", 4),
    "pico-w-current": ("rp2", (1, 29, 0), False, "psk", 4),
}
ENOENT = 2  # the same on newlib (ESP32) and Linux
RP2_WDT_MAX = 8388  # ports/rp2/machine_wdt.c
_LIB = ("board", "coap", "lwm2m", "app")


class HardReset(BaseException):
    """machine.reset() or a watchdog bite: the board starts again from power-on. A BaseException
    so no `except Exception` in the application swallows it, as nothing survives a real one."""


class _Mod:
    """A module stand-in: attributes set by the personality."""

    def __init__(self, name, **kw):
        self.__name__ = name
        for k, v in kw.items():
            setattr(self, k, v)


class Board:
    """One simulated board of a personality, with fs as its filesystem (the working directory)."""

    max_boots = 6  # power_on() gives up on a reset loop after this many boots

    def __init__(self, name, fs):
        self.name = name
        self.port, self.version, self.ota, self.dtls, self.udp_slots = PERSONALITIES[name]
        self.fs = fs
        self.wdt = None  # armed timeout (ms): survives soft reset and the REPL, nothing stops it
        self.feeds = 0
        self.events = []  # "boot", "soft", "hard", "wdt", "repl", "loop"
        self.out = []  # lines printed by boot.py / main.py (captured by the test's print hook)
        self.app = None  # a fake app module's setup(client, runner), installed into main.py's run
        self.irq = True  # machine.disable_irq() state: True = interrupts on
        self.pins = {}
        self.vbus = 0  # WL_GPIO2 (Pico W VBUS sense): 1 on USB power
        self.vsys = 26000  # ADC3 counts (VSYS/3) with the radio quiet
        self._fresh = 0  # ADC3 reads since GP29 became an input
        # ESP32 flash: label -> {block: bytes}; the bootloader's view of the app slots
        self.parts = {}
        self.running = "factory"
        self.next_boot = None  # set_boot() target, taken at the next hard reset
        self.unverified = False  # running a new image not yet marked valid
        self.previous = None
        self.bad = ()  # labels of images that crash before Python runs (a failing image)
        if self.ota:
            self.running = "ota_0"
        self._saved = {}
        self._mods = {}
        self._cwd = None

    # ---------------------------------------------------------------- fakes in sys.modules
    def install(self):
        from .fakes import _errno_newlib, _esp32, _machine, _network, _tls

        mods = {"machine": _machine(self), "network": _network(self)}
        if self.port == "esp32":
            mods["esp32"] = _esp32(self)
        else:
            mods["rp2"] = _Mod("rp2", country=lambda c=None: "XX")
        mods["tls"] = _tls(self)
        if self.port == "esp32":
            mods["errno"] = _errno_newlib()
        for k, m in mods.items():
            self._saved[k] = sys.modules.get(k)
            sys.modules[k] = m
        # the test process's own lib/ modules come back at uninstall(): other tests hold them
        self._mods = dict([(k, m) for k, m in sys.modules.items() if k.split(".")[0] in _LIB])
        _forget_lib()  # the board's own heap: lib/ imported afresh against the fakes
        self._cwd = os.getcwd()
        self._path = list(sys.path)
        # relative entries (mp_run's "lib") must keep pointing at the repository after chdir
        sys.path[:] = [p if p in ("", ".frozen") or p.startswith("/") else self._cwd + "/" + p
                       for p in sys.path]
        os.chdir(self.fs)

    def uninstall(self):
        for k, m in self._saved.items():
            if m is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = m
        self._saved = {}
        _forget_lib()
        sys.modules.update(self._mods)
        if self._cwd is not None:
            os.chdir(self._cwd)
            sys.path[:] = self._path
            self._cwd = None

    def __enter__(self):
        self.install()
        return self

    def __exit__(self, *a):
        self.uninstall()

    # ---------------------------------------------------------------- the port's start-up loop
    def _run(self, name):
        try:
            with open(name) as f:
                src = f.read()
        except OSError:
            return
        # print is caught in builtins, as a board's REPL shows what main.py and the lib/ modules
        # it runs (lwm2m/start.py) print alike
        import builtins

        was = builtins.print
        builtins.print = self._print
        try:
            exec(compile(src, name, "exec"), {"__name__": "__main__", "__file__": name})
        finally:
            builtins.print = was

    def _print(self, *a, **kw):
        self.out.append(" ".join([str(x) for x in a]))

    def said(self, text):
        """Lines printed while boot.py / main.py ran (lib/ included) that contain text."""
        return [x for x in self.out if text in x]

    def _fresh_heap(self):
        # a reset empties the heap: lib/ is imported afresh, the app's fake goes back in
        _forget_lib()
        if self.app is not None:
            sys.modules["app"] = _Mod("app", setup=self.app)

    def _hard(self, why):
        """Power-on: the watchdog stops; the ESP32 bootloader picks the app slot."""
        self.events.append(why)
        self.wdt = None
        if self.port != "esp32":
            return
        if self.next_boot is not None:
            self.previous, self.running = self.running, self.next_boot
            self.next_boot = None
            self.unverified = True  # rollback enabled in all builds (sdkconfig.base)
        elif self.unverified:
            # reset before mark_app_valid_cancel_rollback(): the bootloader boots the old slot
            self.running, self.previous = self.previous, None
            self.unverified = False

    def power_on(self):
        """Hard reset, then boot.py and main.py as the port does, until main.py returns (the
        REPL) or the boot count runs out (a reset loop). Returns self.events."""
        self._hard("power")
        return self._loop()

    def _loop(self):
        for _ in range(self.max_boots):
            self._fresh_heap()
            self.events.append("boot")
            try:
                if self.running in self.bad:
                    raise HardReset("crash")  # the image dies before the interpreter starts
                self._run("boot.py")
                self._run("main.py")
            except SystemExit:
                # shared/runtime/pyexec.c: SystemExit from main.py is a forced exit -> soft reset
                self.events.append("soft")
                continue
            except HardReset as e:
                self._hard("hard" if str(e) != "wdt" else "wdt")
                continue
            self.events.append("repl")
            return self.events
        self.events.append("loop")
        return self.events

    def raw_soft_reset(self):
        """mpremote's Ctrl-D in the raw REPL: a soft reset that runs boot.py but not main.py
        (ports/*/main.c run main.py only in the friendly REPL)."""
        self.events.append("soft")
        self._fresh_heap()
        try:
            self._run("boot.py")
        except HardReset:
            self._hard("hard")
            return self._loop()

    def repl(self, ms, code=None):
        """Spend ms at the REPL (or in the raw REPL running code). An armed watchdog that is not
        fed bites after its timeout (BOARDS.md: nothing stops it). Returns False if it bit."""
        if self.wdt is not None and ms >= self.wdt:
            self._hard("wdt")
            self._loop()
            return False
        if code is not None:
            try:
                exec(code, {})
            except HardReset:
                self._hard("hard")
                self._loop()
        return True


def _forget_lib():
    for k in list(sys.modules):
        if k.split(".")[0] in _LIB:
            del sys.modules[k]
    # CPython caches a finder per sys.path entry: a relative "lib" would still mean the last
    # board's directory (MicroPython looks again every time)
    cache = getattr(sys, "path_importer_cache", None)
    if cache is not None:
        cache.clear()


# -------------------------------------------------------------------------------- test helpers
def board_fs(tag, config, top=None):
    """A fresh board filesystem: the repository's boot.py and main.py, and config (a dict, or
    text for a broken one) as config.json. Returns its absolute path."""
    import binascii
    import json

    top = top or _top()
    d = "/tmp/lwm2m_ports_%s_%d" % (tag, binascii.crc32(os.urandom(8)) & 0xFFFFFF)
    os.mkdir(d)
    for n in ("boot.py", "main.py"):
        with open(top + "/" + n) as f:
            src = f.read()
        with open(d + "/" + n, "w") as f:
            f.write(src)
    with open(d + "/config.json", "w") as f:
        f.write(config if isinstance(config, str) else json.dumps(config))
    return d


def deploy_snippets():
    """(SAFE_MODE_ENTER, SAFE_MODE_LEAVE): the code tools/deploy.py runs on a board, read from
    its source (deploy.py itself needs CPython)."""
    g = {}
    with open(_top() + "/tools/deploy.py") as f:
        for line in f:
            if line.startswith("SAFE_MODE_"):
                exec(line, g)
    return g["SAFE_MODE_ENTER"], g["SAFE_MODE_LEAVE"]


def _top():
    here = __file__.rpartition("/")[0] if "/" in __file__ else "."
    if not here.startswith("/"):
        here = os.getcwd() + "/" + here
    return here.rpartition("/")[0].rpartition("/")[0]


class StubServer:
    """Just enough of an LwM2M server, serviced from a runner hook of main.py's client: answers
    Register (2.01, /rd/1) and Deregister (2.02). ctrl_c: raise KeyboardInterrupt (the user's
    Ctrl-C, or mpremote's) once registered."""

    def __init__(self, ctrl_c=True):
        import socket

        self.sock, self.port = _bound(socket)
        self.sock.setblocking(False)
        self.registers = 0
        self.deregisters = 0
        self.ctrl_c = ctrl_c
        self._sent_c = False
        self.client = None

    def uri(self):
        return "coap://127.0.0.1:%d" % self.port

    def setup(self, client, runner):
        self.client = client
        self._sent_c = False  # a new boot: the user presses Ctrl-C again once it registered
        self.log = []  # the client's log lines of this boot
        client.log.out = self.log.append
        runner.add_hook(self.hook)

    def hook(self, now):
        from coap import msg as m

        ack = 2  # message type ACK (coap.msg names only CON: each public name costs heap)
        while True:
            try:
                data, peer = self.sock.recvfrom(1500)
            except OSError:
                break
            req = m.decode(data)
            if req.type != m.CON:
                continue
            if req.code == m.POST and req.path() == ["rd"]:
                self.registers += 1
                r = m.Message(ack, m.CREATED, req.mid, req.token)
                r.add(m.LOCATION_PATH, b"rd").add(m.LOCATION_PATH, b"1")
            elif req.code == m.DELETE:
                self.deregisters += 1
                r = m.Message(ack, m.DELETED, req.mid, req.token)
            else:
                r = m.Message(ack, m.CHANGED, req.mid, req.token)
            self.sock.sendto(r.encode(), peer)
        regs = self.client.regs.values() if self.client is not None else ()
        if self.ctrl_c and not self._sent_c and [r for r in regs if r.registered]:
            self._sent_c = True
            raise KeyboardInterrupt
        return 20

    def close(self):
        self.sock.close()


def _bound(socket):
    """A UDP socket on a free loopback port, and the port (MicroPython has no getsockname)."""
    import binascii

    base = 40000 + (binascii.crc32(os.urandom(4)) & 0x3FFF)
    for port in range(base, base + 50):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.bind(socket.getaddrinfo("127.0.0.1", port)[0][-1])
            return s, port
        except OSError:
            s.close()
    raise OSError("no free UDP port")
