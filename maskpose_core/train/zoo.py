"""The model zoo: trained starting points that ship with the code (``maskpose_core/zoo/``).

A zoo entry is a checkpoint **of weights only** (the network's state dict and its config: no
optimiser, no RNG) that one stage of the recipe trained to its plateau: a ``stage1`` detector
(supervised on the pseudo images) or a ``reference`` detector (on the target's 3D labels).
``manifest.json`` lists the entries: kind, seed, stage key (``train/recipe.stage_key``), data
hash, commit, steps, val and test metrics, the file's sha256 and size, and the command that
rebuilds it.

* :func:`read_manifest` / :class:`Zoo` — the entries of a zoo folder (the package's by default).
* ``Zoo.find(stage)`` — the entry whose stage key is that stage's: the recipe's
  :class:`~maskpose_core.train.recipe.CheckpointStore` looks here before it trains a shared
  stage, so stage 2 and every evaluation row start from the zoo.
* ``Zoo.path(name)`` — the entry's file, its sha256 checked (``model.init=zoo:<name>``).
* ``Zoo.verify()`` — every entry's file present, of its sha256, loadable (weights only), and
  its stage key still the one today's code computes from its config.
* ``Zoo.add(name, state, meta)`` — write one entry: the file to a temporary name, then the
  manifest, each replaced atomically, so a failed or partial rebuild leaves the old entry.

Loading always goes through ``train/checkpoint.load_checkpoint`` (``weights_only``).
"""
from __future__ import annotations

import copy
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from maskpose_core.file_hash import file_sha256 as sha256_of

ZOO_DIR = Path(__file__).resolve().parents[1] / "zoo"
MANIFEST = "manifest.json"
KINDS = ("stage1", "reference")
PREFIX = "zoo:"            # model.init=zoo:<entry name>


@dataclass(frozen=True)
class ZooEntry:
    name: str                     # e.g. "stage1-seed0"
    kind: str                     # stage1 | reference
    seed: int
    stage_key: str                # train/recipe.stage_key of the config it was trained with
    file: str                     # relative to the zoo folder
    sha256: str
    size_bytes: int
    steps: int
    data_hash: str = ""
    commit: str = ""
    command: str = ""             # the command that rebuilds it
    source: str = ""              # how these bytes were made: "maskpose zoo build" or "adopted from <run>"
    minutes: float = 0.0          # wall time of the build (training and evaluation); 0 when adopted
    metrics: dict = field(default_factory=dict)   # val/… and test/… on the target

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"zoo entry {self.name!r}: kind must be one of {KINDS}, got {self.kind!r}")


def read_manifest(folder: Path) -> dict[str, ZooEntry]:
    """{name: entry} of ``folder``'s manifest ({} when the zoo has none yet)."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        return {}
    try:
        raw = json.loads(path.read_text())
        return {name: ZooEntry(name=name, **{k: v for k, v in item.items() if k != "name"})
                for name, item in raw["entries"].items()}
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"zoo manifest {path} cannot be read: {err}") from None


def weights_only(state: dict) -> dict:
    """A checkpoint state cut to what a zoo entry ships: the config and the network's weights."""
    return {"config": copy.deepcopy(state["config"]), "model": state["model"], "spp": None, "epoch": state.get("epoch", 0),
            "step": state.get("step", 0)}


class Zoo:
    def __init__(self, folder: str | Path = ZOO_DIR):
        self.folder = Path(folder)

    @property
    def entries(self) -> dict[str, ZooEntry]:
        return read_manifest(self.folder)

    def entry(self, name: str) -> ZooEntry:
        entries = self.entries
        if name not in entries:
            raise ValueError(f"zoo {self.folder}: no entry {name!r}; entries are {sorted(entries) or 'none yet'}")
        return entries[name]

    def path(self, name: str) -> Path:
        """The file of entry ``name``, its sha256 checked (refused by name: missing, changed)."""
        e = self.entry(name)
        path = self.folder / e.file
        if not path.is_file():
            raise FileNotFoundError(f"zoo entry {name}: its file {path} is missing (rebuild it: {e.command})")
        got = sha256_of(path)
        if got != e.sha256:
            raise ValueError(f"zoo entry {name}: {path} has sha256 {got[:12]}…, the manifest says {e.sha256[:12]}… "
                             f"(truncated or replaced; rebuild it: {e.command})")
        return path

    def find(self, stage) -> ZooEntry | None:
        """The entry trained as ``stage`` (same stage key), or None."""
        return next((e for e in self.entries.values() if e.stage_key == stage.key), None)

    def problems(self, name: str) -> list[str]:
        """What is wrong with entry ``name`` today ([] = current)."""
        from maskpose_core.train.checkpoint import config_of, load_checkpoint
        from maskpose_core.train.recipe import stage_key
        try:
            state = load_checkpoint(self.path(name))
        except (ValueError, FileNotFoundError) as err:
            return [str(err)]
        today = stage_key(config_of(state))
        if today != self.entry(name).stage_key:
            return [f"zoo entry {name}: stage key {self.entry(name).stage_key} in the manifest, {today} from its "
                    f"config with today's code (rebuild it: {self.entry(name).command})"]
        return []

    def verify(self) -> dict[str, list[str]]:
        return {name: self.problems(name) for name in sorted(self.entries)}

    def add(self, entry: ZooEntry, state: dict) -> ZooEntry:
        """Write ``state`` (weights only) as ``entry`` and record it; atomic per file, the old
        entry kept until both are written. Returns the entry with its sha256 and size."""
        from maskpose_core.train.checkpoint import save_checkpoint
        if not os.access(self.folder if self.folder.exists() else self.folder.parent, os.W_OK):
            raise ValueError(f"zoo folder {self.folder} is not writable")
        self.folder.mkdir(parents=True, exist_ok=True)
        final = self.folder / entry.file
        tmp = save_checkpoint(final.with_name(f".{final.name}.new"), weights_only(state))
        done = ZooEntry(**{**asdict(entry), "sha256": sha256_of(tmp), "size_bytes": tmp.stat().st_size})
        entries = {**self.entries, done.name: done}
        manifest = {"about": "maskpose model zoo: weights only; maskpose zoo verify checks every entry",
                    "entries": {n: {k: v for k, v in asdict(e).items() if k != "name"}
                                for n, e in sorted(entries.items())}}
        mtmp = self.folder / f".{MANIFEST}.new"
        mtmp.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        tmp.replace(final)
        mtmp.replace(self.folder / MANIFEST)
        return done


def resolve_init(value: str, zoo: Zoo | None = None) -> str:
    """``model.init`` as a file path: ``zoo:<name>`` is the entry's file (sha256 checked)."""
    if value.startswith(PREFIX):
        return str((zoo or Zoo()).path(value[len(PREFIX):]))
    return value
