"""The local Kubernetes rig (`opendesk-deployer dev cluster up|down|status`).

`opendesk_deployer.rig.cluster.Rig` is the API; this package imports nothing on its own so that
the command line starts without loading the Kubernetes client.
"""
