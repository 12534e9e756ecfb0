# Freezes the LwM2M client (lib/) into a custom MicroPython build.
# Used from a MicroPython source tree, e.g. for ESP32:
#   make -C ports/esp32 BOARD=ESP32_GENERIC FROZEN_MANIFEST=/path/to/repo/firmware/manifest.py
# and for the Pico W:
#   make -C ports/rp2 BOARD=RPI_PICO_W FROZEN_MANIFEST=/path/to/repo/firmware/manifest.py
# See firmware/README.md.
metadata(description="LwM2M 1.0 client for MicroPython", version="0.1.0")

# The port's own frozen modules first (asyncio, network helpers, ...).
include("$(PORT_DIR)/boards/manifest.py")
# FROZEN_MANIFEST replaces the board's manifest, and RPI_PICO_W's is where ntptime comes from
# (require("bundle-networking"): BOARDS.md "Time"); ESP32's port manifest has it already, and a
# second require of a package is a no-op.
require("bundle-networking")

# Everything under lib/ is frozen as packages: coap, lwm2m, board.
package("coap", base_path="../lib")
package("lwm2m", base_path="../lib")
package("board", base_path="../lib")
