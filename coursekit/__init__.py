"""Course tooling: the static course site and the student handouts.

Not part of the ``lecture_lib`` library (it is not installed with it): these modules build
course material from the numbered notebooks ``notebooks/NN_<slug>.ipynb``, and are run from
the repository root::

    python -m coursekit.site        # make site:     build/site/index.html
    python -m coursekit.handouts    # make handouts: build/handouts/NN_<slug>.ipynb
    python -m coursekit.convert     # make convert-solutions: <details> solutions -> tagged cells

The markers notebook authors use (cell tags, cell metadata) are documented in
``docs/authoring.md``; their names are the constants of :mod:`coursekit.notebooks`.
Settings (title, GitHub OWNER/REPO for the Binder links) live in ``course.toml``.
"""
