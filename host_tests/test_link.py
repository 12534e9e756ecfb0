"""CoRE link format: lwm2m.link encodes, lwm2m.linkdecode decodes; Write-Attributes checks."""
from util import raises

from lwm2m import link, linkdecode
from lwm2m.errors import CodecError


def test_encode_registration_payload():
    links = [("/1/0", []), ("/3/0", []), ("/5/0", [])]
    assert link.encode(links) == b"</1/0>,</3/0>,</5/0>"
    assert link.encode([]) == b""


def test_encode_attrs_no_spaces():
    assert link.encode([("/3/0", [("pmin", 10)]), ("/5", [])]) == b"</3/0>;pmin=10,</5>"
    assert link.encode([("/", [("rt", "oma.lwm2m"), ("ct", 11543)])]) == \
        b'</>;rt="oma.lwm2m";ct=11543'
    assert link.encode([("/3/0/7", [("dim", 2), ("gt", 21.7), ("obs", None)])]) == \
        b"</3/0/7>;dim=2;gt=21.7;obs"
    assert link.encode([("/x", [("t", 'a"b\\c')])]) == b'</x>;t="a\\"b\\\\c"'


def test_decode_simple():
    assert linkdecode.decode(b"</1/0>,</3/0>") == [("/1/0", {}), ("/3/0", {})]
    assert linkdecode.decode(b"") == []
    assert linkdecode.decode(memoryview(b"  ")) == []


def test_decode_attrs_whitespace_quotes():
    got = linkdecode.decode(b' </> ; rt="oma.lwm2m" ; ct=11543 ,\n </3/0/7>;dim=2;obs;t="a,b;c"')
    assert got == [("/", {"rt": "oma.lwm2m", "ct": "11543"}),
                   ("/3/0/7", {"dim": "2", "obs": None, "t": "a,b;c"})]
    assert linkdecode.decode(b'</x>;t="a\\"b\\\\c"') == [("/x", {"t": 'a"b\\c'})]


def test_decode_discover_example():
    # LwM2M 1.0 TS 5.4.2 style Discover answer
    data = (b"</3/0>;pmin=10,</3/0/1>,</3/0/2>,</3/0/3>,</3/0/4>,</3/0/6>;dim=8,"
            b"</3/0/7>;gt=50;lt=42.2")
    got = linkdecode.decode(data)
    assert len(got) == 7
    assert got[0] == ("/3/0", {"pmin": "10"})
    assert got[5] == ("/3/0/6", {"dim": "8"})
    assert got[6] == ("/3/0/7", {"gt": "50", "lt": "42.2"})


def test_decode_garbage():
    for b in (b"garbage", b"</1/0", b"</1/0>x", b"</1/0>,", b"</1/0>;", b"</1/0>;=3",
              b'</1/0>;a="x', b"</1/0>,,</2>", b"</1>;a=1 b", b"\xff", b"</1>;a=\"b\"c"):
        raises(CodecError, linkdecode.decode, b)


def test_parse_attrs_ok():
    assert link.parse_attrs([]) == {}
    got = link.parse_attrs(["pmin=10", "pmax=60", "gt=50", "lt=42.2", "st=1.5"])
    assert got == {"pmin": 10, "pmax": 60, "gt": 50.0, "lt": 42.2, "st": 1.5}
    assert link.parse_attrs([b"cancel"]) == {"cancel": True}
    assert link.parse_attrs(["pmin=5", "pmax=5"]) == {"pmin": 5, "pmax": 5}
    assert link.parse_attrs(["lt=20", "gt=85", "st=10"]) == {"lt": 20.0, "gt": 85.0, "st": 10.0}
    # a threshold below zero is meaningful for RSSI (dBm)
    assert link.parse_attrs(["gt=-80"]) == {"gt": -80.0}
    assert link.parse_attrs([memoryview(b"pmax=0")]) == {"pmax": 0}


def test_parse_attrs_rejects():
    for q in (["foo=1"], ["pmin=-1"], ["pmax=-5"], ["pmin=abc"], ["pmin=1.5"], ["pmin="],
              ["pmin"], ["gt=abc"], ["gt="], ["lt"], ["st=-1"], ["cancel=1"], ["pmin=+3"],
              ["pmin=20", "pmax=10"], ["lt=20", "gt=40", "st=10"], ["lt=20", "gt=30", "st=6"],
              ["pmin=1", "pmin=2"], ["gt=nan"], ["gt=inf"], [b"\xff=1"], ["ep=x"]):
        raises(CodecError, link.parse_attrs, q)


def test_parse_attrs_lt_gt_step_boundary():
    # lt + 2*st < gt: 20 + 2*10 = 40 is not < 40, 20 + 2*9.5 = 39 is
    raises(CodecError, link.parse_attrs, ["lt=20", "gt=40", "st=10"])
    assert link.parse_attrs(["lt=20", "gt=40", "st=9.5"])["st"] == 9.5
    # only two of the three: no relation enforced (1.0 does not require lt < gt)
    assert link.parse_attrs(["lt=50", "gt=40"]) == {"lt": 50.0, "gt": 40.0}
