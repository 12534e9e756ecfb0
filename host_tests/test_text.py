"""Plain text (0) and opaque (42) codecs: same bytes under both interpreters, strict decoding."""
from util import raises

from lwm2m import parse, text
from lwm2m.errors import CodecError, NotAcceptable


def test_spec_plain_text_example():
    # LwM2M 1.0 TS: GET /3/0/0 -> "Open Mobile Alliance"
    assert text.encode("s", "Open Mobile Alliance") == b"Open Mobile Alliance"
    assert parse.text_decode("s", memoryview(b"Open Mobile Alliance")) == "Open Mobile Alliance"


def test_integers_and_time():
    for v, b in ((0, b"0"), (42, b"42"), (-5, b"-5"), (1367491215, b"1367491215"),
                 (-9223372036854775808, b"-9223372036854775808")):
        assert text.encode("i", v) == b
        assert parse.text_decode("i", memoryview(b)) == v
    assert text.encode("t", 1367491215) == b"1367491215"
    assert parse.text_decode("t", b"1367491215") == 1367491215
    assert parse.text_decode("i", b"+7") == 7


def test_floats_identical_bytes_both_interpreters():
    # fixed expectations: a repr()-based encoder gives other bytes on one of the interpreters
    for v, b in ((1.5, b"1.5"), (3.3, b"3.3"), (21.7, b"21.7"), (-0.25, b"-0.25"), (0.1, b"0.1"),
                 (100.0, b"100"), (1e20, b"1e+20"), (2.5e-7, b"2.5e-07"), (0.0, b"0"),
                 (123456.789, b"123456.789")):
        assert text.encode("f", v) == b, (v, text.encode("f", v))
        assert parse.text_decode("f", b) == v
    assert text.encode("f", 3) == b"3"
    assert parse.text_decode("f", b"3") == 3.0
    assert parse.text_decode("f", b"-1.25e2") == -125.0
    assert parse.text_decode("f", text.encode("f", 1 / 3)) == 1 / 3


def test_boolean():
    assert text.encode("b", True) == b"1"
    assert text.encode("b", False) == b"0"
    assert parse.text_decode("b", b"1") is True
    assert parse.text_decode("b", b"0") is False


def test_objlnk():
    assert text.encode("l", (3, 0)) == b"3:0"
    assert text.encode("l", (65535, 65535)) == b"65535:65535"
    assert parse.text_decode("l", memoryview(b"3:0")) == (3, 0)
    assert parse.text_decode("l", b"66:1") == (66, 1)


def test_string_utf8():
    assert text.encode("s", "°C") == b"\xc2\xb0C"
    assert parse.text_decode("s", b"\xc2\xb0C") == "°C"
    assert parse.text_decode("s", b"") == ""


def test_opaque():
    # opaque (42) passes the bytes as they are, through lwm2m.content both ways
    from lwm2m import content as ct
    from lwm2m.model import Obj, object_def, resource

    assert ct.encode(ct.OPAQUE, 9, [9, 0, 0], ("o", b"\x00\xff")) == b"\x00\xff"
    assert ct.encode(ct.OPAQUE, 9, [9, 0, 0], ("o", bytearray(b"ab"))) == b"ab"
    o = Obj(object_def(9, None, (resource(0, None, "RW", "o"),)))
    buf = bytearray(b"\x01\x02")
    v = ct.decode(o, [9, 0, 0], ct.OPAQUE, memoryview(buf))[0][1][0][1]
    buf[0] = 9
    assert v == b"\x01\x02"  # a copy: the receive buffer gets reused
    raises(NotAcceptable, text.encode, "o", b"x")
    raises(CodecError, parse.text_decode, "o", b"x")


def test_junk_rejected():
    for b in (b"", b"abc", b"1.5", b"1e3", b"0x10", b"1_000", b"--1", b"+", b"1 2", b"\xff",
              b"9223372036854775808", b"-9223372036854775809"):
        raises(CodecError, parse.text_decode, "i", b)
    for b in (b"", b"abc", b"nan", b"inf", b"1.2.3", b"1_0.5", b"-", b"e", b"\xff", b"1,5"):
        raises(CodecError, parse.text_decode, "f", b)
    for b in (b"", b"2", b"true", b"false", b"01", b"yes", b" 1"):
        raises(CodecError, parse.text_decode, "b", b)
    for b in (b"", b"3", b"3:", b":0", b"a:b", b"3:0:1", b"-1:0", b"70000:0", b"3:-0", b"3;0"):
        raises(CodecError, parse.text_decode, "l", b)
    for b in (b"\xff", b"\xc3\x28", b"\xe2\x82"):
        raises(CodecError, parse.text_decode, "s", b)
    raises(CodecError, parse.text_decode, "?", b"1")


def test_executable_empty():
    assert text.encode("e", None) == b""
    assert parse.text_decode("e", b"") is None
