"""Task kind ``photoemission_ratios``: simulated depth-resolved XPS ratios of a model
(:mod:`perovcalc.xps`, no DFT), as a band over the model inputs that are not known exactly."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from perovcalc.calculate import CalcResult
from perovcalc.imfp import ATTENUATIONS
from perovcalc.photoemission import asymmetry_parameters, coverage_from_ratio, ratio_band
from perovcalc.reference import load_table
from perovcalc.tasks import Kind, Option, TaskContext, above, between
from perovcalc.xps import (
    LAB_SOURCES,
    LIGAND_NM,
    MAGIC_ANGLE,
    ORIENTATIONS,
    Escape,
    resolve_geometry,
)

#: The attenuation model of records stored before the band (perovcalc <= the #23 fix).
LEGACY_MODEL = {
    "attenuation": "imfp",
    "ligand_nm": [0.0],
    "quantification": "sigma_lambda",
    "orientation": "normal (slab) / random (cube)",
    "k_coverage": "the model's",
}


def measured_k_to_pb() -> list[float]:
    """The K:Pb atomic ratios measured on the passivated nanocrystals (EDS, ICP-OES after one
    and two washes; reference/composition.csv), sorted."""
    values = [
        row["value"] / (100.0 if row["unit"] == "percent" else 1.0)
        for row in load_table("composition")
        if row["quantity"] == "K:Pb" and row["sample"] == "kbr_passivated"
    ]
    return sorted(values)


def photoemission_task(ctx: TaskContext) -> CalcResult:
    """Campaign task: apparent depth-resolved atomic ratios of a model (no DFT).

    Result (:class:`PhotoemissionResult`): ``photon_energies`` (eV), ``levels``, ``ratios``
    (central inputs; rows: photon energies, columns: levels, normalised to the last level), the
    band ``low`` / ``high`` over the quantification conventions and the input ranges, each
    convention's ratios, the inputs (``model``) and the model's true atomic composition.
    """
    atoms, options = ctx.atoms, ctx.options
    energies = [float(e) for e in options["photon_energies"]]
    levels = list(options["levels"])
    geometry = resolve_geometry(atoms)
    symbols = atoms.get_chemical_symbols()
    k_to_pb = sorted(options["k_to_pb"] or measured_k_to_pb()) if "K" in symbols else []
    coverages = [coverage_from_ratio(atoms, r, geometry) for r in k_to_pb] or [None]
    if len(coverages) > 1:  # the band's extremes and the middle value
        coverages = [coverages[0], coverages[len(coverages) // 2], coverages[-1]]
    ligand = sorted(float(t) for t in options["ligand_nm"])
    escape = Escape(geometry, options["orientation"], attenuation=options["attenuation"])
    band = ratio_band(
        atoms, energies, levels, escape=escape, ligand_nm=ligand, k_coverage=coverages,
        betas=asymmetry_parameters(), analyser_angle=options["analyser_angle"],
        polarised=[not any(abs(hv - e) < 0.5 for e in LAB_SOURCES) for hv in energies],
    )  # fmt: skip
    record = PhotoemissionResult(
        photon_energies=energies,
        levels=levels,
        ratios=band.central.tolist(),
        composition={s: symbols.count(s) for s in sorted(set(symbols))},
        geometry=geometry,
        low=band.low.tolist(),
        high=band.high.tolist(),
        conventions={q: r.tolist() for q, r in band.conventions.items()},
        samples=band.samples.tolist(),
        model={
            "attenuation": options["attenuation"],
            "orientation": options["orientation"],
            "ligand_nm": ligand,
            "k_to_pb": k_to_pb,
            "k_coverage": coverages,
            "quantification": ["sigma_lambda", "sigma"],
            "analyser_angle": options["analyser_angle"],
            "beta": {name: list(r) for name, r in asymmetry_parameters().items()},
        },
    )
    return CalcResult(atoms, {}, record.to_dict())


@dataclass
class PhotoemissionResult:
    """The stored result of a ``photoemission_ratios`` task. Records stored before the band
    model have only the first five fields (their model: :data:`LEGACY_MODEL`)."""

    photon_energies: list[float]
    levels: list[str]
    ratios: list[list[float]]
    composition: dict[str, int]
    geometry: str
    low: list[list[float]] | None = None
    high: list[list[float]] | None = None
    conventions: dict[str, list[list[float]]] | None = None
    samples: list | None = None  # every input combination: (n, n_hv, n_levels)
    model: dict | None = None

    @property
    def has_band(self) -> bool:
        return self.low is not None

    def change(self, first: int, second: int, column: int) -> tuple[float, float, float]:
        """Ratio at photon energy ``second`` over that at ``first`` of level ``column``: the
        central value and the min and max over the band's input combinations."""
        central = self.ratios[second][column] / self.ratios[first][column]
        samples = np.asarray(self.samples)
        changes = samples[:, second, column] / samples[:, first, column]
        return central, float(changes.min()), float(changes.max())

    def to_dict(self) -> dict:
        """The stored form: without the fields a legacy record lacks."""
        return {f.name: v for f in fields(self) if (v := getattr(self, f.name)) is not None}

    @classmethod
    def from_dict(cls, data: dict) -> PhotoemissionResult:
        return cls(**{f.name: data.get(f.name) for f in fields(cls)})


KINDS: dict[str, Kind] = {
    "photoemission_ratios": Kind(
        "perovcalc.kinds.spectra:photoemission_task",
        {
            "photon_energies": Option(
                list, [450.0, 650.0, 1486.7], "photon energies, eV", bounds=above(0)
            ),
            "levels": Option(list, ["K 2p", "Br 3d", "Pb 4f"], "levels; last = denominator"),
            "ligand_nm": Option(
                list,
                list(LIGAND_NM),
                "organic (oleate / oleylamine) shell thicknesses, nm: the band spans them, the "
                "middle one is central; TPP-2M of oleic acid at 0.895 g/cm3 (perovcalc.imfp)",
                bounds=between(0, 10),
                keyed_at_default=False,
            ),
            "k_to_pb": Option(
                list,
                [],
                "K:Pb atomic ratios giving the K coverage of the outer A sites (all K there); "
                "empty: the measured ones (EDS, ICP-OES: reference/composition.csv)",
                bounds=between(0, 1),
                keyed_at_default=False,
            ),
            "attenuation": Option(
                str,
                "eal",
                "effective attenuation length (Jablonski-Powell) or IMFP",
                ATTENUATIONS,
                keyed_at_default=False,
            ),
            "orientation": Option(
                str,
                "random",
                "analyser direction in the crystal frame: random (film of randomly oriented "
                "crystals) or normal (along the surface normal)",
                ORIENTATIONS,
                keyed_at_default=False,
            ),
            "analyser_angle": Option(
                float,
                MAGIC_ANGLE,
                "degrees between analyser and polarisation (synchrotron) or beam (laboratory); "
                "the asymmetry parameters drop out at the magic angle, the default",
                bounds=between(0, 180),
                keyed_at_default=False,
            ),
        },  # fmt: skip
        dft=False,
        help="simulated depth-resolved XPS atomic ratios of a model, as a band (no DFT)",
    ),
}
