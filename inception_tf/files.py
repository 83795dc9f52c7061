"""Atomic writes: a file or directory appears complete or not at all."""

import contextlib
import json
import os
import shutil
import tempfile


@contextlib.contextmanager
def atomic_file(path):
    """Yields a temporary path beside `path`; renames it onto `path` on success.

    The temporary name starts with `.tmp-` (never an integer, so TF Serving's
    version poller ignores it) and lives in the same directory, so the final
    `os.replace` is atomic. On error the temporary file is removed and `path`
    is left as it was.
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
