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

Ours, not filelock or portalocker: a refusal names the writer (pid, host, start time) and a dead
run's lock is taken over with a warning (docs/ROBUSTNESS.md), which their wait-or-time-out locks
leave to the caller; with the standard library alone, and no new dependency.
"""
import json
import os
import socket
import time
import uuid

from ..errors import UsageError

LOCK_NAME = ".minil2o.lock"
UNREADABLE_GRACE_S = 10.0      # an empty or unreadable lock younger than this is being written


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
    except ProcessLookupError:
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
            self.log(f"warning: taking over the lock {self.path} of process {holder.get('pid')} "
                     f"on {holder.get('host')}, which is no longer running")
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
        """The lock file's content as a dict ({} when unreadable or empty); None when absent."""
        try:
            with open(self.path, "rb") as fh:
                raw = fh.read(4096)
            age = time.time() - os.stat(self.path).st_mtime
        except FileNotFoundError:
            return None
        try:
            holder = json.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            holder = None
        if not isinstance(holder, dict) or not isinstance(holder.get("pid"), int) \
                or isinstance(holder.get("pid"), bool) or holder["pid"] <= 0:
            return {"unreadable": True, "age": age, "raw": raw}
        return holder

    def _stale(self, holder):
        if holder.get("unreadable"):
            return holder["age"] > UNREADABLE_GRACE_S
        if holder.get("host") != socket.gethostname():
            return False                        # cannot tell whether it still runs
        started = holder.get("started")
        return not process_alive(holder["pid"], started if isinstance(started, int) else None)

    def _in_use(self, holder):
        if holder.get("unreadable"):
            return (f"the run folder {self.folder} is being locked by another process (its lock "
                    f"file {self.path} is not written yet): try again, or remove the lock file "
                    "if no run uses the folder")
        return (f"the run folder {self.folder} is in use by process {holder['pid']} on "
                f"{holder.get('host')!r} (lock file {self.path}): wait for that run to end or "
                "stop it; remove the lock file only if that process is gone")

    def _remove_if(self, holder):
        """Remove the lock file if it still holds `holder` (not a lock created since)."""
        now = self._holder()
        if now is not None and {k: now.get(k) for k in ("pid", "token", "raw")} == \
                {k: holder.get(k) for k in ("pid", "token", "raw")}:
            try:
                os.remove(self.path)
            except FileNotFoundError:
                pass
