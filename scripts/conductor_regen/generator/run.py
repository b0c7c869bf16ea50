"""Generation step: run OpenAPI Generator into a fresh staging tree, with a cache keyed by inputs."""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Dict, Optional

from conductor_regen.ahead import Ahead
from conductor_regen.config import Settings
from conductor_regen.errors import GeneratorError
from conductor_regen.generator.backends import Running, build_invocation, display
from conductor_regen.generator.provenance import FILENAME as PROVENANCE_FILE, Provenance, read_provenance, write_provenance
from conductor_regen.spec.intake import dump_spec
from conductor_regen.verdict_cache import cached_count, store

log = logging.getLogger(__name__)

META_DIR = ".regen"  # beside the generated package in a staging tree


@dataclasses.dataclass(frozen=True)
class GeneratedTree:
    """A staging tree: the generator's output root plus our metadata."""

    root: Path
    package_dir: Path
    provenance: Provenance
    cached: bool
    seconds: float
    command: str


def package_dir(root: Path, package: str) -> Path:
    """Where `package` lives under an import root."""
    return root.joinpath(*package.split("."))


def is_staging_tree(path: Path) -> bool:
    """True for a folder we generated before (safe to replace)."""
    return (path / META_DIR / PROVENANCE_FILE).is_file()


def check_output_dir(output: Path) -> None:
    """Refuse to clobber a folder that is neither empty nor one of our staging trees."""
    if output.exists() and not output.is_dir():
        raise GeneratorError(f"output {output} exists and is not a folder", "pick another --output")
    if output.is_dir() and any(output.iterdir()) and not is_staging_tree(output):
        raise GeneratorError(
            f"output {output} is not empty and was not made by this tool",
            "pick an empty or new folder for --output (it is never merged into)",
        )


def _entry_key(prov: Provenance) -> str:
    # Keyed by backend too: the output is the same, but the provenance must name the backend that
    # actually produced the tree, so a jar-made tree is never handed to a run that asked for npm.
    return f"{prov.cache_key()}-{prov.generator_backend}"


def _makes_the_same_tree(recorded: Optional[Provenance], prov: Provenance) -> bool:
    """True when a cached tree's recorded inputs give `prov`'s tree: the same generator input, generator, options,
    tool and backend. Where the spec was read from (and its bytes before the repairs) may differ."""
    return recorded is not None and _entry_key(recorded) == _entry_key(prov)


def _cache_entry(settings: Settings, prov: Provenance) -> Path:
    return settings.cache_dir / "staging" / _entry_key(prov)


def _place(new: Path, output: Path) -> None:
    """Move a finished tree to `output`, replacing an old staging tree there, never merging."""
    output.parent.mkdir(parents=True, exist_ok=True)
    if output.exists():
        trash = Path(tempfile.mkdtemp(prefix=f".{output.name}.old-", dir=output.parent))
        os.rename(output, trash / "tree")
        os.rename(new, output)
        shutil.rmtree(trash)
    else:
        os.rename(new, output)


