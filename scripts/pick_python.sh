#!/bin/sh
# Print the first of the given interpreters that runs and is CPython 3.10-3.13; else explain
# and exit 1.  Used by `make` (PYTHON / PYTHONS in the Makefile).  Each candidate is run, not only
# looked up, so that a pyenv shim for a version that is not installed is skipped.
# jaxlib 0.5.3, the newest jax that neural-tangents 0.6.5 can import, has wheels for 3.10-3.13.
for py in "$@"; do
    if command -v "$py" >/dev/null 2>&1 &&
        "$py" -c 'import sys; sys.exit(0 if sys.implementation.name == "cpython" and (3, 10) <= sys.version_info[:2] <= (3, 13) else 1)' >/dev/null 2>&1; then
        "$py" -c 'import sys; print(sys.executable)'
        exit 0
    fi
done
cat >&2 <<MSG
No supported Python found (tried: $*).
The lectures need CPython 3.10, 3.11, 3.12 or 3.13: jaxlib 0.5.3 (the newest jax that
neural-tangents 0.6.5 can import) has no wheels for other versions.  Get one, e.g.
    uv python install 3.12       then  make PYTHON="\$(uv python find 3.12)"
    conda create -n py312 python=3.12 && conda activate py312    then  make
    pyenv install 3.12 && pyenv local 3.12                         then  make
or point make at one you have: make PYTHON=/path/to/python3.12
MSG
exit 1
