#!/usr/bin/env bash
# The local dev stack on embedded defaults (local git, the local cluster rig; no cloud account).
#   ./start.sh start    set everything up, then run the main job: render the demo instance
#                       (examples/demo-instance.yaml) into the local bare repository
#                       .run/gitops/demo.git and print the per-release summary
#   ./start.sh status   what is there and what is running
#   ./start.sh stop     stop what `start` left running
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
CLI=.venv/bin/opendesk-deployer
RUN=.run

cmd="${1:-start}"
case "$cmd" in
  start)
    make setup
    mkdir -p "$RUN"
    echo "start: toolchain"
    "$CLI" doctor
    echo "start: instance configuration"
    "$CLI" config validate examples/demo-instance.yaml
    echo "start: local cluster rig (opendesk-deployer dev cluster up)"
    "$CLI" dev cluster up
    echo "start: rendering the demo instance"
    "$CLI" render --instance examples/demo-instance.yaml
    echo "start: done. The rendered instance is in $(pwd)/$RUN/gitops/demo.git (branch main, instances/demo-1/)"
    ;;
  status)
    if [ -x "$CLI" ]; then
      "$CLI" doctor || true
      "$CLI" dev cluster status || true
    else
      echo "not set up (run ./start.sh start)"
    fi
    if [ -d "$RUN/gitops" ]; then
      for r in "$RUN"/gitops/*.git; do
        [ -d "$r" ] && echo "repository $(realpath "$r"): $(git --git-dir="$r" log --oneline -1 2>/dev/null || echo empty)"
      done
    fi
    ;;
  stop)
    if [ -x "$CLI" ]; then "$CLI" dev cluster down; else echo "stop: not set up, nothing runs"; fi
    ;;
  *)
    echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
