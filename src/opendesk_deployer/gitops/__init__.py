"""GitOps output: release graph and waves, Argo CD Applications, CRD validation, the git repository."""
