"""Fleet: the doctor on every GPU node of a cluster (through Slurm or Kubernetes), and many
per-node reports merged into one view that names the odd nodes out (docs/fleet.md)."""
