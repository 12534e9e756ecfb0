# CoAP codec: byte-exact vectors (RFC 7252 appendix A style and our own) and malformed input.
from coap import msg as M
import coapnums as CN
from util import hexb, raises

# option numbers coap.msg only lists (no user in lib/)
IF_MATCH = 1
ETAG = 4
MAX_AGE = 14
PROXY_URI = 35


def test_empty_ack_exact():
    m = M.Message(CN.ACK, CN.EMPTY, 0x7D34)
    assert m.encode() == hexb("60 00 7D 34")


def test_get_with_path_exact():
    # RFC 7252 A.1-like: CON GET /temperature, mid 0x7d34, no token
    m = M.Message(M.CON, M.GET, 0x7D34).set_path("/temperature")
    assert m.encode() == hexb("40 01 7D 34 BB") + b"temperature"


def test_piggybacked_content_exact():
    m = M.Message(CN.ACK, M.CONTENT, 0x7D34, token=b"\x71", payload=b"22.3 C")
    assert m.encode() == hexb("61 45 7D 34 71 FF") + b"22.3 C"


def test_extended_delta_and_length():
    # delta 60 (Size1) needs the 13 form; a 300-byte value needs the 14 form
    m = M.Message(M.CON, M.PUT, 1, token=b"ab")
    m.add(CN.SIZE1, 1024)
    m.add(PROXY_URI, b"x" * 300)
    raw = m.encode()
    # Proxy-Uri (35): delta 35 -> 13+22; length 300 -> 14, 300-269 = 31
    assert raw[6] == 0xDE and raw[7] == 22 and raw[8:10] == bytes((0, 31))
    d = M.decode(raw)
    assert d.opt(PROXY_URI) == b"x" * 300
    assert d.uint(CN.SIZE1) == 1024
    assert d.token == b"ab" and d.code == M.PUT and d.mid == 1


def test_roundtrip_all_options():
    m = M.Message(CN.NON, M.POST, 0xFFFF, token=bytes(range(8)), payload=b"\x00\x01")
    m.set_path("rd/abc").add(M.URI_QUERY, "ep=node-1").add(M.URI_QUERY, "lt=300")
    m.add(M.CONTENT_FORMAT, 11542).add(M.ACCEPT, 40).add(M.OBSERVE, 0)
    m.add(M.BLOCK1, M.block_value(3, True, 2)).add(CN.BLOCK2, M.block_value(0, False, 6))
    m.add(ETAG, b"\x01\x02").add(IF_MATCH, b"").add(MAX_AGE, 60).add(CN.SIZE2, 70000)
    m.add(M.LOCATION_PATH, "rd").add(M.LOCATION_PATH, "5")
    raw = m.encode()
    buf = bytearray(len(raw) + 3)  # encode() sized its buffer to exactly what encode_into wrote
    assert m.encode_into(buf) == len(raw) and buf[:len(raw)] == raw
    d = M.decode(raw)
    assert d.type == CN.NON and d.mid == 0xFFFF and d.token == bytes(range(8))
    assert d.path() == ["rd", "abc"] and d.query() == ["ep=node-1", "lt=300"]
    assert d.uint(M.CONTENT_FORMAT) == 11542 and d.uint(M.ACCEPT) == 40
    assert d.uint(M.OBSERVE) == 0 and d.opt(M.OBSERVE) == b""
    assert M.block_parts(d.uint(M.BLOCK1)) == (3, True, 2)
    assert M.block_parts(d.uint(CN.BLOCK2)) == (0, False, 6)
    assert d.uint(CN.SIZE2) == 70000 and [bytes(v) for v in d.all(M.LOCATION_PATH)] == [b"rd", b"5"]
    assert bytes(d.payload) == b"\x00\x01"
    assert d.encode() == raw


def test_payload_is_a_view_not_a_copy():
    raw = bytearray(M.Message(M.CON, M.PUT, 2, payload=b"hello").encode())
    d = M.decode(raw)
    assert isinstance(d.payload, memoryview)
    raw[-1] = ord("O")
    assert bytes(d.payload) == b"hellO"


def test_uint_minimal():
    def enc(v):
        return M.Message().add(CN.SIZE1, v).opt(CN.SIZE1)

    assert enc(0) == b"" and enc(255) == b"\xff"
    assert enc(256) == b"\x01\x00" and enc(0x10000) == b"\x01\x00\x00"
    m = M.Message()
    m.opts.append((CN.SIZE1, b"\x01\x00\x00"))
    assert m.uint(CN.SIZE1) == 0x10000


def test_malformed():
    bad = [
        b"", b"\x40\x01\x00", hexb("00 01 00 01"), hexb("80 01 00 01"),  # short, bad version
        hexb("49 01 00 01") + bytes(9),  # token length 9
        hexb("44 01 00 01 01 02"),  # truncated token
        hexb("40 01 00 01 FF"),  # marker without payload
        hexb("40 01 00 01 F0"),  # delta nibble 15 (not the marker)
        hexb("40 01 00 01 1F"),  # length nibble 15
        hexb("40 01 00 01 D1"),  # delta 13 with no extended byte
        hexb("40 01 00 01 E1 00"),  # delta 14 truncated
        hexb("40 01 00 01 13 61"),  # value runs past the end
        hexb("40 00 00 01 FF 00"),  # empty message with payload
        hexb("40 20 00 01"),  # reserved class 1
        hexb("40 E0 00 01"),  # reserved class 7
    ]
    for b in bad:
        e = raises(M.DecodeError, M.decode, b)
        assert isinstance(e, ValueError)
