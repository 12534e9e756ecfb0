"""The firmware store of a board with no room for an image (stock ESP32_GENERIC: no OTA slot)."""
from .fwstore import FwError, NoSpace


class NoStore:
    """No room for an image at all (stock ESP32_GENERIC has no OTA slot): /5 says "not
    supported" and every package is refused for space (result 2)."""

    none = True
    offset = 0

    def begin(self, total_size=None):
        raise NoSpace("no OTA partition in this firmware")

    def write(self, data):
        raise NoSpace("no OTA partition in this firmware")

    def finish(self):
        raise NoSpace("no OTA partition in this firmware")

    def abort(self):
        pass

    def apply(self):
        raise FwError("no OTA partition in this firmware")

    def confirm(self):
        return False
