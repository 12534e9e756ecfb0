"""Platform parts shared by the ESP32 and Pico W backends: device values, reset, WDT, Wi-Fi."""
import gc
import sys


class McuPlatform:
    manufacturer = "MicroPython"

    def __init__(self, root="/data", factory_reset=None):
        import binascii
        import machine

        self.model = getattr(sys.implementation, "_machine", sys.platform)
        self.serial = binascii.hexlify(machine.unique_id()).decode().upper()
        v = sys.implementation.version
        self.firmware_version = "%s %d.%d.%d" % (sys.implementation.name, v[0], v[1], v[2])
        self.root = root
        self._factory_reset = factory_reset
        self._wlan = None
        self.battery = None
        self.power = None

    def mem_free(self):
        return gc.mem_free()

    def mem_total(self):
        return gc.mem_free() + gc.mem_alloc()

    def wdt(self, timeout_ms):
        """Arm the hardware watchdog (cannot be stopped once armed); caller feeds it."""
        from machine import WDT

        return WDT(timeout=timeout_ms)

    def wifi_connect(self, ssid, password, timeout_ms=15000, retries=3, log=print):
        from .wlan import wifi_connect

        self._wlan = wifi_connect(ssid, password, timeout_ms, retries, log)
        return self._wlan is not None

    def rssi(self):
        """dBm for /4/0/2, or None when not connected."""
        from .wlan import rssi

        return rssi(self._wlan) if self._wlan is not None else None

    def ifconfig(self):
        """(ip, netmask, gateway, dns) for /4/0/4 and /4/0/5."""
        if self._wlan is None:
            return ("0.0.0.0", "0.0.0.0", "0.0.0.0", "0.0.0.0")
        return self._wlan.ifconfig()

    def reboot(self):
        import machine

        machine.reset()

    def factory_reset(self):
        if self._factory_reset is not None:
            self._factory_reset()
        self.reboot()
