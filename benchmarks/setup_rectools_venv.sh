#!/usr/bin/env bash
# Create the separate virtualenv in which benchmarks/rectools_peer.py runs RecTools.
# RecTools 0.19 on Python 3.11 needs numpy < 2 and pandas < 3 and brings pm-implicit
# (a fork that replaces `implicit`), so it must not go into cratedig's own .venv.
# Usage: bash benchmarks/setup_rectools_venv.sh [DIR]   (default .venv-bench beside benchmarks/)
# then:  CRATEDIG_RECTOOLS_PYTHON=DIR/bin/python .venv/bin/python benchmarks/accuracy_lastfm.py
set -euo pipefail
dir="${1:-$(dirname "$0")/../.venv-bench}"
python3.11 -m venv "$dir"
"$dir/bin/pip" install --quiet "rectools==0.19.0" threadpoolctl
"$dir/bin/python" -c "import rectools; print('rectools', rectools.__version__, 'in', '$dir')"
