#!/usr/bin/env bash
# Creates the Python virtualenv of the sanic-session peer when it is missing
# or out of date, and prints the path of its python on stdout (the only thing
# printed there; progress goes to stderr).
#
#   tests/peers/sanic/setup-venv.sh            # venv in target/sanic-venv
#   SESSIONKIT_SANIC_VENV=/some/dir tests/peers/sanic/setup-venv.sh
#
# Used by scripts/test.sh (which exports the printed path as
# SESSIONKIT_SANIC_PYTHON) and by tests/support/sanic.rs when that variable is
# unset. Needs `python3` with the venv module (Debian: python3-venv) and
# PyPI; installs exactly the pinned requirements.txt (--no-deps, then
# `pip check`). Safe to run concurrently: the work is done under a lock, and a
# stamp (the hash of requirements.txt and the python version) says when
# nothing needs doing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
venv=${SESSIONKIT_SANIC_VENV:-$root/target/sanic-venv}
requirements=$here/requirements.txt
python3=${PYTHON3:-python3}

command -v "$python3" >/dev/null 2>&1 || {
  echo "setup-venv.sh: $python3 not found; install Python 3 (Debian: apt-get install python3 python3-venv)" >&2
  exit 1
}
want="$(sha256sum "$requirements" | cut -d' ' -f1) $("$python3" -c 'import sys; print(sys.version.split()[0])')"

mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
if command -v flock >/dev/null 2>&1; then
  flock 9
fi

if [ -x "$venv/bin/python" ] && [ "$(cat "$venv/.stamp" 2>/dev/null)" = "$want" ]; then
  echo "$venv/bin/python"
  exit 0
fi

echo "==> creating the sanic-session venv in $venv" >&2
rm -rf "$venv"
"$python3" -m venv "$venv" >&2 || {
  echo "setup-venv.sh: '$python3 -m venv' failed; install the venv module (Debian: apt-get install python3-venv)" >&2
  rm -rf "$venv"
  exit 1
}
pip=("$venv/bin/python" -m pip --disable-pip-version-check --no-input)
"${pip[@]}" install -q --no-deps -r "$requirements" >&2 || {
  echo "setup-venv.sh: pip install -r $requirements failed (is PyPI reachable?)" >&2
  rm -rf "$venv"
  exit 1
}
"${pip[@]}" check >&2
"$venv/bin/python" -c 'import sanic, sanic_session, asyncio_redis, aiomcache' >&2
echo "$want" >"$venv/.stamp"
echo "$venv/bin/python"
