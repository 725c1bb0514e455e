# Jupyter server settings for this repository: the one place for them.
#
# Loaded by every Jupyter server the repository starts: `make lectures` and Binder (binder/start) put
# this directory first on JUPYTER_CONFIG_PATH, and so does tests/test_browser.py for the JupyterLab it
# drives. Your own ~/.jupyter settings still load; these win where both set the same option.
# tests/test_launch.py checks the two behaviours below by starting `make lectures`.
import os
import stat
import sys
import tempfile

from jupyter_core.paths import jupyter_runtime_dir

c = get_config()  # noqa: F821  (defined by the config loader)

# 1. Kernels talk to the server over local UNIX sockets (ZeroMQ ipc://), not TCP on 127.0.0.1: no TCP
#    port per kernel, no socket another local user can reach (they live in the private runtime
#    directory), and none of ipykernel's "Kernel is running over TCP without encryption ... susceptible
#    to eavesdropping" warnings.
#    (Windows has no ipc:// in ZeroMQ's sense there: it keeps TCP.)
if os.name != "nt":
    c.KernelManager.transport = "ipc"

# 2. One Ctrl-C stops the server and its kernels at once (instead of asking "Shut down this Jupyter
#    server (y/[n])?" and resuming after 5 s); it then exits with status 0, so `make` prints no error.
c.ServerApp.answer_yes = True

# 3. Where the sockets go: <runtime dir>/kernel-<uuid>-ipc-<n>, next to the kernel's connection file.
#    A UNIX socket path holds at most 107 bytes on Linux (103 on macOS), and the directory must be
#    private (0700: the sockets are only as private as it is). A long or shared runtime directory is
#    replaced, for this server and its kernels, by a short private one: $XDG_RUNTIME_DIR/jupyter if
#    usable, else /tmp/jupyter-runtime-<uid> (connection files and server info files go there too).
_SOCKET_NAME = "kernel-00000000-0000-0000-0000-000000000000-ipc-99"  # longest name jupyter_client makes
_MAX_SOCKET_PATH = 103


def _usable(directory: str) -> bool:
    if len(os.path.join(directory, _SOCKET_NAME)) > _MAX_SOCKET_PATH:
        return False
    try:
        st = os.lstat(directory)
    except FileNotFoundError:  # jupyter creates it 0700
        return os.path.isabs(directory)
    return (stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid()
            and not st.st_mode & (stat.S_IRWXG | stat.S_IRWXO))


def _short_private_dir() -> str:
    xdg = os.environ.get("XDG_RUNTIME_DIR", "")
    if xdg and _usable(xdg) and _usable(os.path.join(xdg, "jupyter")):
        return os.path.join(xdg, "jupyter")
    tmp = f"/tmp/jupyter-runtime-{os.getuid()}"
    try:
        os.mkdir(tmp, 0o700)
    except FileExistsError:
        pass
    if _usable(tmp):
        return tmp
    return tempfile.mkdtemp(prefix="jupyter-runtime-", dir="/tmp")  # somebody else's, or opened up


_runtime = jupyter_runtime_dir()
if os.name != "nt" and not _usable(_runtime):
    _short = _short_private_dir()
    print(f"[jupyter_config] runtime dir {_runtime} is too long or not private for kernel sockets; "
          f"using {_short}", file=sys.stderr)
    # ServerApp.runtime_dir is not configurable; its default is read from here when first needed,
    # after the config files (this one is read again by each server extension: then it is usable).
    os.environ["JUPYTER_RUNTIME_DIR"] = _short
