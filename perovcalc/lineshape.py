"""Area-normalised line shapes for spectra and diffraction patterns: Voigt and the
Thompson-Cox-Hastings pseudo-Voigt. Offsets and widths (FWHM) in one unit of the caller's
choice (eV for XPS, degrees 2theta for XRD); profiles in its inverse."""

from __future__ import annotations

import numpy as np

from perovcalc.errors import InputError


def check_widths(gaussian_fwhm, lorentzian_fwhm) -> None:
    """Refuse negative widths, or both zero (a delta function has no profile)."""
    if (
        np.any(np.asarray(gaussian_fwhm) < 0)
        or np.any(np.asarray(lorentzian_fwhm) < 0)
        or (np.any(np.asarray(gaussian_fwhm) + np.asarray(lorentzian_fwhm) == 0))
    ):
        raise InputError("FWHM", (gaussian_fwhm, lorentzian_fwhm), "widths >= 0, not both zero")


def voigt(x, gaussian_fwhm: float, lorentzian_fwhm: float) -> np.ndarray:
    """Voigt profile at offsets ``x`` for a Gaussian and a Lorentzian FWHM."""
    from scipy.special import voigt_profile

    check_widths(gaussian_fwhm, lorentzian_fwhm)
    sigma = gaussian_fwhm / (2.0 * np.sqrt(2.0 * np.log(2.0)))
    return voigt_profile(x, sigma, lorentzian_fwhm / 2.0)


def pseudo_voigt_width(gaussian_fwhm, lorentzian_fwhm) -> tuple[np.ndarray, np.ndarray]:
    """Total FWHM and Lorentzian fraction eta of the pseudo-Voigt approximating a Voigt profile
    (Thompson, Cox and Hastings, J. Appl. Cryst. 20, 79 (1987))."""
    g = np.asarray(gaussian_fwhm, float)
    lor = np.asarray(lorentzian_fwhm, float)
    fwhm = (
        g**5
        + 2.69269 * g**4 * lor
        + 2.42843 * g**3 * lor**2
        + 4.47163 * g**2 * lor**3
        + 0.07842 * g * lor**4
        + lor**5
    ) ** 0.2
    q = lor / fwhm
    return fwhm, 1.36603 * q - 0.47719 * q**2 + 0.11116 * q**3


def pseudo_voigt(x, gaussian_fwhm: float, lorentzian_fwhm: float) -> np.ndarray:
    """Pseudo-Voigt approximating :func:`voigt`: a Gaussian and a Lorentzian of the common FWHM
    of :func:`pseudo_voigt_width`, mixed with its weight eta."""
    check_widths(gaussian_fwhm, lorentzian_fwhm)
    fwhm, eta = pseudo_voigt_width(gaussian_fwhm, lorentzian_fwhm)
    x = np.asarray(x, float)
    half = fwhm / 2.0
    lorentz = half / np.pi / (x**2 + half**2)
    gauss = np.exp(-4.0 * np.log(2.0) * (x / fwhm) ** 2) / (half * np.sqrt(np.pi / np.log(2.0)))
    return eta * lorentz + (1.0 - eta) * gauss
