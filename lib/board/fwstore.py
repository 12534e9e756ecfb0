"""Firmware-update storage: the error every store raises (FwError, all a push needs of it).

Both backends: begin(total_size=None), write(data) streamed, offset, finish() -> (length,
sha256_hex), abort(), apply() (boot the new image next), boot_result(), confirm() (after the
first successful registration of the new image); a BundleStore's last three are board.fwfile's
functions of the store (board.fwfile.step tells it by its root). The caller persists the Firmware
Update object state; a store that keeps what finish() checked in RAM only has resume(length,
sha256_hex), which the engine calls as it restores a Downloaded record (PartitionStore: apply()
then switches once a read-back matches). A push loads only its board's store: board.partstore
(ESP32 OTA slot; board.nostore when there is none) or board.bundle (a staged application
bundle, host and Pico W; board.unpack checks it); boot-time apply and rollback are board.fwboot
(with the bundle writer the host tools use), and the file helpers only those and the steps past
a transfer use are board.fwfile (BundleStore.abort, board.stage, and an extraction make their
directories themselves).
Those names are imported from their own modules: a forwarding __getattr__ here cost every
transfer 432 B of heap on a 32-bit board. A digest's hex is spelled out where it is needed
(binascii.hexlify(h.digest()).decode()): a shared helper cost a push more than the copies.
"""


class FwError(Exception):
    """A store's failure. args[0] is the /5/0/5 Update Result a transfer ends with: 2 no space,
    5 integrity (the package fails a check), 8 anything else (Firmware update failed). One class
    carrying its result, and no message: a class costs ~200 B of heap on a 32-bit board."""
