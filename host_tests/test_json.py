"""LwM2M 1.0 JSON (11543): encode (lwm2m.json), decode and coerce (lwm2m.parsejson), bad input."""
from util import raises

from lwm2m import json as ljson
from lwm2m import parsejson as pjson
from lwm2m.errors import CodecError

_DEVICE = [
    ("0", "s", "Open Mobile Alliance"),
    ("1", "s", "Lightweight M2M Client"),
    ("2", "s", "345000123"),
    ("3", "s", "1.0"),
    ("6/0", "i", 1), ("6/1", "i", 5),
    ("7/0", "i", 3800), ("7/1", "i", 5000),
    ("8/0", "i", 125), ("8/1", "i", 900),
    ("9", "i", 100), ("10", "i", 15), ("11/0", "i", 0),
    ("13", "t", 1367491215),
    ("14", "s", "+02:00"),
    ("16", "s", "U"),
]

_DEVICE_JSON = (
    b'{"bn":"/3/0/","e":['
    b'{"n":"0","sv":"Open Mobile Alliance"},{"n":"1","sv":"Lightweight M2M Client"},'
    b'{"n":"2","sv":"345000123"},{"n":"3","sv":"1.0"},'
    b'{"n":"6/0","v":1},{"n":"6/1","v":5},{"n":"7/0","v":3800},{"n":"7/1","v":5000},'
    b'{"n":"8/0","v":125},{"n":"8/1","v":900},{"n":"9","v":100},{"n":"10","v":15},'
    b'{"n":"11/0","v":0},{"n":"13","v":1367491215},{"n":"14","sv":"+02:00"},'
    b'{"n":"16","sv":"U"}]}')


def test_encode_device_example():
    assert ljson.encode("/3/0/", _DEVICE) == _DEVICE_JSON


def test_decode_device_example_as_printed_in_ts():
    # the TS prints it spread over lines with spaces
    data = _DEVICE_JSON.replace(b",{", b",\n  {").replace(b'":', b'": ')
    got = pjson.decode(data, (3, 0))
    assert got[0] == ((3, 0, 0), "sv", "Open Mobile Alliance")
    assert got[4] == ((3, 0, 6, 0), "v", 1)
    assert got[13] == ((3, 0, 13), "v", 1367491215)
    assert got[-1] == ((3, 0, 16), "sv", "U")
    assert len(got) == len(_DEVICE)


def test_all_kinds_roundtrip():
    entries = [("1", "f", 21.7), ("2", "b", True), ("3", "b", False), ("4", "l", (3, 0)),
               ("5", "o", b"\x00\x01\xfe\xff"), ("6", "s", 'q"\\\n\u00e9'), ("7", "i", -12)]
    data = ljson.encode("/9/0/", entries)
    assert data == (b'{"bn":"/9/0/","e":[{"n":"1","v":21.7},{"n":"2","bv":true},'
                    b'{"n":"3","bv":false},{"n":"4","ov":"3:0"},{"n":"5","sv":"AAH+/w=="},'
                    b'{"n":"6","sv":"q\\"\\\\\\u000a\xc3\xa9"},{"n":"7","v":-12}]}')
    got = pjson.decode(data, (9, 0))
    assert [k for _, k, _ in got] == ["v", "bv", "bv", "ov", "sv", "sv", "v"]
    values = [pjson.coerce(t, k, v) for (_, t, _), (_, k, v) in zip(entries, got)]
    assert values == [v for _, _, v in entries]


def test_no_base_name_uses_request_path():
    data = ljson.encode(None, [("0", "i", 3800), ("1", "i", 5000)])
    assert data == b'{"e":[{"n":"0","v":3800},{"n":"1","v":5000}]}'
    assert pjson.decode(data, (3, 0, 7)) == [((3, 0, 7, 0), "v", 3800),
                                             ((3, 0, 7, 1), "v", 5000)]


def test_empty_name_is_the_base():
    data = ljson.encode("/3/0/9", [("", "i", 100)])
    assert data == b'{"bn":"/3/0/9","e":[{"v":100}]}'
    assert pjson.decode(data, (3, 0, 9)) == [((3, 0, 9), "v", 100)]


def test_bn_absolute_overrides_request_path():
    got = pjson.decode(b'{"bn":"/1/0/","e":[{"n":"1","v":300}]}', (1, 0))
    assert got == [((1, 0, 1), "v", 300)]
    got = pjson.decode(b'{"bn":"/","e":[{"n":"1/0/1","v":300}]}', ())
    assert got == [((1, 0, 1), "v", 300)]


def test_coerce():
    assert pjson.coerce("i", "v", 5.0) == 5
    assert pjson.coerce("f", "v", 5) == 5.0
    assert pjson.coerce("t", "v", 1367491215) == 1367491215
    raises(CodecError, pjson.coerce, "i", "v", 5.5)
    raises(CodecError, pjson.coerce, "i", "v", 1 << 63)
    raises(CodecError, pjson.coerce, "i", "v", 1e30)
    raises(CodecError, pjson.coerce, "i", "sv", "5")
    raises(CodecError, pjson.coerce, "s", "v", 5)
    raises(CodecError, pjson.coerce, "b", "v", 1)
    raises(CodecError, pjson.coerce, "l", "sv", "3:0")
    for bad in ("@@@@", "abc", "AA=A", "A===", "AA\nA", "===="[:3]):
        raises(CodecError, pjson.coerce, "o", "sv", bad)
    assert pjson.coerce("o", "sv", "") == b""
    assert pjson.coerce("o", "sv", "AAH+/w==") == b"\x00\x01\xfe\xff"
    raises(CodecError, pjson.coerce, "o", "v", 1)


def test_bad_input():
    for data in (b"", b"[]", b"1", b'"x"', b"{", b'{"bn":"/3/0/"}', b'{"e":{}}',
                 b'{"e":[1]}', b'{"e":[{"n":"a","v":1}]}', b'{"e":[{"n":"1"}]}',
                 b'{"e":[{"n":"1","v":1,"sv":"x"}]}', b'{"e":[{"n":"1","v":"1"}]}',
                 b'{"e":[{"n":"1","v":true}]}', b'{"e":[{"n":"1","bv":1}]}',
                 b'{"e":[{"n":"1","sv":1}]}', b'{"e":[{"n":"1","ov":"3"}]}',
                 b'{"e":[{"n":1,"v":1}]}', b'{"bn":3,"e":[]}', b'{"e":[{"n":"70000","v":1}]}',
                 b'{"e":[{"n":"1/2/3/4/5","v":1}]}', b'{"e":[{"n":"-1","v":1}]}',
                 b'\xff', b'{"e":[{"n":"1","v":NaN}]}', b'{"e":[{"n":"1","v":Infinity}]}'):
        raises(CodecError, pjson.decode, data, (3, 0))


def test_encode_rejects():
    raises(CodecError, ljson.encode, "/3/0/", [("4", "e", None)])
    raises(CodecError, ljson.encode, "/3/0/", [("1", "f", float("inf"))])
