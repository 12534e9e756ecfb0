"""CoRE link format (40) codec and LwM2M Write-Attributes query validation."""
from lwm2m.errors import CodecError
from lwm2m.text import fmt_float, parse_float, parse_int


def _val(v):
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return fmt_float(v)
    if isinstance(v, (bytes, bytearray, memoryview)):
        v = bytes(v).decode()
    return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'


def encode(links):
    """[(path, [(name, value or None), ...]), ...] -> b'</3/0>;pmin=10,</5>' (strings quoted)."""
    out = []
    for path, attrs in links:
        s = "<" + path + ">"
        for name, v in attrs:
            s += ";" + name if v is None else ";" + name + "=" + _val(v)
        out.append(s)
    return ",".join(out).encode()


def _skip_ws(s, i, n):
    while i < n and s[i] in " \t\r\n":
        i += 1
    return i


def decode(data):
    """Link-format payload -> [(path, {name: str value or None}), ...]; CodecError on garbage."""
    try:
        s = bytes(data).decode("utf-8") if not isinstance(data, str) else data
    except (UnicodeError, ValueError):
        raise CodecError("invalid UTF-8")
    n = len(s)
    out = []
    i = _skip_ws(s, 0, n)
    if i == n:
        return out
    while True:
        if i >= n or s[i] != "<":
            raise CodecError("link must start with <")
        j = s.find(">", i + 1)
        if j < 0:
            raise CodecError("unterminated <")
        path = s[i + 1:j]
        attrs = {}
        i = _skip_ws(s, j + 1, n)
        while i < n and s[i] == ";":
            i = _skip_ws(s, i + 1, n)
            k = i
            while k < n and s[k] not in "=;, \t\r\n":
                k += 1
            name = s[i:k]
            if not name:
                raise CodecError("empty link parameter name")
            i = _skip_ws(s, k, n)
            val = None
            if i < n and s[i] == "=":
                i = _skip_ws(s, i + 1, n)
                if i < n and s[i] == '"':
                    i, val = _quoted(s, i + 1, n)
                else:
                    k = i
                    while k < n and s[k] not in ";, \t\r\n\"":
                        k += 1
                    val = s[i:k]
                    i = k
                i = _skip_ws(s, i, n)
            attrs[name] = val
        out.append((path, attrs))
        if i == n:
            return out
        if s[i] != ",":
            raise CodecError("junk after link")
        i = _skip_ws(s, i + 1, n)


def _quoted(s, i, n):
    buf = []
    while i < n:
        c = s[i]
        if c == '"':
            return i + 1, "".join(buf)
        if c == "\\":
            i += 1
            if i >= n:
                break
            c = s[i]
        buf.append(c)
        i += 1
    raise CodecError("unterminated quoted string")


_INT_ATTRS = ("pmin", "pmax")
_NUM_ATTRS = ("gt", "lt", "st")


def parse_attrs(query_list):
    """Write-Attributes Uri-Query strings -> {'pmin': int, 'gt': float, 'cancel': True, ...}."""
    out = {}
    for q in query_list:
        if not isinstance(q, str):
            try:
                q = bytes(q).decode("utf-8")
            except (UnicodeError, ValueError):
                raise CodecError("invalid UTF-8")
        name, eq, val = q.partition("=")
        if name in out:
            raise CodecError("duplicate attribute " + name)
        if name == "cancel":
            if eq:
                raise CodecError("cancel takes no value")
            out[name] = True
        elif name in _INT_ATTRS:
            v = parse_int(val) if eq else None
            if v is None or v < 0 or val.strip()[:1] in ("+", "-"):
                raise CodecError(name + " must be a non-negative integer")
            out[name] = v
        elif name in _NUM_ATTRS:
            if not eq:
                raise CodecError(name + " needs a value")
            v = parse_float(val)
            if name == "st" and v < 0:
                raise CodecError("st must not be negative")
            out[name] = v
        else:
            raise CodecError("unknown attribute " + name)
    if "pmin" in out and "pmax" in out and out["pmin"] > out["pmax"]:
        raise CodecError("pmin > pmax")
    # LwM2M 1.0 5.1.2: with all three present, lt + 2*st must stay below gt
    if "lt" in out and "gt" in out and "st" in out and not out["lt"] + 2 * out["st"] < out["gt"]:
        raise CodecError("lt + 2*st must be < gt")
    return out
