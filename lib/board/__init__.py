"""Board support: port() names the port, platform() picks its esp32, rp2 or host backend once."""
import sys

_platform = None
_kw = None


def port():
    """sys.platform. A host test's fake `machine` module (host_tests/ports) names the port it
    plays with PORT_PERSONALITY; a real machine module has no such attribute."""
    return getattr(sys.modules.get("machine"), "PORT_PERSONALITY", None) or sys.platform


def on_board():
    return port() in ("esp32", "rp2")


def options(cfg):
    """Platform constructor arguments from a validated config: data_dir and the "board" section."""
    kw = dict(cfg.get("board") or {}) if on_board() else {}
    kw["root"] = cfg.get("data_dir", "data")
    return kw


def platform(**kw):
    """The Platform for this board, created on the first call (kw go to its constructor) and
    again only when called with other kw."""
    global _platform, _kw
    if _platform is None or (kw and kw != _kw):
        p = port()
        if p == "esp32":
            from .esp32 import Platform
        elif p == "rp2":
            from .rp2 import Platform
        else:
            from .host import Platform
        _platform = Platform(**kw)
        _kw = kw
    return _platform
