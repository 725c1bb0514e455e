# One command to start the lectures, one to run every test:
#   make lectures   create .venv if needed, install the locked set, open JupyterLab on notebooks/
#   make test       same install, then pytest: lecture_lib unit tests + every notebook executed
#                   + the browser test on BROWSER_SUBSET (skipped off CI when chromium is not
#                   installed; make test-browser: every notebook);
#                   then check-build: the course site and the handouts, built and checked
# Other targets: install, site (course site in build/site), handouts (student notebooks without
# solutions in build/handouts), check-build, convert-solutions, benchmark, lock, lock-upgrade, clean.

# Interpreters tried in order when PYTHON is not given; each must run and be CPython 3.10-3.13
# (jaxlib 0.5.3, the newest jax that neural-tangents 0.6.5 can import, has wheels for those only).
PYTHONS ?= python3.12 python3.11 python3.13 python3.10 python3
PYTHON  ?=
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.install-stamp
PORT   ?= 8888
PYTEST_ARGS ?=
# Notebooks that `make test` also drives in JupyterLab (tests/test_browser.py; every notebook is
# executed by tests/test_notebooks.py in any case). `make test-browser` drives all of them.
BROWSER_SUBSET ?= 00,03,10
# `make test`: processes for the unit tests (everything but NOTEBOOK_TESTS); 1 = no parallelism.
UNIT_JOBS ?= 2
NOTEBOOK_TESTS := tests/test_notebooks.py tests/test_browser.py
# The lock: every package pinned with hashes, written by `make lock` from pyproject.toml (what
# lecture_lib imports) + requirements.in (the lectures' top-level packages); README "Versions".
LOCK        := requirements.txt requirements-nodeps.txt
LOCK_ARGS   ?=
UV_COMPILE  := $(BIN)/uv pip compile --universal --python-version 3.10 --generate-hashes --no-build \
               --no-python-downloads --custom-compile-command "make lock" $(LOCK_ARGS)
# make site SOLUTIONS=remove: a site without the solutions; make handouts OUTPUTS=keep: handouts with
# the outputs of their own execution (default: cleared). FRESH=1: execute every notebook again.
SOLUTIONS ?= fold
OUTPUTS   ?= clear
FRESH     ?=
# Environment for the commands below (TensorFlow is no longer installed: no TF_CPP_* needed).
RUN_ENV   :=
# JupyterLab refuses to run as root unless told to (containers, some cloud machines).
ALLOW_ROOT := $(if $(filter 0,$(shell id -u 2>/dev/null)),--allow-root,)

.PHONY: lectures test test-browser clear-progress install lock lock-upgrade site handouts check-build convert-solutions html benchmark seeds clean

# Jupyter server settings (kernels over IPC sockets, one Ctrl-C stops the server): jupyter_config/,
# first on JUPYTER_CONFIG_PATH. LAB_ARGS: more JupyterLab flags (e.g. --no-browser).
JUPYTER_ENV := JUPYTER_CONFIG_PATH="$(CURDIR)/jupyter_config$(if $(JUPYTER_CONFIG_PATH),:$(JUPYTER_CONFIG_PATH))"
LAB_ARGS ?=

# Stop with one Ctrl-C: JupyterLab shuts its kernels down and exits 0. `exec` replaces the recipe's
# shell, which would otherwise die of the SIGINT itself and make report "*** [lectures] Interrupt".
lectures: install
	exec env $(RUN_ENV) $(JUPYTER_ENV) \
	$(BIN)/jupyter lab --ip=127.0.0.1 --port=$(PORT) --ServerApp.root_dir=notebooks \
	    --LabApp.default_url=/lab/tree/00_welcome.ipynb $(ALLOW_ROOT) $(LAB_ARGS)

# The notebook tests store their executions (build/jupyter_cache); check-build's site and handouts
# reuse them instead of executing every notebook again (coursekit/execute.py).
# The unit tests run in UNIT_JOBS processes (pytest-xdist); the notebooks and the browser test run
# after them, one at a time: a notebook uses both cores itself.
test: install
	$(RUN_ENV) $(BIN)/python -m pytest -n $(UNIT_JOBS) $(NOTEBOOK_TESTS:%=--ignore=%) $(PYTEST_ARGS)
	BROWSER_NOTEBOOKS=$${BROWSER_NOTEBOOKS:-$(BROWSER_SUBSET)} $(RUN_ENV) $(BIN)/python -m pytest \
	    $(NOTEBOOK_TESTS) $(PYTEST_ARGS)
	$(MAKE) --no-print-directory check-build

