"""TLV codec: Wakaama vectors, the LwM2M 1.0 TS Device object example, typed values, bad input."""
from util import hexb, raises

from lwm2m import parse, tlv
from lwm2m.errors import BadRequest, CodecError
from lwm2m.tlv import MULTI_RES, OBJ_INST, RES, RES_INST


def _plain(nodes):
    """Nodes with memoryview payloads turned into bytes, for comparison."""
    out = []
    for kind, ident, payload in nodes:
        if isinstance(payload, list):
            out.append((kind, ident, _plain(payload)))
        else:
            out.append((kind, ident, bytes(payload)))
    return out


def _roundtrip(data):
    nodes = parse.tlv_decode(data)
    assert tlv.encode(nodes) == data
    return nodes


# --- Wakaama vectors (shared/vectors/tlv-wakaama-tests.txt) ---

def test_v1_resource_inline_length():
    data = hexb("C3 37 01 02 03")
    nodes = _roundtrip(data)
    assert _plain(nodes) == [(RES, 55, b"\x01\x02\x03")]
    raises(CodecError, parse.tlv_decode, data[:4])


def test_v2_instance_16bit_id_8bit_length():
    data = hexb("28 02 03 09 01 02 03 04 05 06 07 08 09")
    # as a header-only test the 9 bytes are not valid children; check the header through a RES
    hdr = parse.tlv_decode(hexb("E8 02 03 09 01 02 03 04 05 06 07 08 09"))
    assert _plain(hdr) == [(RES, 0x203, bytes(range(1, 10)))]
    assert tlv.encode(hdr) == hexb("E8 02 03 09 01 02 03 04 05 06 07 08 09")
    raises(CodecError, parse.tlv_decode, data)  # 01 02.. as children: instance in instance
    raises(CodecError, parse.tlv_decode, hexb("E8 02 03 09 01 02 03 04 05 06 07 08"))


def test_v3_16bit_length_field():
    # same header as V3 (90 21 01 90) but as a resource with value so the 400 bytes are a payload
    data = hexb("D0 21 01 90") + bytes(400)
    nodes = _roundtrip(data)
    assert nodes[0][0] == RES and nodes[0][1] == 33 and len(nodes[0][2]) == 400
    raises(CodecError, parse.tlv_decode, data[:403])
    # V3 itself: a multiple resource whose 400 zero bytes parse as an object instance -> refused
    raises(CodecError, parse.tlv_decode, hexb("90 21 01 90") + bytes(400))


def test_v4_instance_with_two_resources():
    data = hexb("28 02 03 11 C3 37 01 02 03 C8 42 09 04 05 06 07 08 09 0A 0B 0C")
    nodes = _roundtrip(data)
    assert _plain(nodes) == [(OBJ_INST, 0x203, [
        (RES, 55, b"\x01\x02\x03"),
        (RES, 66, bytes(range(4, 13))),
    ])]


def test_v5_instance_multi_resource_instances():
    ri1 = hexb("04 05 06 07 08 09") + bytes(154)
    data = hexb("08 0B AB 88 4D A8 43 00 01 02 03 48 01 A0") + ri1
    assert len(data) == 174
    nodes = _roundtrip(data)
    assert _plain(nodes) == [(OBJ_INST, 11, [(MULTI_RES, 77, [
        (RES_INST, 0, b"\x01\x02\x03"),
        (RES_INST, 1, ri1),
    ])])]


def test_v6_serializer_output():
    ri0 = hexb("05 06 07 08") + bytes(166)
    nodes = [(OBJ_INST, 3, [
        (RES, 66, hexb("01 02 03 04")),
        (MULTI_RES, 77, [(RES_INST, 0, ri0)]),
    ])]
    want = hexb("08 03 B6 C4 42 01 02 03 04 88 4D AD 48 00 AA") + ri0
    assert len(want) == 185
    assert tlv.encode(nodes) == want
    assert tlv.size(nodes) == 185
    assert _plain(parse.tlv_decode(want)) == nodes


def test_v7_three_instances_integer():
    data = hexb("03 0A C1 01 14 03 0B C1 01 15 03 0C C1 01 16")
    nodes = _roundtrip(data)
    assert [(k, i, parse.tlv_decode_value("i", p[0][2])) for k, i, p in nodes] == \
        [(OBJ_INST, 10, 20), (OBJ_INST, 11, 21), (OBJ_INST, 12, 22)]
    built = [tlv.instance_node(iid, [(1, "i", v)]) for iid, v in ((10, 20), (11, 21), (12, 22))]
    assert tlv.encode(built) == data


