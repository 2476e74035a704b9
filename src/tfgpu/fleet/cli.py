"""`tfgpu fleet …`: the fleet commands, each defined in its own module and registered here.

The command modules import only typer and tfgpu.console at module level (the rest inside the
command), so that `tfgpu doctor` pays nothing for them.
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
