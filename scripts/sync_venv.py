"""Make the running environment hold exactly the lock: uninstall what it does not list.

Usage (by `make install`, after the pip installs)::

    .venv/bin/python scripts/sync_venv.py requirements.txt requirements-nodeps.txt

pip installs what a lock lists but never removes what an older lock listed (for instance
TensorFlow, before it was dropped).  This script reads the lock files (``name==version``
lines; environment markers evaluated for this interpreter), uninstalls every installed
distribution they do not list, except the installer itself (pip, setuptools, wheel, which
``python -m venv`` brings) and this project (lecture-lib), and exits 1 if a locked package is
missing or at another version.  ``--check`` only reports.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

KEEP = {"pip", "setuptools", "wheel", "lecture-lib"}


def locked(paths: list[Path]) -> dict[str, str]:
    """``{canonical name: version}`` of the lock lines whose markers hold here."""
    pins: dict[str, str] = {}
    for path in paths:
        text = path.read_text().replace("\\\n", " ")
        for line in text.splitlines():
            line = line.split(" --hash")[0].split("#", 1)[0].strip()
            if not line or line.startswith("-"):
                continue
            req = Requirement(line)
            if req.marker is not None and not req.marker.evaluate():
                continue
            (spec,) = req.specifier  # a lock line pins exactly one version
            if spec.operator != "==":
                raise SystemExit(f"{path}: {line!r} is not an exact pin")
            pins[canonicalize_name(req.name)] = spec.version
    return pins


def installed() -> dict[str, str]:
    return {canonicalize_name(d.metadata["Name"]): d.version for d in metadata.distributions()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("lock", nargs="+", type=Path)
    ap.add_argument("--check", action="store_true", help="report only; uninstall nothing")
    args = ap.parse_args(argv)
    pins, have = locked(args.lock), installed()
    extra = sorted(n for n in have if n not in pins and n not in KEEP)
    wrong = {n: (v, have.get(n)) for n, v in pins.items() if have.get(n) != v}
    if extra and not args.check:
        print("removing packages the lock does not list:", " ".join(extra))
        subprocess.run([sys.executable, "-m", "pip", "uninstall", "--yes", "--quiet", *extra],
                       check=True)
        extra = []
    for name in extra:
        print(f"not in the lock: {name}=={have[name]}", file=sys.stderr)
    for name, (want, got) in sorted(wrong.items()):
        print(f"locked {name}=={want}, installed: {got or 'missing'}", file=sys.stderr)
    return 1 if extra or wrong else 0


if __name__ == "__main__":
    sys.exit(main())
