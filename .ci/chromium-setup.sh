#!/usr/bin/env bash
# Headless Chromium for the interactive report's browser test
# (tests/e2e/report_browser.rs). Idempotent: does nothing when Chromium already runs.
# Needs root and Debian's package registry (apt-get), as `.ci/slurm-setup.sh` does.
set -euo pipefail
if chromium --version >/dev/null 2>&1; then
  echo "chromium ready: $(chromium --version 2>/dev/null)"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium >/dev/null
echo "chromium ready: $(chromium --version 2>/dev/null)"
