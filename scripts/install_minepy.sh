#!/usr/bin/env bash
# Installs minepy (MIC and TIC; Albanese et al. 2013), which estimates HEBAE's index-code mutual
# information, into the given Python's environment. minepy publishes only a source archive, whose
# generated C file predates Python 3.11 and NumPy 2 and whose setup.py imports pkg_resources: the C
# file is generated again with Cython 3 and setup.py takes get_platform from the standard library.
#
#   bash scripts/install_minepy.sh [python]      (default .venv/bin/python)
set -euo pipefail
PY=${1:-.venv/bin/python}
VERSION=1.2.6
if "$PY" -c "import minepy" 2>/dev/null; then exit 0; fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$PY" -m pip install -q "cython>=3" numpy setuptools wheel
# reading the archive's metadata runs its setup.py, which needs a setuptools that still has pkg_resources
echo "setuptools<81" > "$work/constraints.txt"
"$PY" -m pip download -q --build-constraint "$work/constraints.txt" --no-deps --no-binary minepy -d "$work" "minepy==$VERSION"
tar xzf "$work/minepy-$VERSION.tar.gz" -C "$work"
src="$work/minepy-$VERSION"
sed -i 's/^from pkg_resources import get_platform$/from sysconfig import get_platform/' "$src/setup.py"
rm -f "$src/minepy/mine.c"
log="$work/build.log"
{ "$PY" -m cython -3 "$src/minepy/mine.pyx" -o "$src/minepy/mine.c" &&
  "$PY" -m pip install -q --no-build-isolation --no-deps "$src"; } > "$log" 2>&1 || { cat "$log" >&2; exit 1; }
"$PY" -c "import minepy"
