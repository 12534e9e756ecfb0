"""Pico W platform: VSYS battery gauge on ADC 3, VBUS sense on WL_GPIO2, staged bundle updates."""
from .mcu import McuPlatform

WDT_MAX_MS = 8388


class _VsysADC:
    """ADC 3 (GP29, VSYS/3) on the Pico W. GP29 doubles as the CYW43 SPI clock and GP25 as its
    chip select; the driver runs from an interrupt and takes GP29 back on every transfer, leaving
    GP25 high (BOARDS.md). So: interrupts off around the read (pico-sdk holds the driver lock),
    GP25 high and left high, GP29 an input, the first reads discarded (pico-examples
    adc/read_vsys: "low values from cyw43") and the rest averaged, then GP29 back to alt 7."""

    discard = 3
    average = 4

    def read_u16(self):
        from machine import ADC, Pin, disable_irq, enable_irq

        irq = disable_irq()
        try:
            Pin(25, Pin.OUT, value=1)
            Pin(29, Pin.IN, pull=None)
            adc = ADC(3)
            for _ in range(self.discard):
                adc.read_u16()
            total = 0
            for _ in range(self.average):
                total += adc.read_u16()
            return total // self.average
        finally:
            Pin(29, Pin.ALT, pull=Pin.PULL_DOWN, alt=7)
            enable_irq(irq)


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
        # on USB (WL_GPIO2 high) VSYS is VBUS minus a diode drop: no battery reading then
        self.power = PowerSource(Pin("WL_GPIO2", Pin.IN), self.battery, ext_code=5,
                                 battery_on_ext=False)
        if self.battery is not None:
            self.battery.masked = self.power.external

    def wdt(self, timeout_ms):
        # ports/rp2/machine_wdt.c: ValueError("timeout exceeds 8388") above 8388 ms (BOARDS.md)
        return super().wdt(min(timeout_ms, WDT_MAX_MS))

    def fwstore(self):
        from .bundle import BundleStore

        return BundleStore(self.root + "/fw")
