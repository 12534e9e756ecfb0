"""BundleStore.abort (board.bundle): close and drop what is staged, and make the store's
directories, so the next begin() finds them (in a module loaded for the call, it held 192 B of
heap through every block of a push, 32-bit, .mpy). An engine aborts before each transfer (and at
a failed one's end), at a push's first block or a Package URI's Write, with no block in hand; the
check at a transfer's first block is board.room's, which loads this module only for a store that
was not aborted since its last transfer. Gone as it starts (the caller holds what runs)."""
import os
import sys


def abort(st):
    """BundleStore st's abort(): close and drop what is staged, make the directories. Drops this
    module (the call holds it)."""
    sys.modules.pop(__name__, None)
    sys.modules["board"].__dict__.pop("stage", None)
    if st._f is not None:
        st._f.close()
        st._f = None
    st.offset = 0
    root = st.root
    for n in ("/apply", "/staged.part", "/staged.bundle"):
        try:
            os.remove(root + n)
        except OSError:  # not there
            pass
    part = ""  # root and every missing directory above it
    for c in root.split("/"):
        part = part + "/" + c if part or root[:1] == "/" else c
        if c:
            try:
                os.mkdir(part)
            except OSError:  # there already (anything else fails begin's open)
                pass
    st._sha = False  # aborted: nothing staged, the directories there (board.room)
