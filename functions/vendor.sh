#!/bin/sh
# Build the collab-sdk wheel into every function's ./vendor, so that each directory
# deploys on its own (requirements.txt finds the wheel there with --find-links).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
tmp=$(mktemp -d)
python -m pip wheel --no-deps -w "$tmp" "$root"
for dir in "$here"/*/; do
  [ -f "$dir/main.py" ] || continue
  mkdir -p "$dir/vendor"
  rm -f "$dir"/vendor/collab_sdk-*.whl
  cp "$tmp"/collab_sdk-*.whl "$dir/vendor/"
done
rm -rf "$tmp"
echo "vendored $(ls "$root"/functions/*/vendor/*.whl | wc -l) wheel(s)"
