"""CoRE link format (40) decoding, a server's side: the client only writes link format
(lwm2m.link), so nothing of lib/ loads this; tests and applications may."""
from lwm2m.errors import CodecError


def _skip_ws(s, i, n):
    while i < n and s[i] in " \t\r\n":
        i += 1
    return i


def decode(data):
    """Link-format payload -> [(path, {name: str value or None}), ...]; CodecError on garbage."""
    try:
        s = bytes(data).decode("utf-8") if not isinstance(data, str) else data
    except (UnicodeError, ValueError):
        raise CodecError  # invalid UTF-8
    n = len(s)
    out = []
    i = _skip_ws(s, 0, n)
    if i == n:
        return out
    while True:
        if i >= n or s[i] != "<":
            raise CodecError  # link must start with <
        j = s.find(">", i + 1)
        if j < 0:
            raise CodecError  # unterminated <
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
                raise CodecError  # empty link parameter name
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
            raise CodecError  # junk after link
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
    raise CodecError  # unterminated quoted string
