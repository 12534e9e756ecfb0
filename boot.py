"""Board bring-up only: apply or roll back a staged firmware update; nothing networked, never fails."""
try:
    from board import bootapply
except ImportError:  # no update support on this board (or lib/board not installed yet)
    bootapply = None
if bootapply is not None:
    try:
        bootapply.run()
    except Exception as e:  # a broken update must not stop main.py from running
        print("boot: update apply failed:", repr(e))
