"""Campaigns: named structures and DFT tasks with dependencies, from TOML or from Python.

A campaign file (``workflows/*.toml``)::

    [campaign]
    name = "smoke"
    preset = "demo"                 # default preset of every task

    [structures.cspbbr3]
    builder = "perovskite"          # see BUILDERS; other keys are the builder's arguments
    halide = "Br"
    a = 5.874

    [tasks.lattice]
    kind = "relax_lattice"          # see perovcalc.kinds.KINDS
    structure = "cspbbr3"           # a structure name, or "task:NAME" (that task's final structure)
    options = { points = 5 }        # kind-specific options
    params = { maxiter = 60 }       # GPAW keyword overrides on top of the preset
    # preset = "standard"; charge = 1; needs = ["other_task"]
    labels = { environment = "bulk" }  # free-form strings for the report; not part of the id
    max_ranks = 1                   # cap on MPI ranks (e.g. Gamma-only PW); not part of the id

A builder argument may also be ``"task:NAME"``: the ``lattice_constant`` that task computed.

A sweep writes one block for a series: a ``sweep`` table of equal-length lists in a structure or
task block stands for one block per position (the i-th value of every list taken together), its
name (quoted in TOML: it holds braces) and string values with ``{VAR}`` replaced by the values
(``"{x}"`` alone keeps a number a number). The copies take the block's place, and have the ids
they would have written out. A long sweep can be a sub-table, ``[tasks."host_{env}".sweep]``::

    [structures."bulk_x{x}"]        # bulk_x0 ... bulk_x3
    builder = "bulk"
    sweep = { x = [0, 1, 2, 3] }
    x = "{x}"

    [tasks."host_{env}"]            # host_bare (bare_surface), host_kbr (kbr_passivated)
    sweep = { env = ["bare", "kbr"], environment = ["bare_surface", "kbr_passivated"] }
    kind = "defect_host"
    structure = "slab_{env}"
    labels = { environment = "{environment}" }

Everything is validated on load; errors name the file, the field, the value and what is allowed.
"""

from __future__ import annotations

import graphlib
import hashlib
import heapq
import importlib
import inspect
import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from ase import Atoms

from perovcalc.errors import InputError, PerovcalcError
from perovcalc.files import read_toml
from perovcalc.guards import (
    check_atoms,
    check_dft_size,
    check_name,
    estimated_atoms,
    gpaw_keywords,
    non_finite,
)
from perovcalc.kinds import get_kind, keyed_options, resolve_options
from perovcalc.presets import PRESETS
from perovcalc.tasks import TASK_REF

BUILDERS: dict[str, str] = {
    "perovskite": "perovcalc.bulk:cubic_perovskite",
    "bulk": "perovcalc.alloy:mixed_halide_supercell",
    "slab": "perovcalc.slab:perovskite_slab",
    "nanocrystal": "perovcalc.nanocrystal:nanocrystal",
    "file": "perovcalc.files:read_structure",
    "phase": "perovcalc.bulk:phase_structure",
}
TASK_KEYS = {
    "kind", "structure", "preset", "params", "options", "needs", "charge", "labels", "max_ranks"
}  # fmt: skip
TOP_KEYS = {"campaign", "structures", "tasks"}
CAMPAIGN_KEYS = {"name", "preset", "description", "include"}
SWEEP = "sweep"
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def builder_function(name: str, where: str = ""):
    if name not in BUILDERS:
        raise InputError("builder", name, sorted(BUILDERS), where)
    module, _, function = BUILDERS[name].partition(":")
    return getattr(importlib.import_module(module), function)


def task_refs(value: object) -> list[str]:
    """Task names referenced as ``"task:NAME"`` in a value (recursively in dicts and lists)."""
    if isinstance(value, str) and value.startswith(TASK_REF):
        return [value[len(TASK_REF) :]]
    if isinstance(value, dict):
        return [r for v in value.values() for r in task_refs(v)]
    if isinstance(value, list | tuple):
        return [r for v in value for r in task_refs(v)]
    return []


@dataclass
class StructureSpec:
    """A structure recipe: a builder name and its keyword arguments (or a given Atoms)."""

    name: str
    builder: str
    args: dict = field(default_factory=dict)

    def recipe(self) -> dict:
        return {"builder": self.builder, "args": self.args}


@dataclass
class TaskSpec:
    """One task of a campaign."""

    name: str
    kind: str
    structure: str | None
    preset: str
    params: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)
    needs: list[str] = field(default_factory=list)
    charge: int = 0
    labels: dict[str, str] = field(default_factory=dict)  # for reports only, e.g. environment
    max_ranks: int | None = None  # at most this many MPI ranks (GPAW 26.7 Gamma-only PW: 1)


