"""What the report sections share: the finished tasks they read, figures as PNG bytes, the
composition of a task's structure and the environment of a defect result."""

from __future__ import annotations

import io

from perovcalc.campaign import Campaign, TaskSpec

Done = list[tuple[TaskSpec, object]]  # (task, finished row)


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return buffer.getvalue()


def _figure(width=5.5, height=3.6):
    """A matplotlib Figure (no pyplot state) and its axes."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    return fig, fig.subplots()


def composition_x(task: TaskSpec, campaign: Campaign) -> float | None:
    """Br per formula unit of the task's input structure recipe, if the recipe says."""
    spec = campaign.structures.get(task.structure or "")
    if spec is None:
        return None
    if "x" in spec.args:
        return float(spec.args["x"])
    if spec.builder == "perovskite":
        return {"I": 0.0, "Br": 3.0}.get(spec.args.get("halide", "Br"))
    return None


def _slab(result: dict) -> dict:
    """The slab description {layers, termination, passivation, a} of a defect result's host
    (vacancy_formation: under ``host``, migration_barrier: top level), {} for bulk."""
    return result.get("slab") or (result.get("host") or {}).get("slab") or {}


def environment(task: TaskSpec, result: dict) -> str:
    """What a defect result models: the task's ``labels.environment``, else the result's
    labels, else bulk, ``bare_surface`` or ``<passivation>_passivated`` from its slab host."""
    labels = {**(result.get("labels") or {}), **task.labels}
    if "environment" in labels:
        return labels["environment"]
    slab = _slab(result)
    if not slab:
        return result.get("environment", "bulk")
    passivation = slab.get("passivation")
    return "bare_surface" if passivation in (None, "None") else f"{passivation.lower()}_passivated"
