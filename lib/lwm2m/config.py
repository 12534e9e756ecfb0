"""Loads and validates config.json; every problem is one ConfigError line naming the key."""
import json

LOG_LEVELS = ("error", "warn", "info", "debug")

# machine.WDT per port: the longest timeout it accepts and the default used here.
# rp2: ports/rp2/machine_wdt.c raises ValueError("timeout exceeds 8388") above 8388 ms (BOARDS.md).
_WDT_MAX = {"rp2": 8388}
_WDT_DEFAULT = {"rp2": 8000}
# The "board" section: constructor options of lib/board's Platform, per port.
_BOARD_KEYS = {"esp32": ("battery_pin", "vbus_pin", "divider"),
               "rp2": ("battery", "divider")}


class ConfigError(ValueError):
    """str(e) is the whole message: 'config: <key>: <what is wrong>'."""


def _err(key, msg):
    return ConfigError("config: %s: %s" % (key, msg))


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _int(d, key, name, lo, hi, default):
    v = d.get(key, default)
    if not _is_int(v) or v < lo or (hi is not None and v > hi):
        rng = ">= %d" % lo if hi is None else "%d..%d" % (lo, hi)
        raise _err(name, "expected an integer %s, got %r" % (rng, v))
    return v


def _str(d, key, name, default=None, empty=False):
    v = d.get(key, default)
    if not isinstance(v, str) or (not empty and not v):
        raise _err(name, "expected a%s string, got %r" % ("" if empty else " non-empty", v))
    return v


def _bool(d, key, name, default):
    v = d.get(key, default)
    if not isinstance(v, bool):
        raise _err(name, "expected true or false, got %r" % (v,))
    return v


def _only(d, allowed, prefix):
    if not isinstance(d, dict):
        raise _err(prefix.rstrip("."), "expected an object, got %r" % (d,))
    for k in d:
        if k not in allowed:
            raise _err(prefix + k, "unknown key")


def _hexkey(v, name):
    if not isinstance(v, str) or not v or len(v) % 2 or len(v) > 64:
        raise _err(name, "expected 1..32 bytes as an even number of hex digits, got %r" % (v,))
    try:
        return bytes.fromhex(v)
    except ValueError:
        raise _err(name, "expected hex digits, got %r" % (v,))


def _account(d, name, extra, default_uri=None):
    """Common part of a server or bootstrap entry: uri and the PSK pair for coaps://."""
    _only(d, ("uri", "psk_identity", "psk_key") + extra, name + ".")
    uri = d.get("uri", default_uri)
    from coap import uri as parser, unload

    try:
        scheme, _, _, path = parser.split(uri)
    except ValueError:
        raise _err(name + ".uri", "expected coap:// or coaps:// URI, got %r" % (uri,))
    finally:
        unload("uri")  # loaded for the call: config is checked once, the parser is not kept
    if path not in ("", "/"):
        raise _err(name + ".uri", "expected no path, query or fragment, got %r" % (uri,))
    out = {"uri": uri, "psk_identity": None, "psk_key": None}
    ident = d.get("psk_identity")
    key = d.get("psk_key")
    if scheme == "coaps":
        if ident is None:
            raise _err(name + ".psk_identity", "required for a coaps:// URI")
        if key is None:
            raise _err(name + ".psk_key", "required for a coaps:// URI")
    if ident is not None:
        out["psk_identity"] = _str(d, "psk_identity", name + ".psk_identity").encode()
    if key is not None:
        out["psk_key"] = _hexkey(key, name + ".psk_key")
    return out


def _server(d, i, queue_mode):
    name = "servers[%d]" % i
    s = _account(d, name, ("ssid", "lifetime", "binding"))
    if "ssid" not in d:
        raise _err(name + ".ssid", "required (1..65534)")
    s["ssid"] = _int(d, "ssid", name + ".ssid", 1, 65534, None)
    s["lifetime"] = _int(d, "lifetime", name + ".lifetime", 1, None, 300)
    b = d.get("binding", "UQ" if queue_mode else "U")
    if b not in ("U", "UQ"):
        raise _err(name + ".binding", "expected \"U\" or \"UQ\", got %r" % (b,))
    s["binding"] = b
    return s


def _board(raw, port):
    """The "board" section: {} when absent; only the keys the port's Platform takes."""
    d = raw.get("board")
    if d is None:
        return {}
    allowed = _BOARD_KEYS.get(port, ("battery", "battery_pin", "vbus_pin", "divider"))
    if not isinstance(d, dict):
        raise _err("board", "expected an object, got %r" % (d,))
    for k in d:
        if k not in allowed:
            raise _err("board." + k, "unknown key for %s (allowed: %s)"
                       % (port, ", ".join(allowed)))
    out = {}
    for k in ("battery_pin", "vbus_pin"):
        if k in d:
            v = d[k]
            if v is not None and (not _is_int(v) or not 0 <= v <= 48):
                raise _err("board." + k, "expected a GPIO number 0..48 or null, got %r" % (v,))
            out[k] = v
    if "battery" in d:
        out["battery"] = _bool(d, "battery", "board.battery", True)
    if "divider" in d:
        v = d["divider"]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 1 <= v <= 20:
            raise _err("board.divider", "expected a number 1..20 (Vin / Vadc), got %r" % (v,))
        out["divider"] = float(v)
    return out


