"""Task kind ``xrd``: simulated powder XRD of a structure (:mod:`perovcalc.xrd`,
:mod:`perovcalc.debye`; no DFT). Those import pymatgen (and matplotlib): only when a task runs,
so that loading a campaign stays fast."""

from __future__ import annotations

from perovcalc.tasks import Kind, Option, above, between


def xrd_task(ctx):
    """Campaign task kind ``xrd``: powder pattern of the task's structure, without DFT.

    Periodic structures give a Bragg pattern (size broadening from ``size_nm``); finite models
    (not periodic in all three directions) the Debye-equation pattern.
    """
    from perovcalc.calculate import CalcResult
    from perovcalc.debye import debye_pattern
    from perovcalc.xrd import Pattern, bragg_reflections, powder_profile, two_theta_grid

    opts = ctx.options
    two_theta = two_theta_grid((opts["two_theta_min"], opts["two_theta_max"]), opts["step"])
    atoms = ctx.atoms
    data: dict = {"wavelength": opts["wavelength"], "two_theta": two_theta.tolist()}
    if atoms.pbc.all():
        reflections = bragg_reflections(atoms, opts["wavelength"], (two_theta[0], two_theta[-1]))
        pattern = Pattern(
            two_theta,
            powder_profile(reflections, two_theta, opts["size_nm"], opts["instrument_fwhm"]),
        )
        data["reflections"] = [
            {
                "hkl": list(r.hkl),
                "multiplicity": r.multiplicity,
                "d": r.d,
                "two_theta": r.two_theta,
                "intensity": r.intensity,
            }
            for r in reflections
        ]
        data["method"] = "bragg"
    else:
        pattern = debye_pattern(atoms, two_theta, opts["wavelength"], method=opts["method"])
        data["method"] = f"debye-{opts['method']}"
    data["intensity"] = pattern.intensity.tolist()
    return CalcResult(atoms, dict(ctx.params), data)


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
        },
        dft=False,
        help="simulated powder XRD (Bragg for periodic cells, Debye for finite models)",
    ),
}
