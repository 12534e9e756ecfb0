"""ESP32 platform: battery on a configurable ADC pin, optional VBUS sense pin, OTA partitions."""
from .mcu import McuPlatform


class _UvADC:
    """read_u16() scaled from the factory-calibrated read_uv(), 65535 == 3300 mV."""

    def __init__(self, adc):
        self._adc = adc

    def read_u16(self):
        return min(65535, self._adc.read_uv() * 65535 // 3300000)


class Platform(McuPlatform):
    """battery_pin: GPIO of the divided battery voltage (None: no battery); vbus_pin: GPIO high
    while external power is present (None: always external unless there is a battery)."""

    def __init__(self, root="/data", factory_reset=None, battery_pin=None, divider=2.0,
                 vbus_pin=None, ext_code=5):
        super().__init__(root, factory_reset)
        from machine import ADC, Pin

        from .battery import Battery
        from .power import PowerSource

        vbus = Pin(vbus_pin, Pin.IN) if vbus_pin is not None else None
        if battery_pin is not None:
            adc = ADC(Pin(battery_pin))
            adc.atten(ADC.ATTN_11DB)  # full 0-3.3 V input range instead of 0-1.1 V
            src = _UvADC(adc) if hasattr(adc, "read_uv") else adc
            self.battery = Battery(src, divider=divider, vref_mv=3300)
        self.power = PowerSource(vbus, self.battery, ext_code=ext_code)

    def fwstore(self):
        """The next OTA slot's store, or None on firmware without OTA slots."""
        from esp32 import Partition

        from .partstore import PartitionStore

        try:
            nxt = Partition(Partition.RUNNING).get_next_update()
        except OSError:
            return None  # stock ESP32_GENERIC: a factory app partition only (OSError ENOENT)
        return PartitionStore(nxt, self.root + "/fw/boot_label",
                              lambda: Partition(Partition.RUNNING).info()[4])
