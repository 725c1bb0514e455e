# One command to start the lectures, one to run every test:
#   make lectures   create .venv if needed, install the pinned set, open JupyterLab on notebooks/
#   make test       same install, then pytest: lecture_lib unit tests + every notebook (nbval)
#                   + the browser test (skipped off CI when chromium is not installed)
# Other targets: install, html (static copies in build/html), benchmark, clean.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.install-stamp
PORT   ?= 8888
PYTEST_ARGS ?=
# JupyterLab refuses to run as root unless told to (containers, some cloud machines).
ALLOW_ROOT := $(if $(filter 0,$(shell id -u 2>/dev/null)),--allow-root,)

.PHONY: lectures test install html benchmark clean check-python

lectures: install
	TF_CPP_MIN_LOG_LEVEL=2 TF_ENABLE_ONEDNN_OPTS=0 \
	$(BIN)/jupyter lab --ip=127.0.0.1 --port=$(PORT) --ServerApp.root_dir=notebooks \
	    --LabApp.default_url=/lab/tree/00_welcome.ipynb $(ALLOW_ROOT)

test: install
	TF_CPP_MIN_LOG_LEVEL=2 TF_ENABLE_ONEDNN_OPTS=0 $(BIN)/python -m pytest $(PYTEST_ARGS)

install: $(STAMP)

check-python:
	@$(PYTHON) -c 'import sys; v = sys.version_info[:2]; \
	sys.exit(0 if v >= (3, 10) else f"Python >= 3.10 needed, found {v[0]}.{v[1]}: run make PYTHON=python3.11 ...")'

# Re-runs whenever a requirements file changes.
$(STAMP): requirements.txt requirements-nodeps.txt pyproject.toml | check-python
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install -r requirements.txt
	$(BIN)/python -m pip install --no-deps -r requirements-nodeps.txt
	$(BIN)/python -m pip install --no-deps -e .
	touch $(STAMP)

# Static copies to hand out: executed notebooks as HTML.
html: install
	$(BIN)/jupyter nbconvert --to html --output-dir build/html notebooks/*.ipynb

benchmark: install
	$(BIN)/python benchmarks/run_benchmarks.py

clean:
	rm -rf $(VENV) build .pytest_cache
