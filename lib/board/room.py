"""BundleStore.begin's check (board.bundle): is there room for the package. Loaded at a
transfer's first block, when a pull's datagram, its download and the package header's decision
are live: so it holds only the check (a pull's first block 320 B lower than with the abort and
the directories beside it, 32-bit .mpy: those are board.stage's, run when the engine aborted
before the transfer), and it is
gone as it starts (the caller holds what runs), before begin opens the staged file and its
hash."""
import os
import sys

from .fwstore import FwError


def begin(st, total_size):
    """What BundleStore st's begin(total_size) does before it opens the file: an abort unless
    one ran since the last transfer, then the room (FwError(2)). Drops this module."""
    sys.modules.pop(__name__, None)
    sys.modules["board"].__dict__.pop("room", None)
    if st._sha is not False:
        st.abort()  # something may be staged, or no directories yet
    if total_size is not None:
        if st.capacity is not None and total_size > st.capacity:
            raise FwError(2)  # no space: over the capacity
        try:
            s = os.statvfs(st.root)
            room = s[0] * s[4] - st.reserve
        except (OSError, AttributeError):
            room = None
        # the staged file and its unpacked copy exist side by side while applying
        if room is not None and 2 * total_size > room:
            raise FwError(2)  # no space on the file system
