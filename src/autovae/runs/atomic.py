"""Files written atomically: a reader sees the old file or the new one, never half of one."""
from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Callable


def jsonable(value: Any) -> Any:
    """``value`` as a record holds it: plain numbers, lists and string keys; non-finite floats as text."""
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # "nan" / "inf": JSON has no literal for them
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def write_json_atomic(path: str | Path, payload: dict[str, Any]) -> None:
    write_text_atomic(path, json.dumps(jsonable(payload), indent=2, sort_keys=True))


def write_text_atomic(path: str | Path, text: str) -> None:
    write_atomic(path, lambda f: f.write(text.encode()))


def write_atomic(path: str | Path, write: Callable[[Any], Any]) -> None:
    """Writes through ``write(binary file)`` to a temporary file in the same folder (so the same
    filesystem), then renames: readers never see half a file, a full disk never truncates one."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as err:
        raise OSError(err.errno, err.strerror, str(path)) from err
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's 0600 would hide results from the group
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        cause = _os_error_in(err)
        if cause is not None:  # a write to a full disk names no file (torch.save even hides it in a
            raise OSError(cause.errno, cause.strerror, str(path)) from err  # RuntimeError): name this one
        raise


def _os_error_in(err: BaseException | None) -> OSError | None:
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, OSError) and err.errno is not None:
            return err
        err = err.__cause__ or err.__context__
    return None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
