"""LwM2M TLV content format (11542): node and typed value encoding; decoding is lwm2m.parse."""
import struct

from micropython import const

from lwm2m.errors import CodecError

# node kinds: bits 7-6 of the type byte
OBJ_INST = const(0)
RES_INST = const(1)
MULTI_RES = const(2)
RES = const(3)

_MAX_LEN = const(0xFFFFFF)


def _len_size(n):
    if n < 8:
        return 0
    if n < 0x100:
        return 1
    if n < 0x10000:
        return 2
    if n <= _MAX_LEN:
        return 3
    raise CodecError  # TLV value too long


def check_nesting(parent, kind):
    """CodecError unless a kind node may sit in a parent node (lwm2m.parse checks with it too)."""
    # the only nestings 1.0 defines; anything else would let a peer build arbitrary depth
    if parent == OBJ_INST:
        if kind != RES and kind != MULTI_RES:
            raise CodecError  # bad TLV nesting
    elif parent == MULTI_RES:
        if kind != RES_INST:
            raise CodecError  # bad TLV nesting


def size(nodes, parent=None):
    """Encoded length of nodes in bytes (parent: the kind of the node they sit in)."""
    total = 0
    for kind, ident, payload in nodes:
        if parent is not None:
            check_nesting(parent, kind)
        if ident < 0 or ident > 0xFFFF:
            raise CodecError  # TLV id out of range
        n = size(payload, kind) if kind == OBJ_INST or kind == MULTI_RES else len(payload)
        total += 2 + (ident > 0xFF) + _len_size(n) + n
    return total


def encode_into(buf, off, nodes, parent=None):
    """Write nodes into bytearray buf from off; return the offset after the last byte."""
    for kind, ident, payload in nodes:
        if parent is not None:
            check_nesting(parent, kind)
        if kind < 0 or kind > 3 or ident < 0 or ident > 0xFFFF:
            raise CodecError  # bad TLV node
        container = kind == OBJ_INST or kind == MULTI_RES
        n = size(payload, kind) if container else len(payload)
        ls = _len_size(n)
        wide = ident > 0xFF
        if off + 2 + wide + ls + n > len(buf):
            raise CodecError  # TLV does not fit the buffer
        t = kind << 6 | wide << 5 | ls << 3
        if ls == 0:
            t |= n
        buf[off] = t
        off += 1
        if wide:
            buf[off] = ident >> 8
            off += 1
        buf[off] = ident & 0xFF
        off += 1
        while ls:
            ls -= 1
            buf[off] = (n >> (8 * ls)) & 0xFF
            off += 1
        if container:
            off = encode_into(buf, off, payload, kind)
        else:
            buf[off:off + n] = payload
            off += n
    return off


def encode(nodes):
    """Encode a list of (kind, id, payload) nodes; a bytearray (a payload nobody changes: a bytes
    copy would hold it twice at a Read's peak)."""
    buf = bytearray(size(nodes))
    encode_into(buf, 0, nodes)
    return buf


def encode_value(typ, value):
    """Bytes of one resource value of type typ ('s','i','f','b','o','t','l','e')."""
    if typ == "i" or typ == "t":
        v = int(value)
        if -0x80 <= v < 0x80:
            return struct.pack(">b", v)
        if -0x8000 <= v < 0x8000:
            return struct.pack(">h", v)
        if -0x80000000 <= v < 0x80000000:
            return struct.pack(">i", v)
        if -0x8000000000000000 <= v < 0x8000000000000000:
            return struct.pack(">q", v)
        raise CodecError  # integer out of 64-bit range
    if typ == "s":
        return value.encode() if isinstance(value, str) else bytes(value)
    if typ == "f":
        v = float(value)
        if v != v:
            return struct.pack(">f", v)
        try:
            b = struct.pack(">f", v)
        except OverflowError:  # CPython refuses; MicroPython gives inf, caught by the compare
            return struct.pack(">d", v)
        if struct.unpack(">f", b)[0] == v:
            return b
        return struct.pack(">d", v)
    if typ == "b":
        return b"\x01" if value else b"\x00"
    if typ == "o":
        return bytes(value)
    if typ == "l":
        o, i = value
        if not (0 <= o <= 0xFFFF and 0 <= i <= 0xFFFF):
            raise CodecError  # objlnk out of range
        return struct.pack(">HH", o, i)
    if typ == "e":
        return b""
    raise CodecError  # unknown type


def resource_node(rid, typ, value):
    """RES node, or MULTI_RES node of RES_INST children when value is a dict {riid: value}."""
    if isinstance(value, dict):
        return (MULTI_RES, rid,
                [(RES_INST, riid, encode_value(typ, value[riid])) for riid in sorted(value)])
    return (RES, rid, encode_value(typ, value))


def instance_node(iid, resources):
    """OBJ_INST node from a list of (rid, type, value)."""
    return (OBJ_INST, iid, [resource_node(rid, typ, v) for rid, typ, v in resources])