@dataclass
class Campaign:
    """Structures and tasks; ``validate()`` checks them, ``order()`` sorts tasks by dependency."""

    name: str
    preset: str = "demo"
    description: str = ""
    structures: dict[str, StructureSpec] = field(default_factory=dict)
    tasks: dict[str, TaskSpec] = field(default_factory=dict)
    source: str = "<python>"  # file the campaign came from, for error messages
    base_dir: Path = field(default_factory=Path.cwd)  # relative paths in builder args

    def add_structure(self, name: str, builder: str | Atoms, **args) -> None:
        """Declare a structure from a builder (see BUILDERS) or an ``ase.Atoms``."""
        if isinstance(builder, Atoms):
            from ase.io.jsonio import encode

            # JSON text, not a nested dict: ASE db would decode its arrays in the stored recipe
            self.structures[name] = StructureSpec(name, "atoms", {"atoms": encode(builder)})
        else:
            self.structures[name] = StructureSpec(name, builder, args)

    def add_task(self, name: str, kind: str, structure: str | None = None, **settings) -> None:
        """Declare a task; ``settings`` are preset, params, options, needs, charge, labels,
        max_ranks."""
        settings.setdefault("preset", self.preset)
        self.tasks[name] = TaskSpec(name, kind, structure, **settings)

    # ----------------------------------------------------------------- validation
    def dependencies(self, task: TaskSpec) -> list[str]:
        """Names of the tasks ``task`` needs finished first."""
        deps = list(task.needs)
        if task.structure is not None:
            if task.structure.startswith(TASK_REF):
                deps.append(task.structure[len(TASK_REF) :])
            elif task.structure in self.structures:
                deps += task_refs(self.structures[task.structure].args)
        return sorted(set(deps))

    def subset(self, names: list[str]) -> Campaign:
        """The campaign cut down to the tasks ``names``, everything they depend on and the
        structures those tasks build (the same task ids: a part of a campaign runs into the
        campaign's store)."""
        keep: set[str] = set()
        todo = list(names)
        while todo:
            name = todo.pop()
            if name not in self.tasks:
                raise InputError("task", name, sorted(self.tasks), self.source)
            if name not in keep:
                keep.add(name)
                todo += self.dependencies(self.tasks[name])
        tasks = {n: t for n, t in self.tasks.items() if n in keep}
        used = {t.structure for t in tasks.values()}
        structures = {n: s for n, s in self.structures.items() if n in used}
        return replace(self, tasks=tasks, structures=structures)

    def validate(self) -> None:
        """Check every name, kind, option, preset and dependency; raise InputError."""
        if self.preset not in PRESETS:
            raise InputError("campaign.preset", self.preset, list(PRESETS), self.source)
        check_name(self.name, "campaign.name", self.source)
        sizes: dict[str, tuple[int, float | None]] = {}  # atoms, cell volume (A^3) if known
        for spec in self.structures.values():
            where = f"{self.source} [structures.{spec.name}]"
            check_name(spec.name, "structures", where)
            if spec.builder == "atoms":
                continue
            function = builder_function(spec.builder, where)
            accepted = set(inspect.signature(function).parameters)
            if spec.builder == "file":
                accepted = {"filename", "index", "format"}
            for key in spec.args:
                if key not in accepted:
                    raise InputError(
                        f"structures.{spec.name}.{key}", spec.args[key], sorted(accepted), where
                    )
            bad = non_finite(spec.args)
            if bad is not None:
                raise InputError(f"structures.{spec.name}", bad, "finite numbers", where)
            estimate = estimated_atoms(spec.builder, spec.args)
            if estimate is not None:
                check_atoms(estimate, where)
                sizes[spec.name] = (estimate, None)
            refs = task_refs(spec.args)
            for ref in refs:
                if ref not in self.tasks:
                    raise InputError(
                        f"structures.{spec.name}", TASK_REF + ref, sorted(self.tasks), where
                    )
            if not refs:  # build it now: bad builder values fail here, before anything runs
                try:
                    atoms = function(**spec.args)
                    if not isinstance(atoms, Atoms):  # several frames of a file
                        raise InputError("index", spec.args.get("index"), "one frame (a number)")
                    check_atoms(len(atoms), where)
                    sizes[spec.name] = (len(atoms), atoms.cell.volume or None)
                except InputError as err:
                    raise InputError(
                        f"structures.{spec.name}.{err.field}", err.value, err.allowed, where
                    ) from None
                except (TypeError, ValueError, OSError) as err:
                    raise PerovcalcError(f"{where}: cannot build the structure: {err}") from None
        if not self.tasks:
            raise PerovcalcError(f"{self.source}: the campaign has no [tasks.NAME] tables")
        for task in self.tasks.values():
            where = f"{self.source} [tasks.{task.name}]"
            check_name(task.name, "tasks", where)
            get_kind(task.kind, where)
            task.options = resolve_options(task.kind, task.options, where)
            if task.preset not in PRESETS:
                raise InputError(f"tasks.{task.name}.preset", task.preset, list(PRESETS), where)
            if not isinstance(task.params, dict):
                raise InputError(
                    f"tasks.{task.name}.params", task.params, "a table of GPAW keywords", where
                )
            if isinstance(task.charge, bool) or not isinstance(task.charge, int):
                raise InputError(f"tasks.{task.name}.charge", task.charge, "an integer", where)
            ranks = task.max_ranks
            if ranks is not None and (
                isinstance(ranks, bool) or not isinstance(ranks, int) or ranks < 1
            ):
                raise InputError(f"tasks.{task.name}.max_ranks", ranks, "a positive integer", where)
            if task.structure is None:
                raise InputError(
                    f"tasks.{task.name}.structure", None, self._structure_choices(), where
                )
            ref = task.structure.startswith(TASK_REF)
            target = task.structure[len(TASK_REF) :] if ref else task.structure
            if target not in (self.tasks if ref else self.structures):
                raise InputError(
                    f"tasks.{task.name}.structure", task.structure, self._structure_choices(), where
                )
            for dep in task.needs:
                if dep not in self.tasks:
                    raise InputError(f"tasks.{task.name}.needs", dep, sorted(self.tasks), where)
            if get_kind(task.kind).dft:
                self._check_params(task, where)
        self.order()
        for task in self.tasks.values():  # after order(): "task:" chains have no cycle
            if get_kind(task.kind).dft:
                root = self._root_structure(task)
                if root in sizes:
                    check_dft_size(*sizes[root], f"{self.source} [tasks.{task.name}]")

    def _check_params(self, task: TaskSpec, where: str) -> None:
        if not task.params:
            return
        allowed = gpaw_keywords()
        for key, value in task.params.items():
            if key not in allowed:
                raise InputError(f"tasks.{task.name}.params.{key}", value, sorted(allowed), where)
        bad = non_finite(task.params)
        if bad is not None:
            raise InputError(f"tasks.{task.name}.params", bad, "finite numbers", where)

    def _root_structure(self, task: TaskSpec) -> str | None:
        """The named structure a task's input comes from (through "task:" references)."""
        while task.structure is not None and task.structure.startswith(TASK_REF):
            task = self.tasks[task.structure[len(TASK_REF) :]]
        return task.structure

    def _structure_choices(self) -> list[str]:
        return sorted(self.structures) + [TASK_REF + t for t in sorted(self.tasks)]

    def order(self) -> list[TaskSpec]:
        """Tasks in declaration order, except that every dependency comes first (the runner
        starts ready tasks in this order: declare long chains early)."""
        graph = {name: self.dependencies(task) for name, task in self.tasks.items()}
        sorter = graphlib.TopologicalSorter(graph)
        try:
            sorter.prepare()
        except graphlib.CycleError as err:
            cycle = " -> ".join(err.args[1])
            raise PerovcalcError(
                f"{self.source}: dependency cycle between tasks: {cycle}"
            ) from None
        declared = {name: i for i, name in enumerate(self.tasks)}
        ready: list[tuple[int, str]] = []
        names: list[str] = []
        while sorter.is_active():
            for name in sorter.get_ready():
                heapq.heappush(ready, (declared[name], name))
            names.append(heapq.heappop(ready)[1])
            sorter.done(names[-1])
        return [self.tasks[n] for n in names]

    # ----------------------------------------------------------------- identity
    def recipe(
        self, task: TaskSpec, ids: dict[str, str] | None = None, legacy: bool = False
    ) -> dict:
        """What determines the result of ``task``: kind, settings, input structure recipe, and
        the ids of the tasks it depends on (so the id is known before anything runs).

        ``legacy``: the recipe of perovcalc 0.1, which named the tasks in ``needs`` instead of
        giving their ids (a changed dependency left the id alone); to adopt its rows."""
        ids = self.task_ids(legacy) if ids is None else ids

        def substitute(value):
            if isinstance(value, str) and value.startswith(TASK_REF):
                return TASK_REF + ids[value[len(TASK_REF) :]]
            if isinstance(value, dict):
                return {k: substitute(v) for k, v in value.items()}
            if isinstance(value, list | tuple):
                return [substitute(v) for v in value]
            return value

        structure = task.structure
        if structure in self.structures:
            structure = self.structures[structure].recipe()
        needs = sorted(task.needs)
        return substitute(
            {
                "kind": task.kind,
                "structure": structure,
                "preset": task.preset,
                "params": task.params,
                "options": keyed_options(task.kind, task.options),  # the same before validate()
                "charge": task.charge,
                "needs": needs if legacy else [TASK_REF + n for n in needs],
            }
        )

    def task_ids(self, legacy: bool = False) -> dict[str, str]:
        """Content-hash id of every task: "t" and 16 hex digits (``legacy``: see :meth:`recipe`)."""
        ids: dict[str, str] = {}
        for task in self.order():
            text = json.dumps(self.recipe(task, ids, legacy), sort_keys=True, default=str)
            # a letter first: ASE db refuses string values that parse as numbers
            ids[task.name] = "t" + hashlib.sha256(text.encode()).hexdigest()[:16]
        return ids


