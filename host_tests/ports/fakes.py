"""The fake modules of a port personality: machine, esp32, rp2, network, tls, errno (ESP32).

Each is built for one ports.Board, whose state (watchdog, pins, flash, boot slot) outlives the
Python heap; every rule names the BOARDS.md fact it models.
"""
from . import ENOENT, RP2_WDT_MAX, HardReset, _Mod


# -------------------------------------------------------------------------------- machine
def _machine(b):
    def WDT(id=0, timeout=5000):
        if b.port == "rp2" and timeout > RP2_WDT_MAX:
            raise ValueError("timeout exceeds %d" % RP2_WDT_MAX)  # ports/rp2/machine_wdt.c
        b.wdt = timeout
        return _Wdt(b)

    def reset():
        raise HardReset("machine.reset()")

    def disable_irq():
        s = b.irq
        b.irq = False
        return s

    def enable_irq(state=True):
        b.irq = state

    return _Mod("machine", PORT_PERSONALITY=b.port, WDT=WDT, reset=reset,
                unique_id=lambda: b"\xe6\x61\x41\x04\x03\x2b\x5a\x2c",
                disable_irq=disable_irq, enable_irq=enable_irq,
                Pin=_pin_class(b), ADC=_adc_class(b), freq=lambda *a: 125000000)


class _Wdt:
    def __init__(self, b):
        self._b = b

    def feed(self):
        self._b.feeds += 1


def _pin_class(b):
    class Pin:
        IN = 0
        OUT = 1
        ALT = 3
        PULL_UP = 1
        PULL_DOWN = 2

        def __init__(self, id, mode=-1, pull=-1, value=None, alt=-1):
            self.id = id
            if mode != -1:
                b.pins[id] = (mode, alt)
                if id == 29 and mode == Pin.IN:
                    b._fresh = 0
            if value is not None:
                self.value(value)

        def value(self, v=None):
            if v is not None:
                b.pins[("out", self.id)] = v
                return None
            if self.id == "WL_GPIO2":
                return b.vbus  # Pico W VBUS sense (BOARDS.md "Pico W analog and Wi-Fi pins")
            return b.pins.get(("out", self.id), 0)

        def init(self, *a, **k):
            pass

    return Pin


def _adc_class(b):
    class ADC:
        ATTN_11DB = 3

        def __init__(self, ch):
            self.ch = getattr(ch, "id", ch)

        def atten(self, a):
            pass

        def read_u16(self):
            if b.port == "rp2" and self.ch in (3, 29):
                # GPIO29 is shared with the CYW43 SPI: with the Wi-Fi interrupt free to run, the
                # driver takes the pin back; the first reads after switching it read low
                # (pico-examples adc/read_vsys: "low values from cyw43") - BOARDS.md
                b._fresh += 1
                if b.irq or b._fresh <= 2 or b.pins.get(29, (None,))[0] != 0:
                    return 180
                return b.vsys
            return 30000

        def read_uv(self):
            return self.read_u16() * 3300000 // 65535

    return ADC


