"""LwM2M content formats for the local test servers: TLV codec, link format, readable payloads."""
# Part of a test peer that checks our client against the LwM2M 1.0 TS, so it must not import lib/
# (nor aiocoap: it is plain bytes in, values out).
import struct

CF_TEXT = 0
CF_LINK = 40
CF_OPAQUE = 42
CF_TLV = 11542
CF_JSON = 11543
CF_NAMES = {0: "text", 40: "link", 42: "opaque", 11542: "tlv", 11543: "json",
            1541: "text(1541)", 1542: "tlv(1542)", 1543: "json(1543)", 1544: "opaque(1544)"}


# ---------------------------------------------------------------- TLV (11542)
_KINDS = ("instance", "resource_instance", "multiple", "resource")


def tlv_entries(data):
    """Flat list of (kind, id, value bytes) for the top level of a TLV payload; raises ValueError."""
    data = bytes(data)
    out = []
    i = 0
    n = len(data)
    while i < n:
        t = data[i]
        i += 1
        idlen = 2 if t & 0x20 else 1
        lenlen = (t >> 3) & 3
        if i + idlen + lenlen > n:
            raise ValueError("truncated TLV header at %d" % (i - 1))
        ident = int.from_bytes(data[i:i + idlen], "big")
        i += idlen
        if lenlen:
            length = int.from_bytes(data[i:i + lenlen], "big")
            i += lenlen
        else:
            length = t & 7
        if i + length > n:
            raise ValueError("TLV value overruns payload at id %d" % ident)
        out.append((_KINDS[t >> 6], ident, data[i:i + length]))
        i += length
    return out


def decode_tlv(data):
    """Nested dicts of raw bytes: {iid: {rid: b".."}} for instances, {rid: b".."} for resources,
    {rid: {riid: b".."}} for multiple resources."""
    out = {}
    for kind, ident, value in tlv_entries(data):
        if kind in ("instance", "multiple"):
            out[ident] = decode_tlv(value)
        else:
            out[ident] = value
    return out


def tlv_int(b):
    if len(b) not in (1, 2, 4, 8):
        raise ValueError("bad TLV integer length %d" % len(b))
    return int.from_bytes(b, "big", signed=True)


def tlv_float(b):
    if len(b) == 4:
        return struct.unpack(">f", b)[0]
    if len(b) == 8:
        return struct.unpack(">d", b)[0]
    raise ValueError("bad TLV float length %d" % len(b))


def tlv_bool(b):
    if len(b) != 1 or b[0] > 1:
        raise ValueError("bad TLV boolean %r" % b)
    return b[0] == 1


def tlv_str(b):
    return bytes(b).decode("utf-8")


def tlv_objlnk(b):
    if len(b) != 4:
        raise ValueError("bad TLV objlnk length %d" % len(b))
    return (int.from_bytes(b[:2], "big"), int.from_bytes(b[2:], "big"))


class ObjLnk(tuple):
    """Object link value (object id, instance id) for the TLV encoder."""

    def __new__(cls, obj, inst):
        return tuple.__new__(cls, (obj, inst))


def encode_value(v):
    """TLV value bytes of a Python value: smallest signed int, 8-byte float, 1-byte bool, UTF-8 str."""
    if isinstance(v, bool):
        return b"\x01" if v else b"\x00"
    if isinstance(v, ObjLnk):
        return struct.pack(">HH", v[0], v[1])
    if isinstance(v, int):
        for size in (1, 2, 4, 8):
            lim = 1 << (size * 8 - 1)
            if -lim <= v < lim:
                return v.to_bytes(size, "big", signed=True)
        raise ValueError("integer out of 64-bit range")
    if isinstance(v, float):
        return struct.pack(">d", v)
    if isinstance(v, str):
        return v.encode("utf-8")
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v)
    raise TypeError("no TLV encoding for %r" % (v,))


def tlv_entry(kind, ident, value):
    """One TLV entry; kind is one of 'instance', 'resource_instance', 'multiple', 'resource'."""
    t = _KINDS.index(kind) << 6
    idb = ident.to_bytes(2 if ident > 255 else 1, "big")
    if ident > 255:
        t |= 0x20
    n = len(value)
    if n < 8:
        t |= n
        lb = b""
    elif n < 0x100:
        t |= 0x08
        lb = bytes([n])
    elif n < 0x10000:
        t |= 0x10
        lb = n.to_bytes(2, "big")
    else:
        t |= 0x18
        lb = n.to_bytes(3, "big")
    return bytes([t]) + idb + lb + value


def tlv_resource(rid, value):
    """A resource: dict/list values become a multiple resource of resource instances."""
    if isinstance(value, (list, tuple)) and not isinstance(value, ObjLnk):
        value = dict(enumerate(value))
    if isinstance(value, dict):
        inner = b"".join(tlv_entry("resource_instance", k, encode_value(v)) for k, v in sorted(value.items()))
        return tlv_entry("multiple", rid, inner)
    return tlv_entry("resource", rid, encode_value(value))


