"""Task kind ``photoemission_ratios``: simulated depth-resolved XPS ratios of a model
(:mod:`perovcalc.xps`, no DFT)."""

from __future__ import annotations

from perovcalc.calculate import CalcResult
from perovcalc.tasks import Kind, Option, TaskContext, above
from perovcalc.xps import apparent_ratios, resolve_geometry


def photoemission_task(ctx: TaskContext) -> CalcResult:
    """Campaign task: apparent depth-resolved atomic ratios of a model (no DFT).

    Result: ``photon_energies`` (eV), ``levels``, ``ratios`` (rows: photon energies, columns:
    levels, normalised to the last level) and the model's true atomic composition.
    """
    energies = [float(e) for e in ctx.options["photon_energies"]]
    levels = list(ctx.options["levels"])
    ratios = apparent_ratios(ctx.atoms, energies, levels)
    symbols = ctx.atoms.get_chemical_symbols()
    data = {
        "photon_energies": energies,
        "levels": levels,
        "ratios": ratios.tolist(),
        "composition": {s: symbols.count(s) for s in sorted(set(symbols))},
        "geometry": resolve_geometry(ctx.atoms),
    }
    return CalcResult(ctx.atoms, {}, data)


KINDS: dict[str, Kind] = {
    "photoemission_ratios": Kind(
        "perovcalc.kinds.spectra:photoemission_task",
        {
            "photon_energies": Option(
                list, [450.0, 650.0, 1486.7], "photon energies, eV", bounds=above(0)
            ),
            "levels": Option(list, ["K 2p", "Br 3d", "Pb 4f"], "levels; last = denominator"),
        },
        dft=False,
        help="simulated depth-resolved XPS atomic ratios of a model (no DFT)",
    ),
}
