"""Reports: every computed observable of a campaign next to its measured or literature value.

``write_report(campaign, db, outdir)`` writes ``report.html`` (self-contained, figures embedded),
``report.md`` (with the figures as PNG files beside it), ``observations.json`` (the first table
of both reports: each observation of the two studies with its computed counterparts, verdict and
why, and the observations not computed) and ``summary.json``: a list with one entry per computed
observable::

    {"observable", "conditions", "value", "unit", "preset", "reference", "agreement"}

``reference`` is ``{"value", "source"}`` or null; ``agreement`` is "agrees", "disagrees",
"inconclusive" or "no reference". Values come only from finished rows of the store; numbers from
``reference/`` appear only as references.

Modules: ``judge`` (the observable record and the agreement rules), one module per section
(``lattice``, ``corelevel``, ``vacancy``, ``migration``, ``photoemission``, ``xrd``), ``common``
(what the sections share), ``answer`` (the studies' observations and their counterparts) and
``render`` (collecting the sections and writing the files).
"""

from perovcalc.report.render import collect, write_report

__all__ = ["collect", "write_report"]
