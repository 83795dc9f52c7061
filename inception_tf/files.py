"""Atomic writes: a file or directory appears complete or not at all."""

import contextlib
import json
import os
import shutil
import tempfile
import threading

_UMASK_LOCK = threading.Lock()


def current_umask():
    """The process umask, read by setting it and restoring it at once."""
    with _UMASK_LOCK:
        mask = os.umask(0o077)
        os.umask(mask)
    return mask


def _give_default_permissions(root):
    """Gives `root` and everything under it the modes a plain mkdir/open would.

    `tempfile.mkdtemp` creates 0700 directories; a renamed export would keep
    that mode and a server running as another user could not read it.
    Directories get `0o777 & ~umask`; files keep their owner bits and gain the
    group/other read (and execute, where the owner has it) bits the umask allows.
    """
    mask = current_umask()
    os.chmod(root, 0o777 & ~mask)
    for directory, subdirectories, names in os.walk(root):
        for name in subdirectories:
            os.chmod(os.path.join(directory, name), 0o777 & ~mask)
        for name in names:
            path = os.path.join(directory, name)
            if os.path.islink(path):
                continue
            mode = os.stat(path).st_mode & 0o777
            wanted = 0o666 | (0o111 if mode & 0o100 else 0)
            os.chmod(path, wanted & ~mask)


@contextlib.contextmanager
def atomic_file(path):
    """Yields a temporary path beside `path`; renames it onto `path` on success.

    The temporary name starts with `.tmp-` (never an integer, so TF Serving's
    version poller ignores it) and lives in the same directory, so the final
    `os.replace` is atomic. On error the temporary file is removed and `path`
    is left as it was. The file gets the permissions the umask gives a new file
    (mkstemp's 0600 is not kept: the name is removed before the writer creates it).
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    suffix = "".join(os.path.basename(path).partition(".")[1:])  # keep ".keras", ".json"
    handle, temporary = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=directory)
    os.close(handle)
    os.remove(temporary)  # writers such as model.save want to create the file
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def write_json(path, data):
    """Writes `data` as indented JSON to `path` atomically."""
    with atomic_file(path) as temporary:
        with open(temporary, "w") as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
            handle.write("\n")


@contextlib.contextmanager
def atomic_directory(path, overwrite=False):
    """Yields a temporary directory beside `path`; renames it to `path` on success.

    Raises:
        FileExistsError: `path` exists and `overwrite` is False.
    """
    path = os.path.abspath(os.fspath(path))
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it.")
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    temporary = tempfile.mkdtemp(prefix=".tmp-", dir=parent)
    try:
        yield temporary
        _give_default_permissions(temporary)
        if os.path.exists(path):
            if not overwrite:
                raise FileExistsError(f"{path} appeared while it was being written; not replacing it.")
            retired = tempfile.mkdtemp(prefix=".old-", dir=parent)
            os.rename(path, os.path.join(retired, "old"))
            os.rename(temporary, path)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.rename(temporary, path)
    finally:
        if os.path.exists(temporary):
            shutil.rmtree(temporary, ignore_errors=True)
