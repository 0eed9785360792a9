"""Atomic file writes: a reader (or a run killed at any instant) sees the old file or the new one,
never half of one.

    with atomic_file("out/table.json", "w") as fh:     # a temporary file beside the target,
        json.dump(report, fh)                          # fsynced, then renamed over it
    tmp = write_pending(path, write, tmp=".x.tmp")     # written and fsynced, not yet in place
    publish([(tmp_a, path_a), (tmp_b, path_b)])        # renamed into place in this order
    publish_or_remove(pairs)                           # the same; on an error, no temporary left
    replace_with("out/curves.png", plot)               # plot(tmp) writes a file, then renamed
    check_output("out/table.json")                     # a writable place, checked before work
    special_file("out/optimizer.npz")                  # "a symbolic link to ...", or None
    with uninterrupted(): ...                          # Ctrl-C waits until the block ends

Several files that must move together (a checkpoint's two files) are first all written as
temporary files, then renamed one after the other; the last rename is the commit point, and a
reader that finds the files out of step takes the last one's word (minil2o.training.runs). A temporary file
is named after its target (".NAME.tmp", or a unique ".NAME.XXXX.tmp"), so whoever cleans up after
a kill removes exactly the files it wrote. Ctrl-C (SIGINT) is held back while a file is written
(`uninterrupted`): an interrupt landing inside a library's writer (numpy's zip writer) could leave
it half-closed and turn the interrupt into another error; it takes effect right after instead.

Writes never follow a symbolic link: a temporary file is created with O_EXCL (a unique name) or
opened with O_NOFOLLOW | O_NONBLOCK (a fixed name), so a link, FIFO, socket, device or folder
planted at a temporary name is refused in one line (UsageError) instead of written through or
waited on; the rename onto a target that is a link replaces the link itself, never its target.

Ours, not atomicwrites: that library is unmaintained since 2022 (its author points to os.replace,
which this module uses) and has neither the ordered commit of several files nor the held Ctrl-C.
"""
import contextlib
import errno
import os
import signal
import stat
import tempfile
import threading

from ..errors import UsageError


def temp_name(path):
    """The fixed temporary name of `path` (.NAME.tmp beside it), for a folder with one writer."""
    folder, name = os.path.split(os.fspath(path))
    return os.path.join(folder, f".{name}.tmp")


def file_mode(path):
    """The permissions a replacement of `path` gets: the old file's, else rw-r--r-- less the
    umask (what open() would give a new file)."""
    try:
        return os.stat(path).st_mode & 0o777
    except OSError:
        umask = os.umask(0o022)
        os.umask(umask)
        return 0o666 & ~umask