# Remove stored tqdm progress bars from notebooks/ (tests/test_coursekit.py checks there are none).
clear-progress: install
	$(BIN)/python -m coursekit.clear_progress

# The browser test for every notebook (slider latency per notebook: $(ARTIFACTS_DIR)/browser/).
test-browser: install
	BROWSER_NOTEBOOKS=all $(RUN_ENV) $(BIN)/python -m pytest -m browser tests/test_browser.py -s $(PYTEST_ARGS)

install: $(STAMP)

# Re-runs whenever the lock or pyproject.toml changes; afterwards the venv holds exactly the lock
# (tests/test_environment.py checks it).  neural-tangents is the one package installed with
# --no-deps: it declares tensorflow + tf2jax, which are left out (requirements-nodeps.in).
$(STAMP): $(LOCK) pyproject.toml
	@test -x $(BIN)/python || { py="$$(sh scripts/pick_python.sh $(or $(PYTHON),$(PYTHONS)))" && \
	    echo "creating $(VENV) with $$py" && "$$py" -m venv $(VENV); }
	@sh scripts/pick_python.sh $(BIN)/python >/dev/null || \
	    { echo "$(VENV) was made with an unsupported Python: run make clean, then make again" >&2; exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --require-hashes -r requirements.txt
	$(BIN)/python -m pip install --no-deps --require-hashes -r requirements-nodeps.txt
	$(BIN)/python -m pip install --no-deps -e .
	$(BIN)/python scripts/sync_venv.py $(LOCK)
	touch $(STAMP)

# Regenerate the lock after editing requirements.in or pyproject.toml's dependencies: versions
# already locked are kept, new packages get the newest that fits (`make lock-upgrade`: everything
# to the newest allowed).  Writes requirements.txt, requirements-nodeps.txt and
# binder/requirements.txt (a copy, for Binder's cached pip layer); `make install` then syncs .venv.
lock: install
	$(UV_COMPILE) --excludes requirements-exclude.txt --no-emit-package neural-tangents \
	    -o requirements.txt pyproject.toml requirements.in
	$(UV_COMPILE) --no-deps -o requirements-nodeps.txt requirements-nodeps.in
	{ echo "# Binder (repo2docker) installs this file before it copies the repository, so this pip layer"; \
	  echo "# is cached across commits.  A copy of ../requirements.txt written by \`make lock\`: do not edit."; \
	  cat requirements.txt; } > binder/requirements.txt

lock-upgrade:
	$(MAKE) --no-print-directory lock LOCK_ARGS=--upgrade

# The course site: every notebook executed (a stored execution of the same code in the same
# environment is reused; none on a fresh clone), made static (widget notes, Binder links) and built
# with Sphinx + myst-nb into build/site/index.html. Fails if a notebook fails.
site: install
	$(RUN_ENV) $(BIN)/python -m coursekit.site --solutions $(SOLUTIONS) $(if $(FRESH),--fresh,)

# Student handouts: notebooks without their solution cells in build/handouts/, checked for
# solution text and executed (again only where no stored execution of the same code exists).
handouts: install
	$(RUN_ENV) $(BIN)/python -m coursekit.handouts --outputs $(OUTPUTS) $(if $(FRESH),--force,)

# The built site in headless Chromium with the network off; the built handouts.
check-build: site handouts
	$(RUN_ENV) $(BIN)/python -m pytest tests/check_build.py $(PYTEST_ARGS)

# Move <details><summary>Solution blocks of the notebooks into cells tagged `solution` (in place).
convert-solutions: install
	$(BIN)/python -m coursekit.convert notebooks

html: site  # the old name of the static copies

benchmark: install
	$(BIN)/python benchmarks/run_benchmarks.py

# Every notebook for LECTURE_SEED 0-4 (SEEDS="0,3" ONLY=05 to narrow); table in benchmarks/seed_results.md.
SEEDS ?= 0,1,2,3,4
seeds: install
	$(BIN)/python benchmarks/seed_sweep.py --seeds $(SEEDS) $(if $(ONLY),--only $(ONLY),)

clean:
	rm -rf $(VENV) build .pytest_cache
