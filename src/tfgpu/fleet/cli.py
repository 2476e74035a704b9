"""`tfgpu fleet …`: the fleet commands, each defined in its own module and registered here.

tfgpu.cli imports this module only where `fleet` is named or listed (its `_Commands` group calls
`fleet_group`), and the command modules import only typer and tfgpu.console at module level (the
rest inside the command), so that `tfgpu doctor` pays nothing for them.
"""

from __future__ import annotations

import typer

from tfgpu.fleet import cmd_k8s, cmd_report, cmd_slurm

fleet_app = typer.Typer(
    no_args_is_help=True,
    help="Run the doctor on every GPU node (Slurm, Kubernetes) and merge the reports into one view.",
    context_settings={"help_option_names": ["-h", "--help"]},
)

fleet_app.command("report")(cmd_report.report)
fleet_app.command("slurm")(cmd_slurm.slurm)
fleet_app.command("healthcheck")(cmd_slurm.healthcheck)
fleet_app.command("k8s-manifest")(cmd_k8s.k8s_manifest)


def fleet_group() -> typer.core.TyperGroup:
    """The `fleet` Click group, as `app.add_typer(fleet_app, name="fleet")` would build it."""
    group = typer.main.get_group(fleet_app)
    group.name = "fleet"
    return group
