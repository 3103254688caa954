#!/bin/sh
# SPDX-License-Identifier: ISC
# make deb: the Debian packages of the work tree, into OUTDIR.
#
# dpkg-buildpackage cleans the tree it builds (and debian/rules clean would
# run the Makefile's clean), writes its results into the parent directory
# and wants the directory named after the source package.  So it builds a
# copy: the files git tracks or would track, edits included, in
# OUTDIR/src/cpconnect-VERSION.  The source package is made too (an
# orig.tar.gz from the same copy), for lintian's checks of debian/ itself.
#
#	sh scripts/mkdeb.sh OUTDIR	packages, .changes and build.log in OUTDIR
set -eu
[ $# -eq 1 ] || { echo "usage: mkdeb.sh OUTDIR" >&2; exit 2; }
top=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$1"
out=$(cd "$1" && pwd)
cd "$top"
ver=$(dpkg-parsechangelog -S Version)
upver=${ver%-*}
mkver=$(sed -n 's/^VERSION *= *//p' Makefile)
if [ "$upver" != "$mkver" ]; then
	echo "mkdeb: debian/changelog says $upver, the Makefile $mkver" >&2
	exit 1
fi

rm -rf "$out/src"
find "$out" -maxdepth 1 -type f -name 'cpconnect*' -delete
find "$out" -maxdepth 1 -type f -name 'libcpconnect*' -delete
src=$out/src/cpconnect-$upver
mkdir -p "$src"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	# Deleted but still tracked files are left out.
	git ls-files -z --cached --others --exclude-standard |
		xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh |
		tar --null -T - -cf - | tar -C "$src" -xf -
else
	tar --exclude-vcs --exclude='./build*' --exclude=./debian/build \
		-cf - . | tar -C "$src" -xf -
fi

log=$out/build.log
: >"$log"
echo "mkdeb: building $ver in $src (log: $log)"
(
	cd "$out/src"
	tar --exclude="cpconnect-$upver/debian" -czf \
		"cpconnect_$upver.orig.tar.gz" "cpconnect-$upver"
	cd "$src"
	dpkg-source -b . && dpkg-buildpackage -us -uc -b
) >>"$log" 2>&1 || {
	echo "mkdeb: the build failed; the end of $log:" >&2
	tail -n 30 "$log" >&2
	exit 1
}
mv "$out"/src/*.deb "$out"/src/*.changes "$out"/src/*.buildinfo \
	"$out"/src/*.dsc "$out"/src/*.debian.tar.* "$out"/src/*.orig.tar.gz "$out"/
# .ddeb: the automatic -dbgsym packages.
for f in "$out"/src/*.ddeb; do
	[ -e "$f" ] && mv "$f" "$out"/
done
rm -rf "$out/src"
ls "$out"/*.deb