def encode_tlv(resources):
    """Resources of one instance, {rid: value}, as a TLV payload without the instance wrapper."""
    return b"".join(tlv_resource(rid, v) for rid, v in sorted(resources.items()))


def tlv_instance(iid, resources):
    return tlv_entry("instance", iid, encode_tlv(resources))


def encode_tlv_instances(instances):
    """{iid: {rid: value}} as object-instance TLVs (object-level writes and creates)."""
    return b"".join(tlv_instance(iid, res) for iid, res in sorted(instances.items()))


# Resource types of the 1.0 objects, for readable logs: s string, i integer, b boolean, o opaque,
# t time, f float; resources missing here are shown by guess.
RES_TYPES = {
    0: dict(enumerate("sbioooioosiii")),  # 0 URI .. 12 Bootstrap-Server Account Timeout
    1: {0: "i", 1: "i", 2: "i", 3: "i", 5: "i", 6: "b", 7: "s"},
    3: {0: "s", 1: "s", 2: "s", 3: "s", 6: "i", 7: "i", 8: "i", 9: "i", 10: "i", 11: "i", 13: "t", 14: "s",
        15: "s", 16: "s", 17: "s", 18: "s", 19: "s", 20: "i", 21: "i"},
    4: {0: "i", 1: "i", 2: "i", 3: "i", 4: "s", 5: "s", 6: "i", 7: "s", 8: "i", 9: "i", 10: "i"},
    5: {0: "o", 1: "s", 3: "i", 5: "i", 6: "s", 7: "s", 8: "i", 9: "i"},
}


def tlv_typed(b, kind):
    """A TLV value as Python: kind is one of s i b o t f (see RES_TYPES)."""
    if kind == "s":
        return tlv_str(b)
    if kind in ("i", "t"):
        return tlv_int(b)
    if kind == "b":
        return tlv_bool(b)
    if kind == "f":
        return tlv_float(b)
    return bytes(b)


def describe_payload(content_format, payload, path=None):
    """Short human-readable form of a response body for logs (path gives TLV resource types)."""
    if not payload:
        return "(empty)"
    try:
        if content_format in (CF_TLV, 1542):
            parts = path_list(path or "")
            obj = int(parts[0]) if parts and parts[0].isdigit() else None
            rid = int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else None
            return _describe_entries(payload, RES_TYPES.get(obj, {}), rid)
        if content_format in (CF_TEXT, 1541, CF_LINK, CF_JSON, 1543, None):
            return payload.decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        pass
    return _hex(payload)


def _hex(b):
    return "%d bytes %s" % (len(b), b[:16].hex() + ("..." if len(b) > 16 else ""))


def _value(b, kind):
    if kind == "o":
        return "0x" + b.hex() if len(b) <= 16 else "<%s>" % _hex(b)
    if kind is not None:
        return repr(tlv_typed(b, kind))
    try:
        s = b.decode("utf-8")
        if len(b) >= 2 and s.isprintable():
            return repr(s)
    except UnicodeDecodeError:
        pass
    if len(b) in (1, 2, 4, 8):
        return str(tlv_int(b))
    return "0x" + b.hex()


def _describe_entries(data, types, rid):
    out = []
    for kind, ident, value in tlv_entries(data):
        if kind == "instance":
            out.append("%d:{%s}" % (ident, _describe_entries(value, types, None)))
        elif kind == "multiple":
            out.append("%d=[%s]" % (ident, _describe_entries(value, types, ident)))
        elif kind == "resource_instance":
            out.append("%d=%s" % (ident, _value(value, types.get(rid))))
        else:
            out.append("%d=%s" % (ident, _value(value, types.get(ident))))
    return " ".join(out)


# ---------------------------------------------------------------- link format
def parse_links(text):
    """CoRE link format to [(target, {attr: value or True})]; raises ValueError when malformed."""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8")
    parts, cur, quoted = [], "", False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if quoted:
        raise ValueError("unterminated quote in link format")
    parts.append(cur)
    out = []
    for p in parts:
        p = p.strip()
        if not p:
            if text.strip():
                raise ValueError("empty link in %r" % text)
            continue
        if not p.startswith("<") or ">" not in p:
            raise ValueError("bad link %r" % p)
        target, _, rest = p[1:].partition(">")
        attrs = {}
        for a in rest.split(";")[1:]:
            k, eq, v = a.partition("=")
            attrs[k.strip()] = v.strip().strip('"') if eq else True
        if rest and not rest.startswith(";"):
            raise ValueError("bad link attributes %r" % p)
        out.append((target, attrs))
    return out


def format_links(links):
    return ",".join("<%s>" % t + "".join(";%s" % k if v is True else ";%s=%s" % (k, v) for k, v in a.items())
                    for t, a in links)


def path_list(path):
    """'/3/0/1' -> ['3', '0', '1']."""
    return [p for p in path.strip("/").split("/") if p]
