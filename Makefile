# edigate — the two commands a new user needs are `make run` and `make test`.
# Both bootstrap what they need: a .venv with the project installed, and
# (for tests) the Debian packages of the real peers the tests drive.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEV    ?= var/dev

# What setup.py needs to compile the translators with mypyc: gcc and this Python's headers.
BUILD_DEBS := gcc python$(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])')-dev
# The modules setup.py compiles: an editable install puts their .so next to the .py, where it shadows
# an edited source, so the venv is rebuilt whenever one of them (or the build) changes.
NATIVE_SOURCES := $(shell sed -n 's/^    "\(translators\/[^"]*\.py\)",$$/\1/p' setup.py)
# Real peers the tests drive (sshd/sftp, nginx, swaks, lftp, vsftpd, nats-server, openssl, curl, rsync),
# and the compiler and headers (BUILD_DEBS).
DEBS := $(BUILD_DEBS) openssh-server openssh-client nginx swaks libnet-ssleay-perl rsync inotify-tools curl openssl \
        lftp vsftpd nats-server python3-venv lintian fakeroot binutils systemd faketime
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test bench lint venv debs clean soak fuzz deb

venv: $(STAMP)

$(STAMP): pyproject.toml setup.py $(NATIVE_SOURCES)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@# The compiler first (best effort: without it setup.py warns and builds pure Python).
	@[ "$$EDIGATE_PURE" = 1 ] || $(MAKE) --no-print-directory debs DEBS="$(BUILD_DEBS)" || true
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@# pip -q hides setup.py's warning: repeat it when the translators were not compiled.
	@$(BIN)/python -c 'import json; m = json.load(open("translators/_native_build.json")); \
	  m["compiled"] or print("edigate: WARNING: translators built as pure Python (slower):", m["reason"])'
	@touch $@

# Install the missing Debian packages without letting their services start
# (policy-rc.d exits 101: "action forbidden"); tests start what they need on loopback.
debs:
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  created=""; if [ ! -e /usr/sbin/policy-rc.d ]; then \
	    printf '#!/bin/sh\nexit 101\n' | $(SUDO) tee /usr/sbin/policy-rc.d >/dev/null && $(SUDO) chmod 755 /usr/sbin/policy-rc.d && created=1; fi; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; rc=$$?; \
	  [ -n "$$created" ] && $(SUDO) rm -f /usr/sbin/policy-rc.d; exit $$rc; \
	fi

run: venv
	@test -f $(DEV)/edigate.toml || $(BIN)/edigate init $(DEV)
	$(BIN)/edigate run --config $(DEV)/edigate.toml

test: venv debs
	$(BIN)/python -m pytest -q -p no:cacheprovider

lint: venv
	$(BIN)/ruff check gateway translators partners agent tests bench
	$(BIN)/mypy

bench: venv debs
	@for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit $$?; done

soak: venv debs
	$(BIN)/python bench/soak.py

fuzz: venv
	$(BIN)/python bench/fuzz.py

deb: debs
	bash packaging/build-deb.sh

# In-place compiled modules would shadow the sources of a later pure checkout.
clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
	@find . -path ./.venv -prune -o -name '*.cpython-*.so' -print -exec rm -f {} + \
	  | sed 's/^/removed /'
	rm -f translators/_native_build.json
