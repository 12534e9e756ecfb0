"""Fuzzing under CPython (hypothesis): TLV, link-format and JSON decoders and the full request
path into a registered client (test_fuzz_replay.feed does the checks). A failing example is
worth adding to host_tests/fuzz_corpus/ (tools/bench/fuzz_long.py --save does it for its finds)."""
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hyp import examples
from coap import msg as M
import coapnums as CN
from lwm2m import tlv
from test_fuzz_replay import Target, check_state, feed

_T = []


def target():
    if not _T:
        _T.append(Target())
    return _T[0]


ids = st.sampled_from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 65535, 3303, 5700])
segs = st.one_of(ids.map(str), st.text(max_size=6), st.sampled_from(["rd", "bs", "", "-1"]))
paths = st.lists(segs, max_size=4)
methods = st.sampled_from([M.GET, M.POST, M.PUT, M.DELETE, 5, 7, 31])
cfs = st.one_of(st.none(), st.sampled_from([0, 40, 42, 11542, 11543, 1541, 60, 65535]))
res_inst = st.tuples(st.just(tlv.RES_INST), ids, st.binary(max_size=12))
res = st.tuples(st.just(tlv.RES), ids, st.binary(max_size=12))
multi = st.tuples(st.just(tlv.MULTI_RES), ids, st.lists(res_inst, max_size=3))
inst = st.tuples(st.just(tlv.OBJ_INST), ids, st.lists(st.one_of(res, multi), max_size=3))
tlvs = st.lists(st.one_of(inst, res, multi), max_size=3).map(tlv.encode)
jsons = st.sampled_from([b'{"e":[{"n":"0","v":1}]}', b'{"bn":"/3/0/","e":[{"n":"1","sv":"x"}]}',
                         b'{"e":[{"n":"0/1","bv":true}]}', b'{"e":[]}', b'[1]', b'{"e":[{}]}'])
payloads = st.one_of(st.binary(max_size=40), tlvs, jsons, st.text(max_size=10).map(str.encode))
queries = st.lists(st.one_of(st.sampled_from(["pmin=1", "pmax=2", "gt=5", "lt=1", "st=0.5",
                                              "cancel", "pmin=x", "ep=x", "pmax=-1"]),
                             st.text(max_size=8)), max_size=3)


@st.composite
def requests(draw):
    m = M.Message(draw(st.sampled_from([M.CON, CN.NON])), draw(methods), draw(st.integers(0, 0xFFFF)),
                  draw(st.binary(max_size=8)))
    for s in draw(paths):
        m.add(M.URI_PATH, s)
    obs = draw(st.sampled_from([None, None, 0, 1, 7]))
    if obs is not None:
        m.add(M.OBSERVE, obs)
    for q in draw(queries):
        m.add(M.URI_QUERY, q)
    cf = draw(cfs)
    if cf is not None:
        m.add(M.CONTENT_FORMAT, cf)
    acc = draw(cfs)
    if acc is not None:
        m.add(M.ACCEPT, acc)
    if draw(st.booleans()) and draw(st.booleans()):
        m.add(M.BLOCK1 if draw(st.booleans()) else CN.BLOCK2,
              M.block_value(draw(st.integers(0, 3)), draw(st.booleans()), draw(st.integers(0, 7))))
    m.payload = draw(payloads)
    # sort options by number as the encoder expects them added in order
    m.opts.sort(key=lambda o: o[0])
    return m.encode()


def _mutate(data, flips):
    b = bytearray(data)
    for i, v in flips:
        if b:
            b[i % len(b)] = v
    return bytes(b)


_S = settings(max_examples=examples(400), deadline=None, suppress_health_check=list(HealthCheck))


@given(st.binary(max_size=80))
@_S
def test_tlv_decoder(data):
    feed(target(), "tlv", data)


@given(st.one_of(st.binary(max_size=80), st.text(max_size=40).map(str.encode)))
@_S
def test_link_decoder(data):
    feed(target(), "link", data)


@given(st.one_of(st.binary(max_size=80), jsons, st.text(max_size=40).map(str.encode)))
@_S
def test_json_decoder(data):
    feed(target(), "json", data)


@given(requests())
@settings(max_examples=examples(1500), deadline=None, suppress_health_check=list(HealthCheck))
def test_request_path_well_formed(data):
    feed(target(), "coap", data)


@given(requests(), st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255)), max_size=3))
@settings(max_examples=examples(800), deadline=None, suppress_health_check=list(HealthCheck))
def test_request_path_mutated(data, flips):
    feed(target(), "coap", _mutate(data, flips))


@given(st.binary(max_size=60))
@_S
def test_request_path_raw_bytes(data):
    feed(target(), "coap", data)


@given(requests())
@_S
def test_rogue_peer_never_gets_in(data):
    feed(target(), "rogue", data)


def test_state_intact_after_fuzzing():
    check_state(target())
    t = target()
    assert t.inputs > 0
    t.close()
    _T.clear()
