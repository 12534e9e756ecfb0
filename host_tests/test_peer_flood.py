"""10,000 requests at full rate from tools/lwm2m_server.py against the client on the unix port at
the e2e scenario's smallest .mpy heap + 16K (tools/bench/flood.py): all answered, heap flat within 1 KB."""
import flood as F


def test_plan_sends_exactly_the_requested_count_with_observe_pairs():
    for n in (1, 2, 499, 500, 1000, 10000):
        plan = F._plan(n)
        assert sum(2 if k == "observe" else 1 for k in plan) == n
    plan = F._plan(10000)
    assert plan.count("observe") == 19  # every 500th slot: 9981 slots
    assert {"tlv", "text", "put", "missing"} <= set(plan)


def test_flood_10000_requests_heap_flat():
    r = F.flood(F.HEAP_KIB, 10000, limit=120)
    assert F.HEAP_KIB == 268
    assert r["problems"] == [], r["problems"]
    assert r["sent"] == 10000 and r["answered"] == 10000
    assert r["errors"] == [] and r["bad"] == []
    codes = r["codes"]
    assert sum(codes.values()) == 10000
    assert codes["4.04"] > 2000 and codes["2.04"] > 2000 and codes["2.05"] > 4000
    assert r["observes"] == 19
    assert r["alive"] and r["registered"] and r["answering"]
    assert r["deregistered"] and r["exit"] == 0
    for bad in ("MemoryError", "Traceback", "fatal"):
        assert bad not in r["output"]
    marks = [h for h in r["heaps"] if h[0] == "heap"]
    assert [h[1] for h in marks] == list(range(1000, 10001, 1000))  # one per 1000 requests
    first, last = r["first"], r["last"]
    assert first == marks[0] and last[0] == "idle" and last[1] >= 10000
    assert abs(last[2] - first[2]) <= 1024, (first, last)
    # every checkpoint in between stays within the band too: no growth hidden by a final GC
    assert max(h[2] for h in marks) - min(h[2] for h in marks) <= 1024, marks
