"""What the firmware's tls offers for coaps://, probed once: no DTLS, DTLS without PSK, or PSK."""
from micropython import const

NONE = const(0)  # no tls module, or no PROTOCOL_DTLS_CLIENT (MicroPython v1.24 and older)
CERT = const(1)  # DTLS, certificates only: setting psk_identity -> AttributeError (v1.25-v1.28)
PSK = const(2)  # DTLS-PSK (after v1.28.0, upstream commit aa25a4ec; the unix port in .venv)

_level = None


def level():
    """NONE, CERT or PSK for this interpreter; probed on the first call only."""
    global _level
    if _level is None:
        _level = _probe()
    return _level


def _probe():
    try:
        import tls
    except ImportError:
        return NONE
    if not hasattr(tls, "PROTOCOL_DTLS_CLIENT"):
        return NONE
    try:
        ctx = tls.SSLContext(tls.PROTOCOL_DTLS_CLIENT)  # a throwaway: PSK is settable once
        ctx.psk_identity = b"probe"
    except AttributeError:
        return CERT
    except (OSError, ValueError, TypeError):
        return CERT  # a context that cannot take an identity cannot do coaps:// either
    return PSK


def why():
    """One line for a refused coaps:// account, or None when DTLS-PSK is there."""
    lv = level()
    if lv == PSK:
        return None
    has = "no DTLS (no PROTOCOL_DTLS_CLIENT)" if lv == NONE else "DTLS without PSK"
    return ("coaps:// needs DTLS-PSK and this firmware's tls module has %s; flash MicroPython "
            "newer than v1.28.0 (or use coap://)" % has)