class PendingTree:
    """A generation: checked when made, launched (or taken from the cache), then finished or cancelled.

    A `Handle` for `Ahead.begin`: making one checks all a launch needs (the output folder, Java, the
    jar) and runs nothing, so those errors come first in either mode.
    """

    def __init__(self, document: Dict[str, Any], prov: Provenance, settings: Settings, output: Path,
                 use_cache: bool = True) -> None:
        check_output_dir(output)
        self.output = output.resolve()
        self.output.parent.mkdir(parents=True, exist_ok=True)
        self.prov = prov
        self.package = settings.generator.package_name
        self.work = Path(tempfile.mkdtemp(prefix=f".{self.output.name}.tmp-", dir=self.output.parent))
        self.running: Optional[Running] = None
        self.command = "(cached)"
        self._timeout = settings.generator.timeout
        entry = _cache_entry(settings, prov)
        try:
            if use_cache and _makes_the_same_tree(read_provenance(entry / META_DIR / PROVENANCE_FILE), prov):
                self._cached: Optional[Path] = entry
                return
            self._cached = None
            self.spec_path = self.work / "spec.json"
            self.spec_path.write_bytes(dump_spec(document))
            self._invocation = build_invocation(settings.generator, self.spec_path, self.work / "out",
                                                settings.cache_dir.resolve())
            log.debug("generator command: %s", display(self._invocation))
            self.log_path = settings.cache_dir.resolve() / "logs" / f"generator-{prov.cache_key()}.log"
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self.command = display(self._invocation)
        except BaseException:
            shutil.rmtree(self.work, ignore_errors=True)
            raise

    def launch(self) -> None:
        """Start the generator (or copy the cached tree)."""
        if self._cached is not None:
            shutil.copytree(self._cached, self.work / "out", symlinks=True)
            # The tree is the same; where its spec came from is this run's (another path, the same bytes).
            write_provenance(self.prov, self.work / "out" / META_DIR / PROVENANCE_FILE)
            log.debug("generator output reused from cache %s", self._cached)
        else:
            self.running = Running(self._invocation, self.log_path, self._timeout)

    def finish(self) -> GeneratedTree:
        """Wait for the generator, add our metadata, and move the tree to the output folder."""
        try:
            seconds = 0.0
            out = self.work / "out"
            if self._cached is None:
                assert self.running is not None, "finish() before launch()"
                seconds = self.running.wait()
                if not package_dir(out, self.package).is_dir():
                    raise GeneratorError(f"the generator wrote no package {self.package}",
                                         f"see its log: {self.log_path}")
                meta = out / META_DIR
                meta.mkdir()
                shutil.copyfile(self.spec_path, meta / "spec.json")
                write_provenance(self.prov, meta / PROVENANCE_FILE)
            _place(out, self.output)
            return GeneratedTree(self.output, package_dir(self.output, self.package), self.prov,
                                 self._cached is not None, seconds, self.command)
        except BaseException:
            self.cancel()
            raise
        finally:
            shutil.rmtree(self.work, ignore_errors=True)

    def cancel(self) -> None:
        """Stop the generator and drop its work folder; the output folder is left as it was."""
        if self.running is not None:
            self.running.cancel()
        shutil.rmtree(self.work, ignore_errors=True)


def generate_tree(document: Dict[str, Any], prov: Provenance, settings: Settings, output: Path,
                  use_cache: bool = True) -> GeneratedTree:
    """Generate `document` into `output` (a fresh tree every time, so stale files never linger)."""
    with Ahead(sequential=True) as ahead:  # its launch and clean-up, with nothing to overlap
        ahead.begin("generate", PendingTree(document, prov, settings, output, use_cache))
        result: GeneratedTree = ahead.result("generate")
        return result


def remember(tree: GeneratedTree, settings: Settings) -> Optional[Path]:
    """Cache a verified tree so an identical rerun skips the generator."""
    if tree.cached:
        return None
    entry = _cache_entry(settings, tree.provenance)
    if is_staging_tree(entry):
        return entry
    entry.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".entry-", dir=entry.parent))
    try:
        shutil.copytree(tree.root, tmp / "tree", symlinks=True)
        os.rename(tmp / "tree", entry)
    except OSError:
        log.debug("could not cache %s (another run may have done it)", entry, exc_info=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return entry


IMPORTS = "imports"  # the verdict cache's kind for verify's import checks, beside the entries they are about


def known_imports(tree: GeneratedTree, settings: Settings, fingerprint: str) -> Optional[int]:
    """How many modules of a cached tree imported in the interpreter of `fingerprint` before (None: not known)."""
    if not tree.cached:
        return None
    return cached_count(settings.cache_dir / "staging", IMPORTS, _entry_key(tree.provenance), fingerprint)


def record_imports(tree: GeneratedTree, settings: Settings, fingerprint: str, count: int) -> None:
    """Note that every module of the cached tree `tree` imported in the interpreter of `fingerprint`."""
    if not is_staging_tree(_cache_entry(settings, tree.provenance)):
        return
    try:
        store(settings.cache_dir / "staging", IMPORTS, _entry_key(tree.provenance), fingerprint, count)
    except OSError:
        log.debug("could not record the import check of %s", _cache_entry(settings, tree.provenance), exc_info=True)
