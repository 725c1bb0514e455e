# Jupyter server settings for Binder: binder/start puts this folder on JUPYTER_CONFIG_PATH.
#
# Binder's free tier gives 1-2 GB of memory for the server and all its kernels, and a student who
# opens the notebooks one after another leaves every kernel running (each holds a few hundred MB
# after its notebook ran).  So kernels that have been idle for 10 minutes are shut down ("culled"),
# even while their notebook is still open in a tab; a kernel that is running a cell never is.
# A culled notebook shows "No Kernel": pick the kernel again and run it from the top
# (Kernel > Restart Kernel and Run All Cells).  benchmarks/binder_memory_walk.py measures the
# effect: it opens every notebook in turn in one server started like this one.
c = get_config()  # noqa: F821  (provided by Jupyter when it loads this file)

c.MappingKernelManager.cull_idle_timeout = 600  # seconds without kernel activity
c.MappingKernelManager.cull_interval = 60       # seconds between two checks
c.MappingKernelManager.cull_connected = True    # also kernels whose notebook tab is open
c.MappingKernelManager.cull_busy = False        # never a kernel that is running a cell