def _watchdog(raw, port):
    hi = _WDT_MAX.get(port)
    ms = _int(raw, "watchdog_ms", "watchdog_ms", 0, 3600000, _WDT_DEFAULT.get(port, 30000))
    if 0 < ms < 2000:
        raise _err("watchdog_ms", "expected 0 (off) or at least 2000, got %d" % ms)
    if hi is not None and ms > hi:
        raise _err("watchdog_ms", "the %s watchdog accepts at most %d ms, got %d" % (port, hi, ms))
    return ms


def validate(raw, port=None):
    """Checked copy of a parsed config with defaults filled; raises ConfigError.

    Result keys: endpoint, servers [{uri, ssid, lifetime, binding, psk_identity (bytes|None),
    psk_key (bytes|None)}], bootstrap ({uri, hold_off, psk_identity, psk_key} or None), queue_mode,
    local_port, data_dir, log, wifi ({ssid, password} or None), ntp (host or None), watchdog_ms
    (per-port default and limit), board (Platform options). port: the MicroPython port the
    config is for (esp32, rp2; anything else is the host); default: where this runs.
    """
    if port is None:
        from board import port as _port

        port = _port()
    if not isinstance(raw, dict):
        raise ConfigError("config: expected a JSON object at the top level, got %r" % (raw,))
    _only(raw, ("endpoint", "servers", "bootstrap", "queue_mode", "local_port", "data_dir", "log",
                "wifi", "ntp", "watchdog_ms", "board", "sleep"), "")
    cfg = {}
    ep = _str(raw, "endpoint", "endpoint")
    for ch in ep:
        if ch in "&?#/ " or ord(ch) < 33 or ord(ch) > 126:
            raise _err("endpoint", "expected printable ASCII without space & ? # /, got %r" % ep)
    if len(ep) > 63:  # 003 7.2 Table 3: String (max 63 bytes); ASCII, so bytes == characters
        raise _err("endpoint", "longer than 63 bytes")
    cfg["endpoint"] = ep
    qm = cfg["queue_mode"] = _bool(raw, "queue_mode", "queue_mode", False)
    servers = raw.get("servers", [])
    if not isinstance(servers, list):
        raise _err("servers", "expected a list, got %r" % (servers,))
    cfg["servers"] = out = []
    seen = []
    for i, s in enumerate(servers):
        s = _server(s, i, qm)
        if s["ssid"] in seen:
            raise _err("servers[%d].ssid" % i, "%d used twice" % s["ssid"])
        seen.append(s["ssid"])
        out.append(s)
    bs = raw.get("bootstrap")
    if bs is not None:
        b = _account(bs, "bootstrap", ("hold_off",))
        b["hold_off"] = _int(bs, "hold_off", "bootstrap.hold_off", 0, None, 0)
        bs = b
    cfg["bootstrap"] = bs
    if not out and bs is None:
        raise _err("servers", "need at least one server or a bootstrap entry")
    cfg["local_port"] = _int(raw, "local_port", "local_port", 0, 65535, 0)
    cfg["data_dir"] = _str(raw, "data_dir", "data_dir", "data")
    lv = raw.get("log", "info")
    if lv not in LOG_LEVELS:
        raise _err("log", "expected one of %s, got %r" % ("/".join(LOG_LEVELS), lv))
    cfg["log"] = lv
    w = raw.get("wifi")
    if w is not None:
        _only(w, ("ssid", "password"), "wifi.")
        w = {"ssid": _str(w, "ssid", "wifi.ssid"),
             "password": _str(w, "password", "wifi.password", "", True)}
    cfg["wifi"] = w
    ntp = raw.get("ntp")
    cfg["ntp"] = None if ntp is None else _str(raw, "ntp", "ntp")
    cfg["watchdog_ms"] = _watchdog(raw, port)
    cfg["board"] = _board(raw, port)
    cfg["sleep"] = _sleep(raw.get("sleep"), cfg)
    return cfg


SLEEP_MODES = ("none", "light", "deep")


def _sleep(d, cfg):
    """sleep: {mode, interval (s between wakes), awake (s after the last exchange, default
    MAX_TRANSMIT_WAIT 93)}; None for mode none. Sleeping needs queue mode (b=UQ) everywhere:
    a sleeping client cannot be reached, and only UQ tells the server to hold its requests
    (queue_mode puts the Q into every server's b=, whatever binding the account holds)."""
    if d is None:
        return None
    _only(d, ("mode", "interval", "awake"), "sleep.")
    mode = d.get("mode", "none")
    if mode not in SLEEP_MODES:
        raise _err("sleep.mode", "expected one of %s, got %r" % ("/".join(SLEEP_MODES), mode))
    if mode == "none":
        return None
    s = {"mode": mode, "interval": _int(d, "interval", "sleep.interval", 1, 86400 * 7, None),
         "awake": _int(d, "awake", "sleep.awake", 1, 93, 93)}
    if not cfg["queue_mode"]:
        raise _err("sleep.mode", "%s sleep needs \"queue_mode\": true (b=UQ)" % mode)
    if mode == "deep" and not cfg["local_port"]:
        # the server knows us by address and port; a new port after every reset would leave
        # its observations pointing nowhere
        raise _err("local_port", "deep sleep needs a fixed local port, got 0")
    return s


def load(path="config.json", port=None):
    """Read, parse and validate a config file."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        raise ConfigError("config: %s: cannot read (%s)" % (path, e))
    try:
        raw = json.loads(text)
    except ValueError as e:
        raise ConfigError("config: %s: invalid JSON (%s)" % (path, e))
    return validate(raw, port)
