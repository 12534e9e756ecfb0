"""Power sources for /3/0/6: external power sensed on a pin, plus an optional battery."""
from micropython import const

# /3/0/6 Available Power Sources codes (LwM2M 1.0 Device object)
DC = const(0)
INTERNAL_BATTERY = const(1)
EXTERNAL_BATTERY = const(2)
POE = const(4)
USB = const(5)
AC = const(6)
SOLAR = const(7)


class PowerSource:
    """External power (vbus_pin high = present) and/or a Battery.

    available() lists the sources present now, active first; with neither a pin nor a battery the
    board is assumed to run from `ext_code` permanently. A pin change must be read `debounce`
    polls in a row before it counts, so a bouncing plug reports once.
    """

    def __init__(self, vbus_pin=None, battery=None, ext_code=USB, ext_mv=5000, invert=False,
                 debounce=2, battery_on_ext=True):
        self._pin = vbus_pin
        self.battery = battery
        self.ext_code = ext_code
        self.ext_mv = ext_mv
        self._invert = invert
        self._debounce = max(1, debounce)
        # False: the battery is measured where external power also arrives (Pico W VSYS), so
        # while external power is present there is no battery to report
        self._bat_ext = battery_on_ext
        self._ext = None
        self._cand = None
        self._count = 0

    def _read(self):
        return bool(self._pin.value()) != self._invert

    def external(self):
        """True while external power is present (the debounced state once poll() has run)."""
        if self._pin is None:
            return self.battery is None
        if self._ext is None:
            self._ext = self._read()
        return self._ext

    def available(self):
        """/3/0/6 values: sources present now, the active one first."""
        out = []
        ext = self.external()
        if ext:
            out.append(self.ext_code)
        if self.battery is not None and (self._bat_ext or not ext):
            out.append(INTERNAL_BATTERY)
        return out

    def active(self):
        """The source the board runs from."""
        return self.available()[0] if self.available() else self.ext_code

    def voltages(self):
        """/3/0/7 values in mV, one per entry of available()."""
        return [self.battery.millivolts() if c == INTERNAL_BATTERY else self.ext_mv
                for c in self.available()]

    def currents(self):
        """/3/0/8 values in mA; no current sense on these boards, so 0 each."""
        return [0] * len(self.available())

    def poll(self, report):
        """Read the sense pin; call report("sources") once per debounced transition."""
        if self._pin is None:
            return
        v = self._read()
        if self._ext is None:
            self._ext = v
            return
        if v == self._ext:
            self._cand = None
            return
        if v != self._cand:
            self._cand = v
            self._count = 0
        self._count += 1
        if self._count >= self._debounce:
            self._ext = v
            self._cand = None
            report("sources")
