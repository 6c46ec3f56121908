#!/bin/bash
# Puts the installed CLI's bin/ on PATH for the job's next steps (CircleCI sources BASH_ENV before each step).
set -euo pipefail
dir=${PARAM_INSTALL_DIR:-$HOME/.depot}
echo "export PATH=\"$dir/bin:\$PATH\"" >>"$BASH_ENV"
echo "depot: $dir/bin is on PATH for the next steps"
