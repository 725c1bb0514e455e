# `jupyter nbconvert --execute` settings for this repository (read when jupyter_config/ is on
# JUPYTER_CONFIG_PATH: `make lectures` sets it, so JupyterLab's terminals have it; Binder too).
#
# nbconvert executes notebooks with nbclient, whose stock kernel client can lose a kernel reply on a
# busy CPU and then wait forever (a cell that never finishes; see coursekit/kernel_client.py). Its
# edge-safe client is the one the notebook tests, the site, the handouts and benchmarks/ use.
import os
import sys

c = get_config()  # noqa: F821  (defined by the config loader)

_repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _repo not in sys.path:
    sys.path.insert(0, _repo)
from coursekit.kernel_client import EdgeSafeAsyncKernelManager  # noqa: E402

c.NotebookClient.kernel_manager_class = EdgeSafeAsyncKernelManager
