"""One writer per run folder: a lock file, as tools like git do for their own folders.

    lock = RunLock("runs/quad", log=print).acquire()   # refuses while another process writes there
    ...                                               # write the run's files
    lock.release()

The lock is the file FOLDER/.minil2o.lock, created with O_CREAT | O_EXCL (so of two processes
exactly one creates it) and holding JSON {"pid", "host", "started", "token"}; "started" is the
process's start time as the kernel reports it (Linux: /proc/PID/stat), so a pid reused by another
program does not look like the writer. A lock whose process has died (on this host) is taken over
with a warning: a killed run never locks its folder forever. A lock of another host, or of a live
process, is refused with a UsageError naming the process, the host and the lock file. release()
removes the file only while it still holds this lock's token.

Nothing at the lock path hangs or crashes: it is read with O_NOFOLLOW | O_NONBLOCK, so a FIFO,
socket, device, folder or symbolic link there is refused in one line naming it (remove it). A lock
whose "pid" is no process id (not an integer in 1..MAX_PID: 2**41, -1, 0, "12", null), or whose
JSON is not an object, was not written by minil2o and names no process that can run: it is taken
over at once with a warning. Text that is not JSON may be a lock being written: refused while
younger than UNREADABLE_GRACE_S, taken over after.

Ours, not filelock or portalocker: a refusal names the writer (pid, host, start time) and a dead
run's lock is taken over with a warning (docs/ROBUSTNESS.md), which their wait-or-time-out locks
leave to the caller; with the standard library alone, and no new dependency.
"""
import json
import os
import stat
import socket
import time
import uuid

from ..errors import UsageError
from .atomic import special_file

LOCK_NAME = ".minil2o.lock"
UNREADABLE_GRACE_S = 10.0      # an empty or unreadable lock younger than this is being written
MAX_PID = 2 ** 31 - 1          # pid_t is a signed 32-bit integer (Linux: at most 2**22 in use)


def process_start(pid):
    """The start time of process `pid` (clock ticks since boot, Linux), or None where unknown."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read().decode("ascii", "replace")
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2:].split()          # after "pid (command) "
    return int(fields[19]) if len(fields) > 19 and fields[19].isdigit() else None


def process_alive(pid, started):
    """Whether process `pid` (started at `started`, or None: unknown) still runs on this host."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except PermissionError:                                 # someone else's live process
        return True
    now = process_start(pid)
    return started is None or now is None or now == started


class RunLock:
    """The lock of one run folder (see the module docstring)."""

    def __init__(self, folder, log=print):
        self.folder, self.log = os.fspath(folder), log
        self.path = os.path.join(self.folder, LOCK_NAME)
        self.token = None

    def acquire(self):
        """Create the lock file, taking over a dead process's lock; UsageError when held."""
        os.makedirs(self.folder, exist_ok=True)
        for _ in range(3):                 # a stale lock removed, then one more try to create
            if self._create():
                return self
            holder = self._holder()
            if holder is None:                      # vanished between the two calls
                continue
            if not self._stale(holder):
                raise UsageError(self._in_use(holder))
            self.log(self._taking_over(holder))
            self._remove_if(holder)
        raise UsageError(f"could not lock the run folder {self.folder}: the lock file {self.path} "
                         "keeps changing (another process is starting there)")

    def release(self):
        """Remove the lock file if it is still this lock's (safe to call more than once)."""
        if self.token is not None:
            holder = self._holder()
            if holder is not None and holder.get("token") == self.token:
                self._remove_if(holder)
            self.token = None

    def _create(self):
        token = uuid.uuid4().hex
        content = {"pid": os.getpid(), "host": socket.gethostname(), "token": token,
                   "started": process_start(os.getpid()), "time": time.time()}
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as fh:
            json.dump(content, fh)
            fh.flush()
            os.fsync(fh.fileno())
        self.token = token
        return True

    def _holder(self):
        """The lock file's content as a dict; {"unreadable"} when not JSON (being written),
        {"invalid"} when JSON naming no valid pid, {"special"} when not a regular file; None
        when absent."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except FileNotFoundError:
            return None
        except OSError:                     # a link (ELOOP), a socket (ENXIO), unreadable
            return {"special": special_file(self.path) or "not readable"}
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):                    # a FIFO, a folder, a device
            os.close(fd)
            return {"special": special_file(self.path) or "not a regular file"}
        with os.fdopen(fd, "rb") as fh:
            raw, age = fh.read(4096), time.time() - info.st_mtime
        try:
            holder = json.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            return {"unreadable": True, "age": age, "raw": raw}
        pid = holder.get("pid") if isinstance(holder, dict) else None
        if type(pid) is not int or not 1 <= pid <= MAX_PID:
            return {"invalid": True, "pid": pid if isinstance(holder, dict) else holder,
                    "raw": raw}
        return holder

    def _stale(self, holder):
        if holder.get("special"):
            return False
        if holder.get("invalid"):
            return True                     # minil2o never writes it; no process can hold it
        if holder.get("unreadable"):
            return holder["age"] > UNREADABLE_GRACE_S
        if holder.get("host") != socket.gethostname():
            return False                        # cannot tell whether it still runs
        started = holder.get("started")
        return not process_alive(holder["pid"], started if isinstance(started, int) else None)

    def _in_use(self, holder):
        if holder.get("special"):
            return (f"the lock path {self.path} is {holder['special']}, not a lock file: remove "
                    f"it if no run uses the folder {self.folder}, or choose another folder")
        if holder.get("unreadable"):
            return (f"the run folder {self.folder} is being locked by another process (its lock "
                    f"file {self.path} is not written yet): try again, or remove the lock file "
                    "if no run uses the folder")
        return (f"the run folder {self.folder} is in use by process {holder['pid']} on "
                f"{holder.get('host')!r} (lock file {self.path}): wait for that run to end or "
                "stop it; remove the lock file only if that process is gone")

    def _taking_over(self, holder):
        if holder.get("invalid"):
            pid = repr(holder["pid"])[:40]
            return (f"warning: taking over the lock {self.path}, whose pid {pid} is no process "
                    f"id (an integer in 1..{MAX_PID}): no run can hold it")
        return (f"warning: taking over the lock {self.path} of process {holder.get('pid')} on "
                f"{holder.get('host')}, which is no longer running")

    def _remove_if(self, holder):
        """Remove the lock file if it still holds `holder` (not a lock created since)."""
        now = self._holder()
        if now is not None and {k: now.get(k) for k in ("pid", "token", "raw")} == \
                {k: holder.get(k) for k in ("pid", "token", "raw")}:
            try:
                os.remove(self.path)
            except FileNotFoundError:
                pass
