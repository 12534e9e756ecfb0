"""Battery gauge: ADC -> millivolts through a divider -> percent through a discharge curve."""
from micropython import const

# /3/0/20 Battery Status codes (LwM2M 1.0 Device object)
NORMAL = const(0)
CHARGING = const(1)
CHARGE_COMPLETE = const(2)
DAMAGED = const(3)
LOW = const(4)
NOT_INSTALLED = const(5)
UNKNOWN = const(6)

# Single-cell Li-ion/LiPo at rest, (mV, percent) ascending: flat in the middle, steep at both ends.
DEFAULT_CURVE = (
    (3300, 0), (3600, 5), (3690, 10), (3730, 20), (3770, 30), (3800, 40),
    (3840, 50), (3870, 60), (3950, 70), (4020, 80), (4110, 90), (4200, 100),
)


def percent(mv, curve=DEFAULT_CURVE):
    """Piecewise-linear interpolation of curve at mv, clamped to its ends, as an int 0-100."""
    lo_mv, lo_pc = curve[0]
    if mv <= lo_mv:
        return lo_pc
    for hi_mv, hi_pc in curve[1:]:
        if mv <= hi_mv:
            return lo_pc + (mv - lo_mv) * (hi_pc - lo_pc) // (hi_mv - lo_mv)
        lo_mv, lo_pc = hi_mv, hi_pc
    return lo_pc


class Battery:
    """A battery behind an ADC. Smoothing plus a mV hysteresis keep noise away from observers.

    charging: optional callable returning True while external power charges the cell (e.g. the
    PowerSource's external-power test). absent_mv: below it the battery counts as not installed.
    """

    def __init__(self, adc, divider=3.0, vref_mv=3300, full_scale=65535, curve=DEFAULT_CURVE,
                 alpha=0.25, hyst_mv=10, low_percent=10, absent_mv=2500, charging=None):
        if not curve or alpha <= 0 or alpha > 1:
            raise ValueError("battery: bad curve or alpha")
        self._adc = adc
        self._scale = vref_mv * divider / full_scale
        self.curve = curve
        self.alpha = alpha
        self.hyst_mv = hyst_mv
        self.low_percent = low_percent
        self.absent_mv = absent_mv
        self._charging = charging
        self.masked = None  # callable: True while the ADC says nothing about the cell (Pico W on USB)
        self._avg = None  # smoothed mV (float)
        self._mv = None  # reported mV: moves only when the average leaves the hysteresis band
        self._last = None

    def raw_millivolts(self):
        """One unsmoothed reading in mV."""
        return int(self._adc.read_u16() * self._scale + 0.5)

    def sample(self):
        """Take one reading into the smoothed value; returns the reported mV (None while masked
        before any reading)."""
        if self.masked is not None and self.masked():
            return self._mv
        mv = self.raw_millivolts()
        if self._avg is None:
            self._avg = mv
            self._mv = mv
        else:
            self._avg += self.alpha * (mv - self._avg)
            if abs(self._avg - self._mv) >= self.hyst_mv:
                self._mv = int(self._avg + 0.5)
        return self._mv

    def millivolts(self):
        """Reported voltage in mV (samples once if nothing has been read yet)."""
        if self._mv is None:
            self.sample()
        return self._mv

    def level(self):
        """Battery level 0-100 for /3/0/9 (0 when there has been no reading)."""
        mv = self.millivolts()
        return 0 if mv is None else percent(mv, self.curve)

    def status(self):
        """Battery Status code for /3/0/20."""
        if self._mv is None or (self.masked is not None and self.masked()):
            return UNKNOWN
        if self._mv < self.absent_mv:
            return NOT_INSTALLED
        lvl = self.level()
        if self._charging is not None and self._charging():
            return CHARGE_COMPLETE if lvl >= 100 else CHARGING
        if lvl <= self.low_percent:
            return LOW
        return NORMAL

    def poll(self, report):
        """Sample, then call report("voltage"/"level"/"status") for each value that changed."""
        self.sample()
        now = (self._mv, self.level(), self.status())
        last = self._last
        self._last = now
        if last is None:
            return
        if now[0] != last[0]:
            report("voltage")
        if now[1] != last[1]:
            report("level")
        if now[2] != last[2]:
            report("status")