def _expect_table(value: object, field_name: str, where: str) -> dict:
    if not isinstance(value, dict):
        raise InputError(field_name, value, "a table", where)
    return value


def _sweep_values(table: str, name: str, sweep: object, where: str) -> list[dict]:
    """The ``{VAR: value}`` of each position of a block's ``sweep`` table."""
    field_name = f"{table}.{name}.{SWEEP}"
    if not isinstance(sweep, dict) or not sweep:
        raise InputError(field_name, sweep, "a table of equal-length lists: { x = [0, 1] }", where)
    length = None
    for var, values in sweep.items():
        if not var.isidentifier():
            raise InputError(f"{field_name}.{var}", values, "a variable name: letters, _", where)
        if (
            not isinstance(values, list)
            or not values
            or not all(isinstance(v, str | int | float) and not isinstance(v, bool) for v in values)
        ):
            raise InputError(
                f"{field_name}.{var}", values, "a non-empty list of strings or numbers", where
            )
        if length is not None and len(values) != length:
            raise InputError(
                f"{field_name}.{var}", values, f"{length} values, as many as the first list", where
            )
        length = len(values)
    return [{var: values[i] for var, values in sweep.items()} for i in range(length)]


def _fill(value: object, values: dict, field_name: str, where: str) -> object:
    """``value`` with ``{VAR}`` placeholders replaced (recursively in tables and lists)."""
    if isinstance(value, dict):
        return {k: _fill(v, values, f"{field_name}.{k}", where) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, values, field_name, where) for v in value]
    if not isinstance(value, str):
        return value
    for var in PLACEHOLDER.findall(value):
        if var not in values:
            allowed = ", ".join(f"{{{v}}}" for v in values)
            raise InputError(field_name, value, f"placeholders of the sweep: {allowed}", where)
    whole = PLACEHOLDER.fullmatch(value)
    if whole:
        return values[whole.group(1)]
    return PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), value)


