"""Long fuzz run (CPython): TLV / link / JSON decoders and the full request path into a registered
client, with the checks of host_tests/test_fuzz_replay.feed. Prints inputs tried / crashes found.

Usage: .venv/bin/python tools/bench/fuzz_long.py [--inputs 1000000] [--seconds N] [--seed 1] [--save]
       .venv/bin/python tools/bench/fuzz_long.py --seed-corpus   (rewrites the hand-made corpus seeds)
--save writes each new finding to host_tests/fuzz_corpus/<kind>-find-<n>.bin for the replay test.
"""
import os
import random
import sys
import time

import benchpath  # first: tools/ and tools/bench/ on sys.path

benchpath.add("host_tests", "lib", "tools/cpy")
import mpshim  # noqa: E402,F401

from coap import msg as M  # noqa: E402
from lwm2m import tlv  # noqa: E402
import test_fuzz_replay as F  # noqa: E402


def _req(typ, code, mid, tok, path, opts=(), payload=b""):
    m = M.Message(typ, code, mid, tok)
    for s in path.strip("/").split("/") if path.strip("/") else ():
        m.add(M.URI_PATH, s)
    for n, v in sorted(opts, key=lambda o: o[0]):
        m.add(n, v)
    m.payload = payload
    return m.encode()


def seeds():
    """(name, kind, bytes) hand-made corpus: valid requests, known finds, malformed input."""
    t = tlv.encode([tlv.resource_node(1, "i", 120), tlv.resource_node(2, "i", 1)])
    inst = tlv.encode([tlv.instance_node(7, [(0, "i", 1)])])
    out = [
        ("get-device", "coap", _req(M.CON, M.GET, 1, b"\x01", "/3/0")),
        ("observe", "coap", _req(M.CON, M.GET, 2, b"\x02", "/3/0/13", [(M.OBSERVE, 0)])),
        ("cancel", "coap", _req(M.CON, M.GET, 3, b"\x02", "/3/0/13", [(M.OBSERVE, 1)])),
        ("write-tlv", "coap", _req(M.CON, M.POST, 4, b"\x04", "/1/0",
                                   [(M.CONTENT_FORMAT, 11542)], t)),
        ("write-attrs", "coap", _req(M.CON, M.PUT, 5, b"\x05", "/3/0/13",
                                     [(M.URI_QUERY, "pmin=1"), (M.URI_QUERY, "pmax=x")])),
        ("create-acl", "coap", _req(M.CON, M.POST, 6, b"\x06", "/2",
                                    [(M.CONTENT_FORMAT, 11542)], inst)),
        ("delete-missing", "coap", _req(M.CON, M.DELETE, 7, b"\x07", "/2/999")),
        ("discover", "coap", _req(M.CON, M.GET, 8, b"\x08", "/1", [(M.ACCEPT, 40)])),
        ("security-read", "coap", _req(M.CON, M.GET, 9, b"\x09", "/0/0/5")),
        ("json-write", "coap", _req(M.CON, M.PUT, 10, b"\x0a", "/1/0",
                                    [(M.CONTENT_FORMAT, 11543)],
                                    b'{"e":[{"n":"1","v":60},{"n":"0","v":1}]}')),
        ("block1-midway", "coap", _req(M.CON, M.PUT, 11, b"\x0b", "/5/0/0",
                                       [(M.BLOCK1, M.block_value(3, True, 0))], bytes(16))),
        ("utf8-path", "coap", bytes.fromhex("4801000000000000000000b1800046706d696e3d31")),
        ("utf8-path-dup", "coap", bytes.fromhex("4801000000000000000000b1800046706d696e3d31")),
        ("utf8-query", "coap", _req(M.CON, M.PUT, 12, b"\x0c", "/3/0/13", [(M.URI_QUERY, b"\xff")])),
        ("truncated-con", "coap", bytes.fromhex("4401000112")),
        ("bad-option-ext", "coap", bytes.fromhex("40010003ef")),
        ("ping", "coap", bytes.fromhex("40000009")),
        ("unknown-method", "coap", _req(M.CON, 31, 13, b"\x0d", "/3/0")),
        ("rogue-write", "rogue", _req(M.CON, M.PUT, 14, b"\x0e", "/1/0/1",
                                      [(M.CONTENT_FORMAT, 0)], b"9")),
        ("rogue-delete", "rogue", _req(M.CON, M.DELETE, 15, b"\x0f", "/")),
        ("tlv-overlong", "tlv", bytes.fromhex("c8ff")),
        ("tlv-nested", "tlv", bytes.fromhex("0801c1020a")),
        ("link-junk", "link", b"</3/0>;ct=\"x,<"),
        ("json-deep", "json", b'{"e":[{"n":"0","v":' * 3 + b"1}]}"),
        ("json-utf8", "json", b'{"e":[{"n":"\xff","v":1}]}'),
    ]
    return out


