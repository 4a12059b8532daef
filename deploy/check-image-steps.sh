#!/usr/bin/env bash
# What of the image can be checked without a Docker engine: the Dockerfile's own `RUN pip
# install` steps, replayed in a fresh virtual environment on the build context .dockerignore lets
# in, then the installed (not editable) `newsbot` run as the image's user (uid 10001) with its
# database in a data directory owned by that user, as on the /data volume.
#   deploy/check-image-steps.sh            (make image-check; needs the package index)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"

echo "== build context (what .dockerignore lets in)"
mkdir -p "$work/app/requirements" "$work/data"
cp requirements/run.lock "$work/app/requirements/"
cp -r pyproject.toml README.md news storage handlers bot "$work/app/"
find "$work/app" -name __pycache__ -prune -exec rm -rf {} +

echo "== the Dockerfile's install steps, in a venv of $("$PYTHON" --version)"
"$PYTHON" -m venv "$work/venv"
# Each `RUN pip install …` of the Dockerfile, continuation lines joined, run in WORKDIR /app.
mapfile -t steps < <(sed -e ':a' -e '/\\$/N; s/\\\n[[:space:]]*/ /; ta' Dockerfile | sed -n 's/^RUN \(pip install .*\)/\1/p')
[ "${#steps[@]}" -ge 2 ] || { echo "no RUN pip install steps found in the Dockerfile" >&2; exit 1; }
for step in "${steps[@]}"; do
    echo "+ $step"
    (cd "$work/app" && PATH="$work/venv/bin:$PATH" PIP_DISABLE_PIP_VERSION_CHECK=1 bash -euo pipefail -c "$step")
done

echo "== newsbot as the image's user, the database in the data directory"
as_user=()
if [ "$(id -u)" = 0 ]; then
    chown -R 10001:10001 "$work/data"
    as_user=(setpriv --reuid 10001 --regid 10001 --clear-groups --)
fi
run() {
    (cd "$work/data" && "${as_user[@]}" env -i PATH="$work/venv/bin:/usr/bin:/bin" \
        DATABASE_URL="sqlite:///$work/data/newsbot.db" "$@")
}
run python -c 'import bot, os; assert "site-packages" in bot.__file__, bot.__file__; print("installed at", os.path.dirname(bot.__file__), "as uid", os.getuid())'
run newsbot --help > /dev/null
run newsbot latest
run newsbot sources list | tail -n 2
ls -ln "$work/data"
echo "== ok"
