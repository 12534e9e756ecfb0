"""The firmware store of a board with no room for an image (stock ESP32_GENERIC: no OTA slot)."""
from .fwstore import FwError


class NoStore:
    """No room for an image at all (stock ESP32_GENERIC has no OTA slot): /5 says "not
    supported" and every package is refused for space (result 2)."""

    none = True
    offset = 0

    def begin(self, total_size=None):
        raise FwError(2)  # no space: no OTA partition in this firmware

    def write(self, data):
        raise FwError(2)  # no space: no OTA partition in this firmware

    def finish(self):
        raise FwError(2)  # no space: no OTA partition in this firmware

    def abort(self):
        pass

    def apply(self):
        raise FwError(8)  # no OTA partition in this firmware

    def confirm(self):
        return False