_WAKAAMA_DEVICE = hexb(
    "C8 00 14 4F 70 65 6E 20 4D 6F 62 69 6C 65 20 41 6C 6C 69 61 6E 63 65"
    "C8 01 16 4C 69 67 68 74 77 65 69 67 68 74 20 4D 32 4D 20 43 6C 69 65 6E 74"
    "C8 02 09 33 34 35 30 30 30 31 32 33"
    "C3 03 31 2E 30"
    "86 06 41 00 01 41 01 05"
    "88 07 08 42 00 0E D8 42 01 13 88"
    "87 08 41 00 7D 42 01 03 84"
    "C1 09 64"
    "C1 0A 0F"
    "83 0B 41 00 00"
    "C4 0D 51 82 42 8F"
    "C6 0E 2B 30 32 3A 30 30"
    "C1 0F 55")


def test_v8_wakaama_device_roundtrip():
    assert len(_WAKAAMA_DEVICE) == 121
    nodes = _roundtrip(_WAKAAMA_DEVICE)
    assert len(nodes) == 13
    assert parse.tlv_decode_value("s", nodes[0][2]) == "Open Mobile Alliance"
    assert parse.tlv_decode_value("t", nodes[10][2]) == 1367491215
    assert (nodes[12][1], parse.tlv_decode_value("s", nodes[12][2])) == (15, "U")


def test_v9_integer_values():
    assert parse.tlv_decode_value("i", hexb("ED CC")) == -0x1234
    assert parse.tlv_decode_value("i", hexb("7F 34 56 78 91 22 33 44")) == 0x7F34567891223344
    assert tlv.encode_value("i", -0x1234) == hexb("ED CC")
    assert tlv.encode_value("i", 0x7F34567891223344) == hexb("7F 34 56 78 91 22 33 44")
    # unsigned 0x8F34.. does not fit a signed 64-bit integer
    raises(CodecError, tlv.encode_value, "i", 0x8F34567891223344)


def test_v10_boolean_values():
    assert parse.tlv_decode_value("b", hexb("00")) is False
    assert parse.tlv_decode_value("b", hexb("01")) is True
    assert tlv.encode_value("b", True) == b"\x01"
    assert tlv.encode_value("b", False) == b"\x00"


_APPENDIX = (
    ("i", 12, "C1 01 0C"), ("i", -12, "C1 01 F4"), ("i", 255, "C2 01 00 FF"),
    ("i", 1000, "C2 01 03 E8"), ("i", -1000, "C2 01 FC 18"), ("i", 65535, "C4 01 00 00 FF FF"),
    ("i", 3000000, "C4 01 00 2D C6 C0"), ("i", -3000000, "C4 01 FF D2 39 40"),
    ("i", 4294967295, "C8 01 08 00 00 00 00 FF FF FF FF"),
    ("i", 7000000000, "C8 01 08 00 00 00 01 A1 3B 86 00"),
    ("i", -7000000000, "C8 01 08 FF FF FF FE 5E C4 7A 00"),
    ("i", 0, "C1 01 00"), ("i", 127, "C1 01 7F"), ("i", 128, "C2 01 00 80"),
    ("i", -128, "C1 01 80"), ("i", -129, "C2 01 FF 7F"), ("i", 32767, "C2 01 7F FF"),
    ("i", 32768, "C4 01 00 00 80 00"),
    ("f", 4e38, "C8 01 08 47 F2 CE D3 2A 16 A1 B1"),
    ("f", -4e38, "C8 01 08 C7 F2 CE D3 2A 16 A1 B1"),
    ("f", 1.5, "C4 01 3F C0 00 00"), ("f", 0.0, "C4 01 00 00 00 00"),
    ("b", True, "C1 01 01"), ("b", False, "C1 01 00"), ("s", "abc", "C3 01 61 62 63"),
    ("l", (66, 1), "C4 01 00 42 00 01"),
)


def test_appendix_single_resources():
    for typ, value, want in _APPENDIX:
        data = tlv.encode([tlv.resource_node(1, typ, value)])
        assert data == hexb(want), (typ, value)
        (node,) = parse.tlv_decode(data)
        assert parse.tlv_decode_value(typ, node[2]) == value


def test_appendix_16bit_id_and_16bit_length():
    assert tlv.encode([tlv.resource_node(300, "i", 5)]) == hexb("E1 01 2C 05")
    data = tlv.encode([tlv.resource_node(2, "o", b"\xab" * 300)])
    assert data == hexb("D0 02 01 2C") + b"\xab" * 300


