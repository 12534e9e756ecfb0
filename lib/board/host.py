"""Host backend: the Platform for CPython and the unix port (simulated parts: board.hostsim)."""
import gc
import sys

REBOOT_EXIT = 3  # reboot() exits the process with this code; a supervisor restarts it
SIM_BATTERY_ENV = "LWM2M_SIM_BATTERY"  # "<start mV>[,<mV lost per minute>]" gives the host a battery


def _mem(name):
    fn = getattr(gc, name, None)
    return fn() if fn else 0


class Platform:
    """Device values and hooks for the host; the same attributes the board Platforms have."""

    manufacturer = "MicroPython"

    def __init__(self, root="/tmp/lwm2m", serial="HOST-0001", battery=None, power=None,
                 factory_reset=None, ip="127.0.0.1"):
        self.model = sys.platform
        self.serial = serial
        v = sys.implementation.version
        self.firmware_version = "%s %d.%d.%d" % (sys.implementation.name, v[0], v[1], v[2])
        self.root = root
        if battery is None:
            import os

            spec = os.getenv(SIM_BATTERY_ENV)
            if spec:
                from .hostsim import sim_battery

                battery = sim_battery(spec)
        self.battery = battery
        if power is None and battery is not None:
            from .power import PowerSource

            power = PowerSource(battery=battery, ext_code=0)
        # no battery: this object is the power source (DC only, below), so board.power stays out
        self.power = self if power is None else power
        self._factory_reset = factory_reset
        self._ip = ip

    # /3/0/6-8 without a battery: what board.power.PowerSource(ext_code=DC) says then
    def available(self):
        return [0]

    def voltages(self):
        return [5000]

    def currents(self):
        return [0]

    def mem_free(self):
        """Free heap in bytes (0 where the interpreter cannot tell, e.g. CPython)."""
        return _mem("mem_free")

    def mem_total(self):
        return _mem("mem_free") + _mem("mem_alloc")

    def fwstore(self):
        from .bundle import BundleStore

        return BundleStore(self.root + "/fw")

    def wdt(self, timeout_ms):
        return None  # no watchdog on the host

    def wifi_connect(self, ssid=None, password=None, timeout_ms=0):
        return True  # the host is already on a network

    def rssi(self):
        return None

    def ifconfig(self):
        return (self._ip, "255.0.0.0", self._ip, self._ip)

    def reboot(self):
        raise SystemExit(REBOOT_EXIT)

    def factory_reset(self):
        """Run the hook (e.g. Store.wipe), then reboot."""
        if self._factory_reset is not None:
            self._factory_reset()
        self.reboot()
