"""BundleStore.begin's checks (board.bundle): the directories and the room, and BundleStore.abort
(in a module loaded for the call, it held 192 B of heap through every block of a push, 32-bit,
.mpy). Loaded for them only, at a push's first block (and at a transfer's start and end, for an
abort), and gone as it starts (the caller holds what runs, and begin drops it before it opens the
staged file and its hash), like board.unpack for the check at the last block: the blocks between
them, a push's heap peak, have board.bundle without this code."""
import os
import sys

from .fwstore import FwError


def abort(st):
    """BundleStore st's abort(): close and drop what is staged. Drops this module (the call holds
    it): an abort runs at a transfer's start and end, no block."""
    sys.modules.pop(__name__, None)
    sys.modules["board"].__dict__.pop("stage", None)
    if st._f is not None:
        st._f.close()
        st._f = None
    st._sha = None
    st.offset = 0
    for n in ("/apply", "/staged.part", "/staged.bundle"):
        try:
            os.remove(st.root + n)
        except OSError:  # not there
            pass


def begin(st, total_size):
    """What BundleStore st's begin(total_size) does before it opens the file: drop what was
    staged (and this module), make the directories, check the room (FwError(2))."""
    abort(st)
    root = st.root
    part = ""  # root and every missing directory above it
    for c in root.split("/"):
        part = part + "/" + c if part or root[:1] == "/" else c
        if c:
            try:
                os.mkdir(part)
            except OSError:  # there already (anything else fails the open below)
                pass
    if total_size is not None:
        if st.capacity is not None and total_size > st.capacity:
            raise FwError(2)  # no space: over the capacity
        try:
            s = os.statvfs(root)
            room = s[0] * s[4] - st.reserve
        except (OSError, AttributeError):
            room = None
        # the staged file and its unpacked copy exist side by side while applying
        if room is not None and 2 * total_size > room:
            raise FwError(2)  # no space on the file system
