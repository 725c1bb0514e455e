"""Sphinx configuration of the course site (used by ``python -m coursekit.site``; see that module).

Settings that change per course (title, GitHub OWNER/REPO, Binder URL) come from course.toml.
Notebooks arrive already executed and made static (coursekit.execute, coursekit.static), so
myst-nb only renders them: nb_execution_mode = "off".
"""
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from coursekit import config as _config  # noqa: E402

course = _config.load()

project = course.title
author = course.author
copyright = f"the authors of {course.title}"
html_title = course.title

extensions = [
    "myst_nb",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",   # MathJax 3 copied into _static/: no CDN at build or view time
    "coursekit.sphinx_ext",     # alt texts on notebook figures; no image without one
]

exclude_patterns = ["README.md", "_build", "**.ipynb_checkpoints"]
suppress_warnings = ["myst.header"]  # notebooks may jump heading levels (# then ###)

# --- myst / myst-nb ------------------------------------------------------------------------
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3
myst_dmath_double_inline = True  # $$...$$ inside a paragraph, as JupyterLab renders it
nb_execution_mode = "off"          # executed beforehand, through the shared execution store
nb_ipywidgets_js = {}              # no widget manager from a CDN: widgets are replaced by notes
nb_render_markdown_format = "myst"  # text/markdown outputs (widget notes, tables) are MyST
nb_merge_streams = True
nb_output_stderr = "remove"        # stderr (library warnings) is not lecture content

# --- HTML ----------------------------------------------------------------------------------
html_theme = "sphinx_book_theme"
html_static_path = ["_static"]
html_css_files = ["coursekit.css"]
html_last_updated_fmt = None
html_theme_options = {
    "repository_url": course.repository_url,
    "repository_branch": course.branch,
    "path_to_docs": "",            # the staged tree mirrors the repository: notebooks/NN_*.ipynb
    "use_repository_button": True,
    "use_download_button": True,
    "launch_buttons": {"binderhub_url": "https://mybinder.org", "notebook_interface": "jupyterlab"},
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "home_page_in_toc": True,
}
html_context = {"coursekit_solutions": os.environ.get("COURSEKIT_SOLUTIONS", "fold")}