def test_float_not_exact_in_float32_uses_8_bytes():
    # Wakaama sends 3.14 as 4 bytes and loses precision; we keep it exact
    assert tlv.encode_value("f", 3.14) == hexb("40 09 1E B8 51 EB 85 1F")
    assert parse.tlv_decode_value("f", hexb("40 48 F5 C3")) != 3.14
    assert parse.tlv_decode_value("f", tlv.encode_value("f", -21.7)) == -21.7
    assert tlv.encode_value("f", 21) == hexb("41 A8 00 00")


# --- LwM2M 1.0 TS, TLV examples, Device object /3/0 ---

_SPEC_DEVICE = (
    (0, "s", "Open Mobile Alliance"),
    (1, "s", "Lightweight M2M Client"),
    (2, "s", "345000123"),
    (3, "s", "1.0"),
    (6, "i", {0: 1, 1: 5}),
    (7, "i", {0: 3800, 1: 5000}),
    (8, "i", {0: 125, 1: 900}),
    (9, "i", 100),
    (10, "i", 15),
    (11, "i", {0: 0}),
    (13, "t", 1367491215),
    (14, "s", "+02:00"),
    (16, "s", "U"),
)


def _spec_device_bytes():
    # built from the TS text: header, id, (length,) value per resource
    def s(rid, text):
        b = text.encode()
        return (bytes((0xC8, rid, len(b))) if len(b) >= 8 else bytes((0xC0 | len(b), rid))) + b

    return (s(0, "Open Mobile Alliance") + s(1, "Lightweight M2M Client") + s(2, "345000123")
            + s(3, "1.0")
            + hexb("86 06 41 00 01 41 01 05")
            + hexb("88 07 08 42 00 0E D8 42 01 13 88")
            + hexb("87 08 41 00 7D 42 01 03 84")
            + hexb("C1 09 64") + hexb("C1 0A 0F") + hexb("83 0B 41 00 00")
            + hexb("C4 0D 51 82 42 8F") + s(14, "+02:00") + hexb("C1 10 55"))


def test_spec_device_object_single_instance():
    want = _spec_device_bytes()
    assert len(want) == 121
    assert want[:14] == hexb("C8 00 14 4F 70 65 6E 20 4D 6F 62 69 6C 65")
    inst = tlv.instance_node(0, _SPEC_DEVICE)
    # a read of /3/0 carries the resources without the instance wrapper
    assert tlv.encode(inst[2]) == want
    # a read of /3 wraps them in an object instance: 08 00 79
    assert tlv.encode([inst]) == hexb("08 00 79") + want
    nodes = parse.tlv_decode(want)
    got = []
    for kind, rid, payload in nodes:
        typ = [t for r, t, _ in _SPEC_DEVICE if r == rid][0]
        if kind == MULTI_RES:
            got.append((rid, typ, {ri: parse.tlv_decode_value(typ, p) for _, ri, p in payload}))
        else:
            got.append((rid, typ, parse.tlv_decode_value(typ, payload)))
    assert tuple(got) == _SPEC_DEVICE


def test_spec_multiple_instance_resource():
    # Read /3/0/6 (Available Power Sources) -> 86 06 41 00 01 41 01 05
    data = hexb("86 06 41 00 01 41 01 05")
    assert tlv.encode([tlv.resource_node(6, "i", {0: 1, 1: 5})]) == data
    assert _plain(parse.tlv_decode(data)) == [(MULTI_RES, 6, [(RES_INST, 0, b"\x01"),
                                                       (RES_INST, 1, b"\x05")])]


def test_decode_payloads_are_views():
    buf = bytearray(hexb("C3 37 01 02 03"))
    (node,) = parse.tlv_decode(buf)
    assert isinstance(node[2], memoryview)
    buf[2] = 9
    assert bytes(node[2]) == b"\x09\x02\x03"


def test_encode_into():
    buf = bytearray(10)
    end = tlv.encode_into(buf, 2, [(RES, 1, b"ab")])
    assert end == 6 and bytes(buf[2:6]) == hexb("C2 01 61 62")
    raises(CodecError, tlv.encode_into, bytearray(5), 2, [(RES, 1, b"ab")])
    raises(CodecError, tlv.encode_into, bytearray(3), 0, [(RES, 1, b"ab")])


