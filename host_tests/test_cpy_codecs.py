"""Property tests (CPython only, hypothesis): TLV, text, link and JSON codec round trips."""
import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from hyp import examples
from lwm2m import json as ljson
from lwm2m import parsejson as pjson
from lwm2m import link, linkdecode, parse, text, tlv
from lwm2m.errors import CodecError

ids = st.integers(0, 0xFFFF)
blobs = st.binary(max_size=300)
res_inst = st.tuples(st.just(tlv.RES_INST), ids, blobs)
multi = st.tuples(st.just(tlv.MULTI_RES), ids, st.lists(res_inst, max_size=4))
res = st.tuples(st.just(tlv.RES), ids, blobs)
obj_inst = st.tuples(st.just(tlv.OBJ_INST), ids, st.lists(st.one_of(res, multi), max_size=4))
top = st.lists(st.one_of(obj_inst, res, multi, res_inst), max_size=4)


def _plain(nodes):
    return [(k, i, _plain(p) if isinstance(p, list) else bytes(p)) for k, i, p in nodes]


@given(top)
@settings(max_examples=examples(300))
def test_tlv_tree_roundtrip(nodes):
    data = tlv.encode(nodes)
    assert len(data) == tlv.size(nodes)
    assert _plain(parse.tlv_decode(data)) == _plain(nodes)
    buf = bytearray(len(data) + 3)
    assert tlv.encode_into(buf, 3, nodes) == len(buf)
    assert bytes(buf[3:]) == data


@given(st.binary(max_size=64))
@settings(max_examples=examples(500))
def test_tlv_decode_never_crashes(data):
    try:
        nodes = parse.tlv_decode(data)
    except CodecError:
        return
    assert parse.tlv_decode(tlv.encode(nodes)) is not None


finite = st.floats(allow_nan=False, allow_infinity=True)
ints64 = st.integers(-(1 << 63), (1 << 63) - 1)
objlnk = st.tuples(ids, ids)
typed = st.one_of(
    st.tuples(st.just("i"), ints64), st.tuples(st.just("t"), ints64),
    st.tuples(st.just("f"), finite), st.tuples(st.just("b"), st.booleans()),
    st.tuples(st.just("s"), st.text(max_size=40)), st.tuples(st.just("o"), blobs),
    st.tuples(st.just("l"), objlnk))


@given(typed)
@settings(max_examples=examples(500))
def test_tlv_value_roundtrip(tv):
    typ, v = tv
    b = tlv.encode_value(typ, v)
    assert parse.tlv_decode_value(typ, memoryview(b)) == v
    if typ in "it":
        # the smallest of 1/2/4/8 signed bytes
        n = len(b)
        assert n in (1, 2, 4, 8)
        if n > 1:
            smaller = {2: 1, 4: 2, 8: 4}[n]
            assert not -(1 << (8 * smaller - 1)) <= v < (1 << (8 * smaller - 1))
    if typ == "f" and len(b) == 8 and abs(v) < 3e38:
        # 8 bytes only when float32 would change the value
        assert struct.unpack(">f", struct.pack(">f", v))[0] != v


@given(st.one_of(
    st.tuples(st.just("i"), ints64), st.tuples(st.just("f"), st.floats(allow_nan=False,
                                                                      allow_infinity=False)),
    st.tuples(st.just("b"), st.booleans()), st.tuples(st.just("s"), st.text(max_size=40)),
    st.tuples(st.just("l"), objlnk)))
@settings(max_examples=examples(500))
def test_text_roundtrip(tv):
    typ, v = tv
    assert parse.text_decode(typ, memoryview(text.encode(typ, v))) == v


@given(st.binary(max_size=32), st.sampled_from("iftbls"))
@settings(max_examples=examples(500))
def test_text_decode_only_codec_errors(data, typ):
    try:
        parse.text_decode(typ, data)
    except CodecError:
        pass


_name = st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=6)
_path = st.lists(st.integers(0, 65535), max_size=4).map(lambda p: "/" + "/".join(map(str, p)))
_aval = st.one_of(st.none(), st.integers(-1000, 100000),
                  st.text(st.characters(blacklist_categories=("Cs",)), max_size=10))
_links = st.lists(st.tuples(_path, st.lists(st.tuples(_name, _aval), max_size=3,
                                            unique_by=lambda a: a[0])), max_size=5)


@given(_links)
@settings(max_examples=examples(300))
def test_link_roundtrip(links):
    got = linkdecode.decode(link.encode(links))
    assert got == [(p, {n: (None if v is None else str(v)) for n, v in a}) for p, a in links]


@given(st.binary(max_size=40))
@settings(max_examples=examples(500))
def test_link_decode_only_codec_errors(data):
    try:
        linkdecode.decode(data)
    except CodecError:
        pass


_jtyped = st.one_of(
    st.tuples(st.just("i"), ints64), st.tuples(st.just("f"), st.floats(allow_nan=False,
                                                                      allow_infinity=False)),
    st.tuples(st.just("b"), st.booleans()), st.tuples(st.just("s"), st.text(max_size=20)),
    st.tuples(st.just("l"), objlnk), st.tuples(st.just("o"), st.binary(max_size=20)))
_rel = st.lists(st.integers(0, 65535), min_size=1, max_size=2).map(lambda p: "/".join(map(str, p)))


@given(st.lists(st.tuples(_rel, _jtyped), max_size=6))
@settings(max_examples=examples(300))
def test_json_roundtrip(items):
    entries = [(n, t, v) for n, (t, v) in items]
    got = pjson.decode(ljson.encode("/3/0/", entries), (9, 9))
    assert len(got) == len(entries)
    for (name, typ, v), (path, kind, raw) in zip(entries, got):
        assert path == (3, 0) + tuple(int(x) for x in name.split("/"))
        assert pjson.coerce(typ, kind, raw) == v


@given(st.binary(max_size=40))
@settings(max_examples=examples(300))
def test_json_decode_only_codec_errors(data):
    try:
        pjson.decode(data, (3, 0))
    except CodecError:
        pass


_jsonish = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=5)),
    lambda kids: st.one_of(st.lists(kids, max_size=3),
                           st.dictionaries(st.sampled_from(["bn", "e", "n", "v", "sv", "bv",
                                                            "ov"]), kids, max_size=4)),
    max_leaves=12)


@given(_jsonish)
@settings(max_examples=examples(500))
def test_json_structured_fuzz_only_codec_errors(doc):
    import json

    try:
        pjson.decode(json.dumps(doc).encode(), (3, 0))
    except CodecError:
        pass


@given(st.text('<>;,="/\\ a1.\t', max_size=30))
@settings(max_examples=examples(500))
def test_link_grammar_fuzz_only_codec_errors(s):
    try:
        got = linkdecode.decode(s.encode())
    except CodecError:
        return
    assert isinstance(got, list)


def test_hypothesis_profile_derandomised_unless_exploring():
    import os

    profile = os.environ.get("HYPOTHESIS_PROFILE", "ci")
    assert settings.default.derandomize is (profile == "ci")
    if profile == "ci":
        assert settings.default.database is None
