"""One module per notebook: ``notebooks/NN_<slug>.ipynb`` <-> ``lecture_lib/lectures/<slug>.py``.

A lecture module holds the story of its notebook (tasks, experiments, bounds, figures that its
widgets redraw); the textbook objects it uses (kernels, losses, metrics, the GD core, data
loaders, spectra) live in the core modules of :mod:`lecture_lib`.  A lecture module imports the
core, never another lecture module.  Notebooks import their module under one alias::

    from lecture_lib.lectures import ntk_primer as lec
"""
