"""`python tests/kill_at_write.py ARGS...` runs `minil2o ARGS...`, but the process kills itself
with SIGKILL just before its KILL_AT-th call (counted from 1) of a file-system function that
writes, renames, removes or syncs: os.open, os.fsync, os.replace, os.rename, os.remove,
os.unlink, os.link. KILL_AT=0 (or unset) never kills. tests/test_resume.py uses it to kill a
training run at every instant of its saves.
"""
import os
import signal
import sys

WRITES = ("open", "fsync", "replace", "rename", "remove", "unlink", "link")


def install(kill_at):
    """Wrap the os functions of WRITES so that call number kill_at kills the process."""
    count = [0]

    def counted(function):
        def call(*args, **kwargs):
            count[0] += 1
            if count[0] == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            return function(*args, **kwargs)
        return call
    for name in WRITES:
        setattr(os, name, counted(getattr(os, name)))


if __name__ == "__main__":
    install(int(os.environ.get("KILL_AT", "0")))
    from minil2o.cli import main
    sys.exit(main(sys.argv[1:]))
