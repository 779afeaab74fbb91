"""Command-line interface: one module per subcommand, discovered at start-up.

Each module in this package (other than ``main``) defines ``HELP`` (one line),
``add_arguments(parser)`` and ``run(args) -> int``. Modules import heavy libraries
(GPAW, pymatgen) inside ``run`` so that ``perovcalc --help`` stays fast.
"""