def expand_sweeps(data: dict, source: str = "<dict>") -> dict:
    """The parsed campaign with every structure or task block that has a ``sweep`` written out
    as one block per position of the sweep, in its place (see the module docstring)."""
    expanded = dict(data)
    for table in ("structures", "tasks"):
        blocks = data.get(table)
        if not isinstance(blocks, dict):
            continue  # the loader reports it
        out: dict = {}
        for name, block in blocks.items():
            if not isinstance(block, dict) or SWEEP not in block:
                out[name] = block
                continue
            where = f"{source} [{table}.{name}]"
            body = {k: v for k, v in block.items() if k != SWEEP}
            positions = _sweep_values(table, name, block[SWEEP], where)
            copies = {
                str(_fill(name, values, f"{table}.{name}", where)): _fill(
                    body, values, f"{table}.{name}", where
                )
                for values in positions
            }
            if len(copies) < len(positions):
                raise InputError(
                    f"{table}.{name}", name, "a name with the sweep's {VAR}: 'bulk_x{x}'", where
                )
            for copy in copies:
                if copy in out or (copy != name and copy in blocks):
                    raise InputError(f"{table}.{name}", copy, "a name not declared twice", where)
            out.update(copies)
        expanded[table] = out
    return expanded


def campaign_from_dict(
    data: dict, source: str = "<dict>", base_dir: Path | None = None, _including=()
) -> Campaign:
    """Build and validate a campaign from the parsed TOML structure (sweeps expanded).

    ``campaign.include``: campaign files (paths relative to this one) whose structures and
    tasks this campaign starts from, unchanged (their presets and task ids stay theirs); its
    own blocks may not redefine their names."""
    data = expand_sweeps(data, source)
    unknown = sorted(set(data) - TOP_KEYS)
    if unknown:
        raise InputError(unknown[0], data[unknown[0]], sorted(TOP_KEYS), source)
    head = _expect_table(data.get("campaign"), "campaign", source)
    bad = sorted(set(head) - CAMPAIGN_KEYS)
    if bad:
        raise InputError(f"campaign.{bad[0]}", head[bad[0]], sorted(CAMPAIGN_KEYS), source)
    name = check_name(head.get("name"), "campaign.name", source)
    campaign = Campaign(
        name=name,
        preset=head.get("preset", "demo"),
        description=str(head.get("description", "")),
        source=source,
        base_dir=base_dir or Path.cwd(),
    )
    included = _include(campaign, head.get("include", []), source, _including)
    for sname, sdata in _expect_table(data.get("structures", {}), "structures", source).items():
        if sname in included.structures:
            raise InputError(
                f"structures.{sname}", sname, "a name the included files do not define", source
            )
        sdata = dict(_expect_table(sdata, f"structures.{sname}", source))
        builder = sdata.pop("builder", None)
        if not isinstance(builder, str):
            raise InputError(f"structures.{sname}.builder", builder, sorted(BUILDERS), source)
        if builder == "file" and isinstance(sdata.get("filename"), str):
            sdata["filename"] = str((campaign.base_dir / sdata["filename"]).resolve())
        campaign.structures[sname] = StructureSpec(sname, builder, sdata)
    for tname, tdata in _expect_table(data.get("tasks", {}), "tasks", source).items():
        if tname in included.tasks:
            raise InputError(
                f"tasks.{tname}", tname, "a name the included files do not define", source
            )
        tdata = _expect_table(tdata, f"tasks.{tname}", source)
        bad = sorted(set(tdata) - TASK_KEYS)
        if bad:
            raise InputError(f"tasks.{tname}.{bad[0]}", tdata[bad[0]], sorted(TASK_KEYS), source)
        kind = tdata.get("kind")
        if not isinstance(kind, str):
            raise InputError(f"tasks.{tname}.kind", kind, "a task kind name (string)", source)
        for key, kind_of in (
            ("params", dict),
            ("options", dict),
            ("needs", list),
            ("labels", dict),
        ):
            if key in tdata and not isinstance(tdata[key], kind_of):
                raise InputError(
                    f"tasks.{tname}.{key}", tdata[key], f"a {kind_of.__name__}", source
                )
        structure = tdata.get("structure")
        if structure is not None and not isinstance(structure, str):
            raise InputError(f"tasks.{tname}.structure", structure, "a structure name", source)
        campaign.tasks[tname] = TaskSpec(
            name=tname,
            kind=kind,
            structure=structure,
            preset=tdata.get("preset", campaign.preset),
            params=dict(tdata.get("params", {})),
            options=dict(tdata.get("options", {})),
            needs=list(tdata.get("needs", [])),
            charge=tdata.get("charge", 0),
            labels={str(k): str(v) for k, v in tdata.get("labels", {}).items()},
            max_ranks=tdata.get("max_ranks"),
        )
    campaign.validate()
    return campaign


def _include(campaign: Campaign, include, source: str, including) -> Campaign:
    """Add the structures and tasks of the ``include`` files to ``campaign``; what they added."""
    allowed = "a campaign file or a list of them, relative to this file, that do not include it"
    files = [include] if isinstance(include, str) else include
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        raise InputError("campaign.include", include, allowed, source)
    added = Campaign(name=campaign.name)
    for name in files:
        path = (campaign.base_dir / name).resolve()
        if path in including or str(path) == str(Path(source).resolve()):
            raise InputError("campaign.include", name, allowed, source)
        part = load_campaign(path, (*including, Path(source).resolve()))
        added.structures.update(part.structures)
        added.tasks.update(part.tasks)
    campaign.structures.update(added.structures)
    campaign.tasks.update(added.tasks)
    return added


def load_campaign(path: str | Path, _including=()) -> Campaign:
    """Read and validate a campaign TOML file (with the files it includes)."""
    data = read_toml(path, "campaign file")
    path = Path(path).expanduser()
    return campaign_from_dict(
        data, source=str(path), base_dir=path.resolve().parent, _including=_including
    )