def write_seeds():
    os.makedirs(F.CORPUS, exist_ok=True)
    for name, kind, data in seeds():
        with open(os.path.join(F.CORPUS, "%s-%s.bin" % (kind, name)), "wb") as f:
            f.write(data)
    print("wrote %d corpus files to %s" % (len(seeds()), F.CORPUS))


def _mutate(rnd, data):
    b = bytearray(data)
    for _ in range(1 + rnd.randrange(4)):
        op = rnd.randrange(6)
        if op == 0 and b:
            b[rnd.randrange(len(b))] ^= 1 << rnd.randrange(8)
        elif op == 1 and b:
            b[rnd.randrange(len(b))] = rnd.randrange(256)
        elif op == 2:
            b.insert(rnd.randrange(len(b) + 1), rnd.randrange(256))
        elif op == 3 and b:
            del b[rnd.randrange(len(b)):]
        elif op == 4 and len(b) > 4:
            i = rnd.randrange(4, len(b))
            b[i:i] = b[4:i]
        else:
            b += bytes(rnd.randrange(256) for _ in range(rnd.randrange(8)))
    return bytes(b[:1200])


def main(argv):
    n_max = 1000000
    secs = None
    seed = 1
    save = "--save" in argv
    if "--seed-corpus" in argv:
        write_seeds()
        return 0
    for i, a in enumerate(argv):
        if a == "--inputs":
            n_max = int(argv[i + 1])
        elif a == "--seconds":
            secs = float(argv[i + 1])
        elif a == "--seed":
            seed = int(argv[i + 1])
    rnd = random.Random(seed)
    pool = [(k, d) for _, k, d in seeds()] + [(k, d) for _, k, d in F.corpus()]
    t = F.Target()
    tried = crashes = 0
    per = {}
    found = []
    t0 = time.time()
    try:
        while tried < n_max and (secs is None or time.time() - t0 < secs):
            kind, base = pool[rnd.randrange(len(pool))]
            r = rnd.random()
            if r < 0.15:
                kind = ("tlv", "link", "json")[rnd.randrange(3)]
            elif r < 0.2:
                kind = "rogue"
            data = _mutate(rnd, base) if rnd.random() < 0.9 else bytes(
                rnd.randrange(256) for _ in range(rnd.randrange(40)))
            tried += 1
            per[kind] = per.get(kind, 0) + 1
            try:
                F.feed(t, kind, data)
            except SystemExit:
                t._new()  # an execute that reboots slipped through a mutation: by design
            except BaseException as e:  # noqa: B902 - everything counts as a crash here
                if isinstance(e, KeyboardInterrupt):
                    raise
                crashes += 1
                sig = (kind, type(e).__name__, str(e)[:60])
                if sig not in [x[0] for x in found]:
                    found.append((sig, data))
                    print("FIND %s %s: %r" % (kind, type(e).__name__, data[:64]))
                    if save:
                        p = os.path.join(F.CORPUS, "%s-find-%d.bin" % (kind, len(found)))
                        with open(p, "wb") as f:
                            f.write(data)
                t._new()
            if len(data) > 3 and kind == "coap" and rnd.random() < 0.05:
                pool.append((kind, data))  # keep some mutants as new bases
                if len(pool) > 2000:
                    del pool[rnd.randrange(30, len(pool))]
            if tried % 100000 == 0:
                print("... %d inputs, %d crashes, %.0f/s" % (tried, crashes,
                                                           tried / (time.time() - t0)))
    finally:
        t.close()
    dt = time.time() - t0
    print("fuzz_long: inputs tried %d (%s) in %.0f s; crashes found %d (distinct %d); "
          "known-bug hits tolerated %d" % (tried, ", ".join("%s %d" % kv for kv in sorted(
              per.items())), dt, crashes, len(found), t.known))
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