# -------------------------------------------------------------------------------- esp32
def _esp32(b):
    class Partition:
        BOOT = 0
        RUNNING = 1
        TYPE_APP = 0
        _BS = 4096
        _BLOCKS = 96

        def __init__(self, id):
            if id == Partition.RUNNING:
                id = b.running
            elif id == Partition.BOOT:
                id = b.next_boot or b.running
            self.label = id
            b.parts.setdefault(id, {})

        def info(self):
            # (type, subtype, addr, size, label, encrypted): info()[4] is the label (BOARDS.md)
            return (0, 0x10, 0x10000, self._BS * self._BLOCKS, self.label, False)

        def get_next_update(self):
            if not b.ota:
                raise OSError(ENOENT)  # stock ESP32_GENERIC: no OTA slots (BOARDS.md)
            return Partition("ota_1" if b.running == "ota_0" else "ota_0")

        def ioctl(self, op, arg):
            if op == 6:  # MP_BLOCKDEV_IOCTL_BLOCK_ERASE: esp_partition_erase_range of one block
                b.parts[self.label].pop(arg, None)
                return 0
            return {4: self._BLOCKS, 5: self._BS}.get(op, 0)

        def writeblocks(self, n, buf, off=None):
            # ports/esp32/esp32_partition.c: the 2-argument form erases the range first, the
            # extended one (offset) only programs, which on NOR flash can only clear bits
            blk = b.parts[self.label]
            old = bytearray(blk.get(n, b"\xff" * self._BS)) if off is not None else bytearray(
                b"\xff" * self._BS)
            o = off or 0
            for i in range(len(buf)):
                old[o + i] &= buf[i]
            blk[n] = bytes(old)

        def readblocks(self, n, buf, off=0):
            data = b.parts[self.label].get(n, b"\xff" * self._BS)
            buf[:] = data[off:off + len(buf)]

        def set_boot(self):
            b.next_boot = self.label

        @staticmethod
        def mark_app_valid_cancel_rollback():
            b.unverified = False  # succeeds on any image, old or new (BOARDS.md)

    return _Mod("esp32", Partition=Partition)


# -------------------------------------------------------------------------------- errno
# ESP32 errno numbers come from newlib, not Linux: 113 is ECONNABORTED there, ETIMEDOUT is 116
# (BOARDS.md "Network"). rp2 uses MicroPython's own table, which matches Linux for these.
_NEWLIB = {"EPERM": 1, "ENOENT": 2, "EIO": 5, "EBADF": 9, "EAGAIN": 11, "ENOMEM": 12,
           "EACCES": 13, "EEXIST": 17, "ENODEV": 19, "EISDIR": 21, "EINVAL": 22, "ENOSPC": 28,
           "ECONNRESET": 104, "ENOBUFS": 105, "ECONNREFUSED": 111, "EADDRINUSE": 112,
           "ECONNABORTED": 113, "ENETUNREACH": 114, "ETIMEDOUT": 116, "EHOSTUNREACH": 118,
           "EALREADY": 120, "EINPROGRESS": 119, "ENOTCONN": 128, "EOPNOTSUPP": 95}


def _errno_newlib():
    m = _Mod("errno", errorcode=dict([(v, k) for k, v in _NEWLIB.items()]))
    for k, v in _NEWLIB.items():
        setattr(m, k, v)
    return m


# -------------------------------------------------------------------------------- network
def _network(b):
    class WLAN:
        def __init__(self, i=0):
            self._up = False

        def active(self, v=None):
            return True

        def isconnected(self):
            return self._up

        def connect(self, ssid, pw=None):
            self._up = True

        def disconnect(self):
            self._up = False

        def status(self, what=None):
            return -60 if what == "rssi" else 3

        def ifconfig(self):
            return ("127.0.0.1", "255.0.0.0", "127.0.0.1", "127.0.0.1")

    return _Mod("network", WLAN=WLAN, STA_IF=0, AP_IF=1)


# -------------------------------------------------------------------------------- tls
def _tls(b):
    class SSLContext:
        def __init__(self, protocol):
            self.protocol = protocol
            self.verify_mode = 0

        def __setattr__(self, k, v):
            # v1.25-v1.28: only verify_mode (and methods); psk_identity/psk_key raise
            # AttributeError (BOARDS.md "TLS / DTLS")
            if k in ("psk_identity", "psk_key") and b.dtls != "psk":
                raise AttributeError("'SSLContext' object has no attribute '%s'" % k)
            object.__setattr__(self, k, v)

        def wrap_socket(self, sock, **kw):
            raise OSError(-0x7780)  # no handshake partner in a pure test

    kw = dict(SSLContext=SSLContext, PROTOCOL_TLS_CLIENT=0, PROTOCOL_TLS_SERVER=1, CERT_NONE=0,
              CERT_REQUIRED=2)
    if b.dtls is not None:
        kw["PROTOCOL_DTLS_CLIENT"] = 2  # v1.25 on
        kw["PROTOCOL_DTLS_SERVER"] = 3
    return _Mod("tls", **kw)
