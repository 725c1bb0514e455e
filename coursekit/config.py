"""The course's settings, from ``course.toml`` at the repository root."""
from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from .notebooks import REPO

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: tomli (in the lock there, as Sphinx's dependency)
    import tomli as tomllib

CONFIG_FILE = REPO / "course.toml"
PLACEHOLDER = "OWNER/REPO"


@dataclass(frozen=True)
class Course:
    title: str
    subtitle: str
    author: str
    github: str        # OWNER/REPO
    branch: str
    binder_template: str

    @property
    def repository_url(self) -> str:
        return f"https://github.com/{self.github}"

    @property
    def published(self) -> bool:
        """False while ``github`` is still the OWNER/REPO placeholder."""
        return self.github != PLACEHOLDER

    def binder_url(self, repo_path: str) -> str:
        """Binder link opening ``repo_path`` (e.g. ``notebooks/00_welcome.ipynb``) in JupyterLab."""
        return self.binder_template.format(github=self.github, branch=self.branch,
                                           path=urllib.parse.quote(repo_path, safe=""))


def load(path: Path | str = CONFIG_FILE) -> Course:
    path = Path(path)
    with open(path, "rb") as f:
        raw = tomllib.load(f)
    try:
        course, repo, binder = raw["course"], raw["repository"], raw["binder"]
        cfg = Course(title=str(course["title"]), subtitle=str(course.get("subtitle", "")),
                     author=str(course.get("author", "")), github=str(repo["github"]).strip("/"),
                     branch=str(repo.get("branch", "HEAD")), binder_template=str(binder["url"]))
    except KeyError as exc:
        raise ValueError(f"{path}: missing setting {exc}") from None
    if cfg.github.count("/") != 1:
        raise ValueError(f"{path}: repository.github must be OWNER/REPO, got {cfg.github!r}")
    for field in ("{github}", "{path}"):
        if field not in cfg.binder_template:
            raise ValueError(f"{path}: binder.url must contain {field}, got {cfg.binder_template!r}")
    return cfg
