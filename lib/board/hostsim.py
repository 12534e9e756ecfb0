"""Host-only simulations for tests and demos: fake ADC/pins, a RAM esp32.Partition, a battery.

board.host loads this module only for a simulated battery (LWM2M_SIM_BATTERY); tests and demos
import it themselves (board.host forwards none of its names: that cost the client heap)."""
from .host import SIM_BATTERY_ENV


class FakeADC:
    """read_u16() returns `value`, or the next item of `seq` (the last one repeats)."""

    def __init__(self, value=0, seq=None):
        self.value = value
        self._seq = list(seq) if seq else []
        self.reads = 0

    def read_u16(self):
        self.reads += 1
        if self._seq:
            self.value = self._seq.pop(0)
        return self.value


class FakePin:
    """machine.Pin subset: value() / value(v); `seq` feeds successive reads like FakeADC."""

    def __init__(self, value=0, seq=None):
        self._v = value
        self._seq = list(seq) if seq else []

    def value(self, v=None):
        if v is not None:
            self._v = 1 if v else 0
            return None
        if self._seq:
            self._v = self._seq.pop(0)
        return self._v

    def __call__(self, v=None):
        return self.value(v)


class RamPartition:
    """The esp32.Partition interface over a bytearray; records writes, boots and confirms."""

    confirms = 0  # mark_app_valid_cancel_rollback() calls, class-wide like the real one

    def __init__(self, size=1024 * 1024, block_size=4096):
        if size % block_size:
            raise ValueError("size must be a multiple of block_size")
        self.block_size = block_size
        self.data = bytearray(size)
        erased = b"\xff" * block_size
        for s in range(0, size, block_size):
            self.data[s:s + block_size] = erased  # erased flash, without a size-long temporary
        self.boot = False
        self.erases = 0
        self.writes = 0

    def _span(self, block_num, n):
        start = block_num * self.block_size
        if block_num < 0 or start + n > len(self.data):
            raise OSError(22)
        return start

    def readblocks(self, block_num, buf, offset=0):
        start = self._span(block_num, offset + len(buf)) + offset
        buf[:] = self.data[start:start + len(buf)]

    def writeblocks(self, block_num, buf, offset=None):
        start = self._span(block_num, len(buf) + (offset or 0))
        if offset is None:
            # like the real 2-arg form: erase the sectors covered, then program
            self.erases += 1
            for i in range(start, start + len(buf)):
                self.data[i] = 0xFF
        else:
            start += offset
        for i in range(len(buf)):
            self.data[start + i] &= buf[i]  # NOR flash programming only clears bits
        self.writes += 1

    def ioctl(self, op, arg):
        if op == 4:
            return len(self.data) // self.block_size
        if op == 5:
            return self.block_size
        if op == 6:  # erase one block (the real port: esp_partition_erase_range of a block)
            self.erases += 1
            s = arg * self.block_size
            self.data[s:s + self.block_size] = b"\xff" * self.block_size
            return 0
        return 0 if op in (1, 2, 3) else None

    def set_boot(self):
        self.boot = True

    @classmethod
    def mark_app_valid_cancel_rollback(cls):
        cls.confirms += 1


class SimBattery:
    """A battery discharging linearly with time (the Battery interface): something for observers
    to watch on the host. clock: ms ticks source, time.ticks_ms by default."""

    def __init__(self, start_mv=4000, mv_per_min=600, floor_mv=3300, clock=None):
        if clock is None:
            import time

            clock = time.ticks_ms
        self._clock = clock
        self._t0 = clock()
        self.start_mv = start_mv
        self.mv_per_min = mv_per_min
        self.floor_mv = floor_mv
        self._last = None

    def millivolts(self):
        import time

        el = time.ticks_diff(self._clock(), self._t0)
        return max(self.floor_mv, self.start_mv - el * self.mv_per_min // 60000)

    def level(self):
        from .battery import percent

        return percent(self.millivolts())

    def status(self):
        from .battery import LOW, NORMAL

        return LOW if self.level() <= 10 else NORMAL

    def poll(self, report):
        """Call report("voltage"/"level"/"status") for each value that changed since the last poll."""
        now = (self.millivolts(), self.level(), self.status())
        last = self._last
        self._last = now
        if last is None:
            return
        for i, what in enumerate(("voltage", "level", "status")):
            if now[i] != last[i]:
                report(what)


def sim_battery(spec):
    """SimBattery from "<start mV>[,<mV per minute>]" (the LWM2M_SIM_BATTERY value); None if empty."""
    if not spec:
        return None
    parts = spec.split(",")
    if len(parts) > 2:
        raise ValueError("%s: <start mV>[,<mV per minute>]" % SIM_BATTERY_ENV)
    start = int(parts[0])
    return SimBattery(start, int(parts[1])) if len(parts) > 1 else SimBattery(start)
