"""Access control: single server, the two-server ACL matrix, owners, and server removal (D.2.2)."""
from coap import msg as M
import coapnums as CN
from lwm2m import acl as A
from lwm2m.dm import DM
from lwm2m.model import Registry, object_def, resource
from lwm2m.objects import access, device, server
from util import hexb

THING = object_def(9001, "Thing", (
    resource(0, "Name", "RW", "s", mandatory=True),
    resource(1, "Count", "R", "i"),
    resource(2, "Go", "E", "e"),
))


def setup(ssids=(1, 2, 3)):
    reg = Registry()
    server.make(reg)
    access.make(reg)
    device.make(reg)
    for s in ssids:
        server.add(reg, s)
    t = reg.add(THING)
    t.add(0, {0: "a", 1: 1})
    ran = []
    t.bind(None, 2, exe=lambda iid, args: ran.append(iid))
    return reg, t, DM(reg), ran


def req(code, path, cf=None, payload=b"", accept=None, query=()):
    m = M.Message(M.CON, code, 1, b"t")
    m.set_path(path)
    if cf is not None:
        m.add(M.CONTENT_FORMAT, cf)
    if accept is not None:
        m.add(M.ACCEPT, accept)
    for q in query:
        m.add(M.URI_QUERY, q)
    m.payload = payload
    return m


_OPS = {
    A.R: (M.GET, "/9001/0/0", None, b"", M.CONTENT),
    A.W: (M.PUT, "/9001/0/0", 0, b"z", M.CHANGED),
    A.E: (M.POST, "/9001/0/2", None, b"", M.CHANGED),
    A.D: (M.DELETE, "/9001/0", None, b"", M.DELETED),
    A.C: (M.POST, "/9001", 11542, hexb("C1 00 63"), M.CREATED),
}


def _run(bit, acl, owner, ssid):
    reg, t, dm, ran = setup()
    iid = 65535 if bit == A.C else 0
    access.add(reg, 9001, iid, owner, acl)
    before = dict(t.insts[0].vals)
    code, path, cf, pl, ok = _OPS[bit]
    r = dm.handle(req(code, path, cf, pl), ssid, 0)
    if r.code == ok:
        return True
    assert r.code == M.UNAUTHORIZED and not r.payload, (bit, ssid, CN.code_str(r.code))
    assert t.insts[0].vals == before and len(t.insts) == 1 and not ran
    return False


def test_two_server_matrix():
    for bit in (A.R, A.W, A.E, A.D, A.C):
        rest = A.FULL & ~bit
        # owner without an entry of its own: full access
        assert _run(bit, {2: bit}, 1, 1), bit
        # owner with an entry lacking the right: the entry wins
        assert not _run(bit, {1: rest, 2: bit}, 1, 1), bit
        # other server with the right / without it
        assert _run(bit, {2: bit}, 1, 2), bit
        assert not _run(bit, {2: rest}, 1, 2), bit
        # no entry, no default entry, not owner
        assert not _run(bit, {2: bit}, 1, 3), bit
        # default entry grants / withholds, an explicit entry overrides it
        assert _run(bit, {0: bit}, 1, 3), bit
        assert not _run(bit, {0: rest}, 1, 3), bit
        assert not _run(bit, {0: bit, 3: rest}, 1, 3), bit


def test_single_server_has_full_access_without_acl():
    reg, t, dm, ran = setup(ssids=(1,))
    for bit in (A.R, A.W, A.E, A.C, A.D):
        code, path, cf, pl, ok = _OPS[bit]
        assert dm.handle(req(code, path, cf, pl), 1, 0).code == ok
    assert ran == [0]


def test_no_acl_instance_means_no_access_with_two_servers():
    reg, t, dm, ran = setup()
    assert dm.handle(req(M.GET, "/9001/0/0"), 1, 0).code == M.UNAUTHORIZED
    assert dm.handle(req(M.GET, "/3/0/16"), 1, 0).code == M.UNAUTHORIZED


def test_denied_reveals_nothing_and_acl_before_access_type():
    reg, t, dm, ran = setup()
    access.add(reg, 9001, 0, 1, {2: A.W})
    # 3 has no rights: unknown instance and known one answer alike
    assert dm.handle(req(M.GET, "/9001/0/0"), 3, 0).code == M.UNAUTHORIZED
    assert dm.handle(req(M.GET, "/9001/7/0"), 3, 0).code == M.UNAUTHORIZED
    assert dm.handle(req(M.PUT, "/9001/0/1", 0, b"5"), 3, 0).code == M.UNAUTHORIZED
    # 2 may write: then the access type answers 4.05 for the read-only resource
    assert dm.handle(req(M.PUT, "/9001/0/1", 0, b"5"), 2, 0).code == M.METHOD_NOT_ALLOWED
    assert dm.handle(req(M.GET, "/9001/0/0"), 2, 0).code == M.UNAUTHORIZED
    # Discover and Write-Attributes need Read
    assert dm.handle(req(M.GET, "/9001/0", accept=40), 2, 0).code == M.UNAUTHORIZED
    assert dm.handle(req(M.PUT, "/9001/0/0", query=["pmin=1"]), 2, 0).code == M.UNAUTHORIZED
    assert dm.handle(req(M.GET, "/9001/0", accept=40), 1, 0).code == M.CONTENT
    assert dm.handle(req(M.PUT, "/9001/0/0", query=["pmin=1"]), 1, 0).code == M.CHANGED


