"""The pinned set is the one installed, and every install route reads the same list."""
import re
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s#;]+)")


def _pins(path):
    pins = {}
    for line in (ROOT / path).read_text().splitlines():
        m = PIN.match(line.strip())
        if m:
            pins[m.group(1)] = m.group(2)
    return pins


def test_every_requirement_is_pinned():
    for path in ("requirements.txt", "requirements-nodeps.txt"):
        for line in (ROOT / path).read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                assert PIN.match(line), f"{path}: unpinned requirement {line!r}"


@pytest.mark.parametrize("path", ["requirements.txt", "requirements-nodeps.txt"])
def test_installed_versions_match_pins(path):
    pins = _pins(path)
    assert pins
    wrong = {n: (v, metadata.version(n)) for n, v in pins.items() if metadata.version(n) != v}
    assert not wrong, f"installed versions differ from {path}: {wrong}"


def test_install_routes_share_one_list():
    env = (ROOT / "environment.yml").read_text()
    assert "-r requirements.txt" in env
    assert not re.search(r"^\s*-\s*(jax|neural|numpy|tensorflow)", env, re.M), "environment.yml repeats versions"
    assert (ROOT / "binder" / "requirements.txt").read_text().count("-r ../requirements.txt") == 1
    post = (ROOT / "binder" / "postBuild").read_text()
    assert "--no-deps -r requirements-nodeps.txt" in post
    make = (ROOT / "Makefile").read_text()
    assert "-r requirements.txt" in make and "--no-deps -r requirements-nodeps.txt" in make
    ci = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme and "make test" in ci


def test_neural_tangents_imports_quietly(capfd):
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", "import lecture_lib.kernels, neural_tangents"],
        capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "tensorflow" not in out.stderr.lower() or "warning" not in out.stderr.lower(), out.stderr
