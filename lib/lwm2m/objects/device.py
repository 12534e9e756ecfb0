"""LwM2M Device object (3): values from the board Platform; Reboot/Factory Reset are deferred."""
import time

DEF = (3, None, False, True, (  # Device
    (0, None, "R", False, False, "s"),  # Manufacturer
    (1, None, "R", False, False, "s"),  # Model Number
    (2, None, "R", False, False, "s"),  # Serial Number
    (3, None, "R", False, False, "s"),  # Firmware Version
    (4, None, "E", False, True, "e"),  # Reboot
    (5, None, "E", False, False, "e"),  # Factory Reset
    (6, None, "R", True, False, "i"),  # Available Power Sources
    (7, None, "R", True, False, "i"),  # Power Source Voltage
    (8, None, "R", True, False, "i"),  # Power Source Current
    (9, None, "R", False, False, "i"),  # Battery Level
    (10, None, "R", False, False, "i"),  # Memory Free
    (11, None, "R", True, True, "i"),  # Error Code
    (12, None, "E", False, False, "e"),  # Reset Error Code
    (13, None, "RW", False, False, "t"),  # Current Time
    (14, None, "RW", False, False, "s"),  # UTC Offset
    (15, None, "RW", False, False, "s"),  # Timezone
    (16, None, "R", False, True, "s"),  # Supported Binding and Modes
    (17, None, "R", False, False, "s"),  # Device Type
    (18, None, "R", False, False, "s"),  # Hardware Version
    (19, None, "R", False, False, "s"),  # Software Version
    (20, None, "R", False, False, "i"),  # Battery Status
    (21, None, "R", False, False, "i"),  # Memory Total
))

# platform attribute -> resource, for the plain string values
_STRS = ((0, "manufacturer"), (1, "model"), (2, "serial"), (3, "firmware_version"),
         (17, "device_type"), (18, "hardware_version"), (19, "software_version"))


class Device:
    """Object 3 instance 0. A server's Reboot/Factory Reset sets .pending ("reboot" or
    "factory_reset"): the runner acts after the 2.04 is out (and may deregister first)."""

    def __init__(self, registry, platform=None, binding="U", on_execute=None):
        self.reg = registry
        self.p = platform
        self.pending = None
        self.on_execute = on_execute  # fn(name) right after .pending is set
        self.time_offset = 0  # s added to the clock after a server wrote Current Time
        o = self.obj = registry.add(DEF)
        o.deletable = False
        v = {11: {0: 0}, 14: "+00:00", 15: "UTC", 16: binding}
        for rid, name in _STRS:
            x = getattr(platform, name, None)
            if isinstance(x, str):
                v[rid] = x
        o.add(0, v)
        o.bind(0, 4, exe=self._reboot)
        o.bind(0, 5, exe=self._reset)
        o.bind(0, 12, exe=self._reset_errors)
        o.bind(0, 13, get=self.now, set=self.set_time)
        # gc.mem_free() walks the whole heap (~230 us a call on a board-sized heap): sampled at
        # most once a second, and the total (fixed for a run) once, so a Read never pays for it
        self.ticks = time.ticks_ms  # tests replace the clock
        self._free_at = None
        self._free = 0
        self._total = None
        if platform is not None:
            if hasattr(platform, "mem_free"):
                o.bind(0, 10, get=self.mem_free)
            if hasattr(platform, "mem_total"):
                o.bind(0, 21, get=self.mem_total)
            bat = getattr(platform, "battery", None)
            if bat is not None:
                o.bind(0, 9, get=bat.level)
                o.bind(0, 20, get=bat.status)
            pw = getattr(platform, "power", None)
            if pw is not None:
                o.bind(0, 6, get=lambda: dict(enumerate(pw.available())))
                o.bind(0, 7, get=lambda: dict(enumerate(pw.voltages())))
                o.bind(0, 8, get=lambda: dict(enumerate(pw.currents())))

    def mem_free(self):
        """/3/0/10 in KB, sampled at most once a second."""
        t = self.ticks()
        if self._free_at is None or time.ticks_diff(t, self._free_at) >= 1000:
            self._free_at = t
            self._free = self.p.mem_free() // 1024
        return self._free

    def mem_total(self):
        """/3/0/21 in KB, measured once."""
        if self._total is None:
            self._total = self.p.mem_total() // 1024
        return self._total

    def now(self):
        # some ports count from 2000-01-01; LwM2M time is Unix time
        epoch = 946684800 if time.gmtime(0)[0] == 2000 else 0
        return int(time.time()) + epoch + self.time_offset

    def set_time(self, t):
        setter = getattr(self.p, "set_time", None)
        if setter is not None:
            setter(t)
            self.time_offset = 0
        else:
            self.time_offset += t - self.now()

    def _reboot(self, args):
        self._request("reboot")

    def _reset(self, args):
        self._request("factory_reset")

    def _request(self, name):
        self.pending = name
        if self.on_execute is not None:
            self.on_execute(name)

    def _reset_errors(self, args):
        self.obj.insts[0].vals[11] = {0: 0}
        self.reg.changed(3, 0, 11)

    def error(self, code):
        """Application/driver reports an error code (1..8 per the spec, or vendor codes)."""
        errs = self.obj.insts[0].vals[11]
        if errs == {0: 0}:
            errs = {}
        if code not in errs.values():
            errs[len(errs)] = code
        self.obj.insts[0].vals[11] = errs
        self.reg.changed(3, 0, 11)


def make(registry, platform=None, **kw):
    return Device(registry, platform, **kw)
