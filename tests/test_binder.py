"""Binder (mybinder.org, built by repo2docker): cached pip layer, no conflict with Binder's base
image, idle kernels culled.

* ``binder/requirements.txt`` is the lock (a copy written by ``make lock``) and names no local file,
  so repo2docker installs it *before* copying the repository: that layer is cached across commits.
* ``repo2docker --no-build`` (no Docker needed) prints the Dockerfile it would build; the install
  steps are checked in order.
* Binder's base environment (repo2docker's conda lock for our ``runtime.txt``) plus our lock
  resolve together: pip reports no conflict there (network: uv asks PyPI for metadata).
* The server started through ``binder/start`` reads ``binder/jupyter_server_config.py``, and a
  short walk with ``benchmarks/binder_memory_walk.py`` shows idle, connected kernels culled.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"
BIN = Path(sys.executable).parent


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _requirement_lines(path: Path) -> list[str]:
    """The entries of a requirements file (continuations joined, comments dropped)."""
    text = path.read_text().replace("\\\n", " ")
    return [" ".join(l.split("#", 1)[0].split()) for l in text.splitlines() if l.split("#", 1)[0].strip()]


def test_binder_requirements_are_the_lock():
    ours = _requirement_lines(BINDER / "requirements.txt")
    assert ours == _requirement_lines(ROOT / "requirements.txt"), \
        "binder/requirements.txt differs from the lock: run `make lock`"
    assert len(ours) > 100 and all("--hash=sha256:" in l for l in ours)


def test_binder_requirements_name_no_local_file():
    """A -r/-c/-e/path line would make repo2docker copy the whole repository first."""
    from repo2docker.utils import is_local_pip_requirement

    local = [l for l in (BINDER / "requirements.txt").read_text().splitlines()
             if is_local_pip_requirement(l)]
    assert not local, local


@pytest.fixture(scope="module")
def dockerfile(tmp_path_factory) -> str:
    """What repo2docker would build from a copy of the repository (tracked-looking files only)."""
    repo2docker = BIN / "repo2docker"
    assert repo2docker.exists(), "jupyter-repo2docker is in the lock; run `make install`"
    src = tmp_path_factory.mktemp("r2d") / "repo"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".git", ".venv*", "build", "artifacts", "__pycache__", "*.egg-info", ".pytest_cache",
        ".hypothesis", ".ipynb_checkpoints"))
    out = subprocess.run([str(repo2docker), "--no-build", "--debug", "--user-id", "1000",
                          "--user-name", "jovyan", str(src)],
                         capture_output=True, text=True, timeout=300, cwd=src)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "FROM " in out.stdout, out.stdout[-2000:] + out.stderr[-2000:]
    return out.stdout


def _index(lines: list[str], pattern: str) -> int:
    hits = [i for i, l in enumerate(lines) if re.search(pattern, l)]
    assert len(hits) == 1, f"{pattern!r} found {len(hits)} times in the Dockerfile"
    return hits[0]


def test_repo2docker_installs_the_lock_before_copying_the_repository(dockerfile):
    lines = dockerfile.splitlines()
    python = (BINDER / "runtime.txt").read_text().strip().removeprefix("python-")
    # build-script file names are escaped by repo2docker ("-2e" is ".", "-2d" is "-")
    unescaped = [re.sub(r"-([0-9a-f]{2})", lambda m: chr(int(m.group(1), 16)), l) for l in lines]
    _index(unescaped, rf"/environment\.py-{re.escape(python)}-linux-64\.lock\S* /tmp/env/environment\.lock$")
    copy_req = _index(lines, r"^COPY .*src/binder/requirements\.txt \$\{REPO_DIR\}/binder/requirements\.txt$")
    pip = _index(lines, r'^RUN \$\{KERNEL_PYTHON_PREFIX\}/bin/pip install --no-cache-dir -r "?binder/requirements\.txt"?$')
    copy_all = _index(lines, r"^COPY .*src/ \$\{REPO_DIR\}/$")
    post = _index(lines, r"^RUN \./binder/postBuild$")
    start = _index(lines, r'^ENV R2D_ENTRYPOINT="\$\{REPO_DIR\}/binder/start"$')
    assert copy_req < pip < copy_all < post < start, (copy_req, pip, copy_all, post, start)
    assert not any("pip install" in l for l in lines[copy_all:post]), \
        "a pip install runs after the repository is copied (not cached across commits)"
    assert not any(re.search(r"pip install .*\s\.$", l) for l in lines), "repo2docker would pip install ."


def test_postbuild_and_start():
    post = (BINDER / "postBuild").read_text()
    steps = [l.strip() for l in post.splitlines() if l.strip() and not l.lstrip().startswith("#")]
    assert steps == [
        "set -euo pipefail",
        "python -m pip install --no-cache-dir --no-deps --require-hashes -r requirements-nodeps.txt",
        "python -m pip install --no-cache-dir --no-deps -e .",
    ], steps
    start = (BINDER / "start").read_text()
    assert start.rstrip().endswith('exec "$@"')
    out = subprocess.run([str(BINDER / "start"), "sh", "-c", 'echo "$JUPYTER_CONFIG_PATH"'],
                         capture_output=True, text=True, timeout=60,
                         env={"PATH": "/usr/bin:/bin", "JUPYTER_CONFIG_PATH": "/elsewhere"})
    path = out.stdout.strip().split(":")
    expected = [str(BINDER)] + ([str(ROOT / "jupyter_config")] if (ROOT / "jupyter_config").is_dir() else [])
    assert path == expected + ["/elsewhere"], path
    for name in ("postBuild", "start"):
        assert os.access(BINDER / name, os.X_OK), f"binder/{name} is not executable"


def test_server_started_through_binder_start_culls_idle_kernels(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER_")}
    env.update(JUPYTER_CONFIG_DIR=str(tmp_path), PATH=f"{BIN}:{env.get('PATH', '')}")
    out = subprocess.run([str(BINDER / "start"), str(BIN / "jupyter"), "server", "--show-config-json"],
                         capture_output=True, text=True, timeout=600, env=env)
    assert out.returncode == 0, out.stderr
    cfg = json.loads(out.stdout)["MappingKernelManager"]
    assert cfg["cull_idle_timeout"] > 0 and cfg["cull_interval"] > 0
    assert cfg["cull_connected"] is True and cfg["cull_busy"] is False


def _base_environment(python: str) -> dict[str, str]:
    """Python packages of Binder's base image, ``{name: version}``, from repo2docker's conda lock
    for ``python`` (``"python"`` itself: the interpreter's full version)."""
    import repo2docker

    lock = (Path(repo2docker.__file__).parent / "buildpacks" / "conda"
            / f"environment.py-{python}-linux-64.lock").read_text()
    conda_to_pypi = {"brotli-python": "brotli", "python-fastjsonschema": "fastjsonschema",
                     "jupyterhub-base": "jupyterhub", "nbconvert-core": "nbconvert"}
    pkgs = {}
    for url in re.findall(r"^https://\S+", lock, re.M):
        name, version, build = re.sub(r"\.(conda|tar\.bz2)$", "", url.split("/")[-1].split("#")[0]).rsplit("-", 2)
        if name == "python" or build.startswith("py") or "_py" in build:  # not C libraries
            name = re.sub(r"[-_.]+", "-", name).lower()
            pkgs[conda_to_pypi.get(name, name)] = version
    assert {"jupyterlab", "notebook", "jupyterhub", "jupyter-server"} <= set(pkgs)
    return pkgs


@pytest.mark.install
def test_lock_installs_into_binders_base_image_without_conflict(tmp_path):
    """pip on Binder upgrades what our lock pins and keeps the rest of the base image; that
    rest's requirements must hold against our pins (else pip prints a conflict, as it did for
    notebook 7.4 vs jupyterlab 4.6).  uv resolves base + lock together for linux, Python of
    runtime.txt: success means no conflict."""
    python = (BINDER / "runtime.txt").read_text().strip().removeprefix("python-")
    ours = {}
    for line in _requirement_lines(BINDER / "requirements.txt"):
        spec = line.split(" --hash")[0]
        ours.setdefault(re.sub(r"[-_.]+", "-", spec.split("==")[0]).lower(), []).append(spec)
    base = _base_environment(python)
    rest = {n: v for n, v in base.items()
            if n not in ours and n not in ("python", "pip", "setuptools", "wheel")}
    (tmp_path / "base.in").write_text("".join(f"{n}=={v}\n" for n, v in sorted(rest.items())))
    (tmp_path / "ours.txt").write_text("".join(s + "\n" for specs in ours.values() for s in specs))
    out = subprocess.run([str(BIN / "uv"), "pip", "compile", "--no-header", "--quiet",
                          "--python-version", base["python"], "--python-platform", "x86_64-unknown-linux-gnu",
                          "--no-python-downloads", str(tmp_path / "base.in"), str(tmp_path / "ours.txt"),
                          "-o", str(tmp_path / "out.txt")],
                         capture_output=True, text=True, timeout=600)
    if out.returncode != 0 and not _in_ci() and re.search(r"(?i)dns|connect|network|timed out", out.stderr):
        pytest.skip(f"PyPI not reachable: {out.stderr.strip().splitlines()[-1]}")
    assert out.returncode == 0, f"Binder's base image and the lock conflict:\n{out.stderr}"


def test_memory_walk_culls_idle_connected_kernels(tmp_path):
    """benchmarks/binder_memory_walk.py on two tiny notebooks with a 4 s culling timeout: each
    kernel, its websocket still open, is gone after the pause, and memory falls back."""
    import nbformat

    nb_dir = tmp_path / "nbs"
    nb_dir.mkdir()
    for i in range(2):
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
            "import numpy as np\nblock = np.ones((64, 2**17))  # 64 MB\nprint(block.sum())")])
        nbformat.write(nb, nb_dir / f"0{i}_tiny.ipynb")
    (nb_dir / "notes.ipynb").write_text((nb_dir / "00_tiny.ipynb").read_text())  # not numbered
    res_path = tmp_path / "walk.json"
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "binder_memory_walk.py"),
                          "--notebook-dir", str(nb_dir), "--cull-idle-timeout", "4",
                          "--cull-interval", "2", "--dwell", "15",
                          "--output", str(tmp_path / "walk.md"), "--json", str(res_path)],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]
    res = json.loads(res_path.read_text())
    assert res["notebooks"] == ["00_tiny.ipynb", "01_tiny.ipynb"]
    assert res["cull_log_line"].startswith("Culling kernels with idle durations > 4 seconds")
    assert len(res["culled_log_lines"]) == 2
    assert all("with 1 connections" in l for l in res["culled_log_lines"]), res["culled_log_lines"]
    for st in res["steps"]:
        assert st["status"] == "ok" and st["kernels_after_run"] == 1 and st["kernels_after_dwell"] == 0
        assert st["after_run_mb"] > st["server_after_run_mb"] + 64   # the kernel holds its 64 MB
        assert st["after_dwell_mb"] < st["after_run_mb"] - 64        # ... until it is culled
    assert "| 01_tiny.ipynb |" in (tmp_path / "walk.md").read_text()