SPECIAL = ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a folder"),
           (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
           (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


def special_file(path):
    """What stands at `path` when it is neither absent nor a regular file ("a folder", "a FIFO",
    "a symbolic link to '/x'", ...; the entry itself, a link not followed), else None."""
    try:
        mode = os.lstat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return None
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISLNK(mode):
        return f"a symbolic link to {os.readlink(path)!r}"
    return next((kind for test, kind in SPECIAL if test(mode)), "not a regular file")


def refuse_special(path, kind):
    """The one-line refusal of writing at `path`, which is `kind` (special_file)."""
    raise UsageError(f"{os.fspath(path)} is {kind}: minil2o writes only regular files, never "
                     "through a link or into a special file; remove it, or write elsewhere")


def open_fixed_temp(tmp):
    """A write descriptor on the fixed temporary name `tmp`, created or truncated, never through
    a link and never waiting on a FIFO: anything but a regular file there is refused."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_NONBLOCK
    try:
        fd = os.open(tmp, flags, 0o644)
    except OSError as e:
        kind = special_file(tmp)
        if kind is None or e.errno not in (errno.ELOOP, errno.ENXIO, errno.EISDIR, errno.EEXIST):
            raise
        refuse_special(tmp, kind)
    if not stat.S_ISREG(os.fstat(fd).st_mode):          # a FIFO with a reader, a device
        os.close(fd)
        refuse_special(tmp, special_file(tmp) or "not a regular file")
    os.set_blocking(fd, True)
    return fd


def _open_temp(path, tmp, mode):
    folder, name = os.path.split(os.path.abspath(os.fspath(path)))
    os.makedirs(folder, exist_ok=True)
    if tmp is None:
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
        os.fchmod(fd, file_mode(path))                 # mkstemp's 0600 would outlive the rename
    else:
        fd = open_fixed_temp(tmp)
    return os.fdopen(fd, mode), tmp


@contextlib.contextmanager
def uninterrupted():
    """Ctrl-C held back inside the block: a SIGINT that arrives meanwhile is recorded and handed to
    the previous handler when the block ends (a KeyboardInterrupt after it). Python runs signal
    handlers in the main thread, so this works from there; elsewhere the block runs as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if caught and callable(previous):
            previous(signal.SIGINT, None)           # Python's default raises KeyboardInterrupt
        elif caught and previous in (signal.SIG_DFL, None):
            raise KeyboardInterrupt


def write_pending(path, write, tmp=None, mode="wb"):
    """Call write(fh) on a temporary file beside `path` (the name `tmp`, or a unique one), flush
    and fsync it, with Ctrl-C held back; returns its name. On any error the temporary file is
    removed."""
    fh, tmp = _open_temp(path, tmp, mode)
    try:
        with fh, uninterrupted():
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        remove_quietly(tmp)
        raise
    return tmp


def publish(pairs):
    """Rename each (temporary, target) into place, in order, then make the renames durable."""
    folders = []
    for tmp, path in pairs:
        os.replace(tmp, path)                 # atomic on POSIX: old file or new file, never half
        folder = os.path.dirname(os.path.abspath(path))
        if folder not in folders:
            folders.append(folder)
    for folder in folders:
        fsync_dir(folder)


def publish_or_remove(pairs):
    """publish(pairs); if a rename fails, the temporary files not yet in place are removed."""
    try:
        publish(pairs)
    except BaseException:
        for tmp, _ in pairs:
            remove_quietly(tmp)
        raise


@contextlib.contextmanager
def atomic_file(path, mode="wb", tmp=None):
    """A file handle whose content replaces `path` atomically when the block ends without error;
    after an error the target is untouched and no temporary file is left."""
    fh, tmp = _open_temp(path, tmp, mode)
    try:
        with fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        remove_quietly(tmp)
        raise
    publish_or_remove([(tmp, path)])


def replace_with(path, produce):
    """produce(tmp) writes a file at tmp (a name beside `path` with its extension, for writers
    that choose the format by it, like matplotlib); it is then fsynced and renamed over `path`.
    On an error nothing is left behind. Returns path."""
    folder, name = os.path.split(os.path.abspath(os.fspath(path)))
    stem, ext = os.path.splitext(name)
    tmp = os.path.join(folder, f".{stem}.{os.getpid()}.tmp{ext}")
    if os.path.lexists(tmp):                   # an earlier process's with this pid, or planted:
        kind = special_file(tmp)               # produce() opens it by name, and would follow a
        if kind == "a folder":                 # link; the entry itself is removed first
            refuse_special(tmp, kind)
        os.remove(tmp)
    try:
        produce(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        publish([(tmp, path)])
    except BaseException:
        remove_quietly(tmp)
        raise
    return path


def check_output(path, folder=False):
    """Before any work: make sure `path` (a file, or with folder=True a folder) can be written,
    creating its folder; an OSError or UsageError names what is wrong. Nothing is left behind."""
    path = os.path.abspath(os.fspath(path))
    target = path if folder else os.path.dirname(path)
    if folder and os.path.exists(path) and not os.path.isdir(path):
        raise UsageError(f"output folder {path!r} is a file: give a folder")
    if not folder and os.path.isdir(path):
        raise UsageError(f"output file {path!r} is a folder: give a file name")
    existing = target
    while not os.path.exists(existing) and os.path.dirname(existing) != existing:
        existing = os.path.dirname(existing)              # the nearest folder that exists
    if not os.path.isdir(existing):
        raise UsageError(f"{existing!r} is a file, so {path!r} cannot be written: give a folder")
    os.makedirs(target, exist_ok=True)
    fd, probe = tempfile.mkstemp(prefix=".write-check.", dir=target)
    os.close(fd)
    os.remove(probe)
    return path


def remove_quietly(path):
    """Remove a file if it exists."""
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)


def fsync_dir(folder):
    """Make a rename in `folder` durable (a power cut afterwards still finds the new file)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:                           # e.g. platforms that cannot open a folder
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
