"""Pico W platform: VSYS battery gauge on ADC 3, VBUS sense on WL_GPIO2, staged bundle updates."""
from .mcu import McuPlatform

WDT_MAX_MS = 8388


class _VsysADC:
    """ADC 3 (GP29) on the Pico W: GP29 doubles as the CYW43 SPI clock and GP25 as its chip
    select, so a read must hold GP25 high and GP29 as an input, then hand GP29 back to the radio
    (alt function 7)."""

    def __init__(self):
        from machine import ADC

        self._adc_cls = ADC

    def read_u16(self):
        from machine import Pin

        cs = Pin(25, Pin.OUT, value=1)
        Pin(29, Pin.IN, pull=None)
        try:
            return self._adc_cls(3).read_u16()
        finally:
            Pin(29, Pin.ALT, pull=Pin.PULL_DOWN, alt=7)
            cs.value(0)


class Platform(McuPlatform):
    def __init__(self, root="/data", factory_reset=None, battery=True, divider=3.0,
                 app_dir="/lib"):
        super().__init__(root, factory_reset)
        from machine import Pin

        from .battery import Battery
        from .power import PowerSource

        self.app_dir = app_dir
        if battery:
            self.battery = Battery(_VsysADC(), divider=divider, vref_mv=3300)
        self.power = PowerSource(Pin("WL_GPIO2", Pin.IN), self.battery, ext_code=5)

    def wdt(self, timeout_ms):
        # ports/rp2/machine_wdt.c: ValueError("timeout exceeds 8388") above 8388 ms (BOARDS.md)
        return super().wdt(min(timeout_ms, WDT_MAX_MS))

    def fwstore(self):
        from .fwstore import BundleStore

        return BundleStore(self.root + "/fw")
