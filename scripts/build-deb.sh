#!/bin/sh
# build-deb.sh [OUTDIR] — build buzon_VERSION_ARCH.deb (debian/, dh + meson) from a copy
# of this tree in a temporary directory, so the tree gets no debian/ build products, and
# put the .deb (and its .buildinfo/.changes) into OUTDIR (default: the current
# directory). Unsigned. Niced; DEB_BUILD_OPTIONS defaults to parallel=2.
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
out=$(mkdir -p "${1:-.}" && cd "${1:-.}" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/buzon-deb.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/buzon"
# the files git knows about (tracked, and new ones not ignored), or all but builds
if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
	# (a file deleted from the working tree but still in the index is skipped)
	git -C "$src" ls-files -z --cached --others --exclude-standard |
		tar -C "$src" --null -T - --ignore-failed-read -cf - 2>/dev/null |
		tar -C "$tmp/buzon" -xf -
else
	tar -C "$src" --exclude='./build*' --exclude=./demo --exclude=./.git -cf - . |
		tar -C "$tmp/buzon" -xf -
fi
export DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS:-parallel=2}"
(cd "$tmp/buzon" && nice -n 10 dpkg-buildpackage -b -us -uc) >"$tmp/build.log" 2>&1 || {
	tail -n 60 "$tmp/build.log" >&2
	echo "build-deb: dpkg-buildpackage failed (log above)" >&2
	exit 1
}
for f in "$tmp"/*.deb "$tmp"/*.buildinfo "$tmp"/*.changes; do
	[ -e "$f" ] && cp "$f" "$out/"
done
ls "$tmp"/*.deb | sed "s|^$tmp|$out|"