def test_object_read_lists_only_readable_instances():
    reg, t, dm, ran = setup()
    t.add(1, {0: "b"})
    access.add(reg, 9001, 0, 1, {2: A.W})
    access.add(reg, 9001, 1, 1, {2: A.R})
    r = dm.handle(req(M.GET, "/9001"), 2, 0)
    assert r.code == M.CONTENT and bytes(r.payload) == hexb("03 01 C1 00 62")
    r = dm.handle(req(M.GET, "/9001", accept=40), 2, 0)
    assert bytes(r.payload) == b"</9001>,</9001/1>,</9001/1/0>,</9001/1/2>"
    r = dm.handle(req(M.GET, "/9001"), 3, 0)
    assert r.code == M.CONTENT and bytes(r.payload) == b""


def test_acl_instance_managed_by_owner_only():
    reg, t, dm, ran = setup()
    a = access.add(reg, 9001, 0, 1, {2: A.R})
    p = "/2/%d/2" % a.iid
    tlv = hexb("86 02 41 02 03 41 03 01")
    assert dm.handle(req(M.PUT, p, 11542, tlv), 2, 0).code == M.UNAUTHORIZED
    assert a.vals[2] == {2: A.R}
    assert dm.handle(req(M.GET, p), 2, 0).code == M.CONTENT
    assert dm.handle(req(M.DELETE, "/2/%d" % a.iid), 2, 0).code == M.UNAUTHORIZED
    assert dm.handle(req(M.PUT, p, 11542, tlv), 1, 0).code == M.CHANGED
    assert a.vals[2] == {2: 3, 3: 1}
    assert dm.handle(req(M.POST, "/2", 11542, hexb("C1 00 03")), 1, 0).code == M.UNAUTHORIZED


def test_creator_becomes_owner_and_delete_drops_acl():
    reg, t, dm, ran = setup()
    access.add(reg, 9001, 65535, 1, {0: A.C})
    r = dm.handle(req(M.POST, "/9001", 11542, hexb("C1 00 63")), 2, 0)
    assert r.code == M.CREATED and r.all(M.LOCATION_PATH) == [b"9001", b"1"]
    acl = [i for i in reg.obj(2).insts.values() if i.vals[1] == 1]
    assert len(acl) == 1 and acl[0].vals == {0: 9001, 1: 1, 2: {2: 15}, 3: 2}
    assert dm.handle(req(M.GET, "/9001/1/0"), 2, 0).code == M.CONTENT
    assert dm.handle(req(M.GET, "/9001/1/0"), 1, 0).code == M.UNAUTHORIZED
    assert dm.handle(req(M.DELETE, "/9001/1"), 2, 0).code == M.DELETED
    assert [i for i in reg.obj(2).insts.values() if i.vals[1] == 1] == []


def test_rights_api():
    reg, t, dm, ran = setup()
    acl = dm.acl
    access.add(reg, 9001, 0, 3, {0: A.R, 2: A.W | A.E})
    assert acl.rights(2, 9001, 0) == A.W | A.E
    assert acl.rights(1, 9001, 0) == A.R
    assert acl.rights(3, 9001, 0) == A.R  # the default entry applies to the owner too
    assert acl.allowed(2, 9001, 0, A.E) and not acl.allowed(2, 9001, 0, A.D)
    assert not acl.single()


def test_remove_server_unbootstrapping():
    reg, t, dm, ran = setup()
    t.add(1, {0: "b"})
    t.add(2, {0: "c"})
    t.add(3, {0: "d"})
    only = access.add(reg, 9001, 0, 2, {2: 15})  # reachable only by 2: goes
    moved = access.add(reg, 9001, 1, 2, {2: 15, 1: A.R, 3: A.W | A.D})
    tie = access.add(reg, 9001, 2, 2, {2: 15, 3: A.D, 1: A.W})
    kept = access.add(reg, 9001, 3, 1, {2: A.R, 0: A.R})
    dev = access.add(reg, 3, 0, 2, {2: 15})
    dm.acl.remove_server(2)
    aco = reg.obj(2).insts
    assert 0 not in t.insts and only.iid not in aco
    assert aco[moved.iid].vals == {0: 9001, 1: 1, 2: {1: A.R, 3: A.W | A.D}, 3: 3}
    assert aco[tie.iid].vals[3] == 1 and aco[tie.iid].vals[2] == {3: A.D, 1: A.W}
    assert aco[kept.iid].vals == {0: 9001, 1: 3, 2: {0: A.R}, 3: 1}
    assert 0 in reg.obj(3).insts and dev.iid not in aco  # the Device instance stays
    assert sorted(t.insts) == [1, 2, 3]