def test_length_fields_chosen_shortest():
    for n, hdr in ((7, "C7 01"), (8, "C8 01 08"), (255, "C8 01 FF"), (256, "D0 01 01 00"),
                   (65535, "D0 01 FF FF"), (65536, "D8 01 01 00 00")):
        data = tlv.encode([(RES, 1, bytes(n))])
        assert data[:len(hexb(hdr))] == hexb(hdr), n
        assert len(data) == len(hexb(hdr)) + n
        assert len(parse.tlv_decode(data)[0][2]) == n


def test_empty_payload():
    assert parse.tlv_decode(b"") == []
    assert tlv.encode([]) == b""
    assert _plain(parse.tlv_decode(hexb("C0 05"))) == [(RES, 5, b"")]
    assert _plain(parse.tlv_decode(hexb("00 01"))) == [(OBJ_INST, 1, [])]


# --- bad input ---

def test_truncated():
    for data in ("C3", "C3 37", "C3 37 01 02", "E3 01", "C8 01", "D0 01 01", "D8 01 00 00",
                 "08 00 05 C3 01 61"):
        e = raises(CodecError, parse.tlv_decode, hexb(data))
        assert isinstance(e, BadRequest) and e.code == 0x80


def test_length_past_end_of_parent():
    # the child claims 4 bytes but its instance holds 3
    raises(CodecError, parse.tlv_decode, hexb("08 00 05 C4 01 61 62 63 00"))
    # 24-bit length field far past the end
    raises(CodecError, parse.tlv_decode, hexb("D8 01 FF FF FF 00"))
    # trailing half TLV inside a container
    raises(CodecError, parse.tlv_decode, hexb("08 00 04 C1 01 05 C1"))


def test_nesting_abuse():
    raises(CodecError, parse.tlv_decode, hexb("00 00 02 00 00"))  # instance in instance
    raises(CodecError, parse.tlv_decode, hexb("00 00 03 41 00 01"))  # res. instance in instance
    raises(CodecError, parse.tlv_decode, hexb("82 06 80 00"))  # multi in multi
    raises(CodecError, parse.tlv_decode, hexb("83 06 C1 00 01"))  # resource in multi
    raises(CodecError, parse.tlv_decode, hexb("83 06 01 00 00"))  # instance in multi
    # deep chain of object instances
    data = b""
    for _ in range(50):
        data = bytes((0x08, 0, len(data))) + data
    raises(CodecError, parse.tlv_decode, data)
    raises(CodecError, tlv.encode, [(OBJ_INST, 0, [(OBJ_INST, 1, [])])])
    raises(CodecError, tlv.encode, [(MULTI_RES, 0, [(RES, 1, b"")])])


def test_bad_values():
    for n in (0, 3, 5, 6, 7, 9):
        raises(CodecError, parse.tlv_decode_value, "i", bytes(n))
        raises(CodecError, parse.tlv_decode_value, "t", bytes(n))
    for n in (0, 1, 2, 3, 5, 7, 16):
        raises(CodecError, parse.tlv_decode_value, "f", bytes(n))
    for b in ("02", "FF", "", "00 00"):
        raises(CodecError, parse.tlv_decode_value, "b", hexb(b))
    for b in ("FF", "C3 28", "E2 82", "80"):
        raises(CodecError, parse.tlv_decode_value, "s", hexb(b))
    for n in (0, 2, 3, 5, 8):
        raises(CodecError, parse.tlv_decode_value, "l", bytes(n))
    raises(CodecError, parse.tlv_decode_value, "?", b"")
    raises(CodecError, tlv.encode_value, "l", (70000, 0))
    raises(CodecError, tlv.encode, [(RES, 70000, b"")])


def test_value_types():
    assert tlv.encode_value("s", "é") == b"\xc3\xa9"
    assert parse.tlv_decode_value("s", memoryview(b"\xc3\xa9")) == "é"
    assert parse.tlv_decode_value("o", memoryview(b"\x00\xff")) == b"\x00\xff"
    assert parse.tlv_decode_value("l", hexb("00 03 00 00")) == (3, 0)
    assert tlv.encode_value("t", 1367491215) == hexb("51 82 42 8F")
    assert tlv.encode_value("e", None) == b""
    assert parse.tlv_decode_value("e", memoryview(b"")) is None
    assert parse.tlv_decode_value("i", hexb("FF FF FF FF")) == -1
    assert parse.tlv_decode_value("f", hexb("3F C0 00 00")) == 1.5
    assert parse.tlv_decode_value("f", hexb("3F F8 00 00 00 00 00 00")) == 1.5
