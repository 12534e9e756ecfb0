"""Board support: platform() picks the esp32, rp2 or host backend by sys.platform, once."""
import sys

_platform = None


def platform(**kw):
    """The Platform for this board (created on first call; kw go to its constructor)."""
    global _platform
    if _platform is None:
        p = sys.platform
        if p == "esp32":
            from .esp32 import Platform
        elif p == "rp2":
            from .rp2 import Platform
        else:
            from .host import Platform
        _platform = Platform(**kw)
    return _platform
