"""Task kind ``xrd``: simulated powder XRD of a structure (:mod:`perovcalc.xrd`,
:mod:`perovcalc.debye`; no DFT). Those import pymatgen (and matplotlib): only when a task runs,
so that loading a campaign stays fast."""

from __future__ import annotations

from perovcalc.calculate import CalcResult
from perovcalc.tasks import Kind, Option, above, between


def xrd_task(ctx) -> CalcResult:
    """Campaign task kind ``xrd``: powder pattern of the task's structure, without DFT.

    The structure is diffracted as what it stands for (:func:`perovcalc.xrd.model_pattern`):
    a crystal (Bragg, size broadening from ``size_nm``), a slab as a platelet crystallite of
    ``platelet_nm``, a finite model by the Debye equation. Stores the pattern, how it was
    obtained and why (``method``, ``explanation``, ``warning``) and, for crystals, the
    reflections.
    """
    from perovcalc.scattering import REFERENCE_B
    from perovcalc.xrd import PLATELET_NM, model_pattern, two_theta_grid

    opts = ctx.options
    two_theta = two_theta_grid((opts["two_theta_min"], opts["two_theta_max"]), opts["step"])
    model = model_pattern(
        ctx.atoms,
        two_theta,
        opts["wavelength"],
        opts["size_nm"],
        opts["instrument_fwhm"],
        opts["method"],
        lateral_nm=opts["platelet_nm"] or PLATELET_NM,
        debye_waller=REFERENCE_B if opts["debye_waller"] else None,
    )
    data: dict = {
        "wavelength": opts["wavelength"],
        "two_theta": two_theta.tolist(),
        "intensity": model.pattern.intensity.tolist(),
        "method": model.method,
        "explanation": model.explanation,
        "warning": model.warning,
        "atoms_scattered": model.atoms_scattered,
    }
    if model.reflections:
        data["reflections"] = [
            {
                "hkl": list(r.hkl),
                "multiplicity": r.multiplicity,
                "d": r.d,
                "two_theta": r.two_theta,
                "intensity": r.intensity,
            }
            for r in model.reflections
        ]
    return CalcResult(ctx.atoms, dict(ctx.params), data)


KINDS: dict[str, Kind] = {
    "xrd": Kind(
        "perovcalc.kinds.xrd:xrd_task",
        {
            "wavelength": Option(float, 1.54178, "X-ray wavelength, Angstrom", bounds=above(0)),
            "two_theta_min": Option(float, 10.0, "degrees", bounds=between(0, 180)),
            "two_theta_max": Option(float, 60.0, "degrees", bounds=between(0, 180)),
            "step": Option(float, 0.02, "2theta step, degrees", bounds=above(0)),
            "size_nm": Option(
                float,
                None,
                "Scherrer size, nm (periodic cells; none if unset)",
                bounds=above(0),
            ),
            "instrument_fwhm": Option(
                float, 0.05, "Gaussian instrumental FWHM, degrees", bounds=above(0)
            ),
            "method": Option(str, "fast", "Debye method for finite models", ("fast", "exact")),
            "platelet_nm": Option(
                float,
                None,
                "lateral size (nm) of the platelet a slab is scattered as (default: the "
                "study's nanocrystal edge, xrd.PLATELET_NM)",
                bounds=above(0),
                keyed_at_default=False,  # added after stores existed
            ),
            "debye_waller": Option(
                bool,
                True,
                "Debye-Waller factors of room-temperature CsPbX3 (reference/debye_waller.csv)",
            ),  # keyed at its default: patterns stored before it had none
        },
        dft=False,
        help="simulated powder XRD: Bragg for crystals, a platelet for slabs, Debye for clusters",
    ),
}
