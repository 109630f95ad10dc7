#!/usr/bin/env bash
# Build dist/edigate_<version>_<arch>.deb: a self-contained virtualenv under
# /opt/edigate, /usr/bin/edigate, the systemd unit, sysusers and tmpfiles
# entries, and a commented default /etc/edigate/edigate.toml (conffile).
#
# The virtualenv is built in a staging folder with Debian's /usr/bin/python3
# and its paths rewritten to /opt/edigate, so the package runs on any Debian 12
# machine with python3.11 and needs no network at install time.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
PY=${PY:-/usr/bin/python3}
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' "$REPO/pyproject.toml" | head -1)
ARCH=$(dpkg --print-architecture)
OUT=${OUT:-$REPO/dist}
STAGE=$(mktemp -d /tmp/edigate-deb.XXXXXX)
trap 'rm -rf "$STAGE"' EXIT
ROOT=$STAGE/root
PREFIX=/opt/edigate
mkdir -p "$ROOT$PREFIX" "$OUT"

"$PY" -m venv "$ROOT$PREFIX"
# --no-compile: byte-code would name the staging path and is rebuilt by postinst
# anyway; skipping it (and a pip self-upgrade) keeps the build short.
"$ROOT$PREFIX/bin/python" -m pip install -q --no-compile "$REPO"
"$ROOT$PREFIX/bin/python" -m pip uninstall -q -y pip
# Relocate: scripts and pyvenv.cfg name the staging path.
grep -rlI --null "$ROOT$PREFIX" "$ROOT$PREFIX/bin" "$ROOT$PREFIX/pyvenv.cfg" | xargs -0 -r sed -i "s#$ROOT$PREFIX#$PREFIX#g"
find "$ROOT$PREFIX" -name __pycache__ -type d -prune -exec rm -rf {} +
# Wheels ship unstripped extension modules; strip them (smaller, and lintian-clean).
find "$ROOT$PREFIX" -name '*.so*' -type f -exec strip --strip-unneeded {} + 2>/dev/null || true
find "$ROOT$PREFIX" -name 'RECORD' -path '*dist-info*' -exec sed -i "s#$ROOT$PREFIX#$PREFIX#g" {} +

install -d "$ROOT/usr/bin" "$ROOT/lib/systemd/system" "$ROOT/usr/lib/sysusers.d" "$ROOT/usr/lib/tmpfiles.d" \
    "$ROOT/etc/edigate/partners.d" "$ROOT/etc/edigate/examples/partners.d" "$ROOT/usr/share/doc/edigate" \
    "$ROOT/usr/share/lintian/overrides"
ln -s "$PREFIX/bin/edigate" "$ROOT/usr/bin/edigate"
install -m 0644 "$REPO/systemd/edigate.service" "$ROOT/lib/systemd/system/edigate.service"
install -m 0644 "$REPO/systemd/edigate.sysusers" "$ROOT/usr/lib/sysusers.d/edigate.conf"
install -m 0644 "$REPO/systemd/edigate.tmpfiles" "$ROOT/usr/lib/tmpfiles.d/edigate.conf"
install -m 0640 "$REPO/packaging/edigate.toml" "$ROOT/etc/edigate/edigate.toml"
for f in "$REPO"/partners/examples/*.toml; do
    install -m 0640 "$f" "$ROOT/etc/edigate/examples/partners.d/$(basename "$f")"
done
install -m 0644 "$REPO/README.md" "$ROOT/usr/share/doc/edigate/README.md"
# Documented opt-in drop-in for listeners on ports below 1024 (see its header).
install -m 0644 "$REPO/systemd/edigate-low-ports.conf" "$ROOT/usr/share/doc/edigate/edigate-low-ports.conf"
{ echo "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"
  echo "Upstream-Name: edigate"; echo; echo "Files: *"; echo "Copyright: edigate developers"
  echo "License: Apache-2.0"; echo " On Debian systems see /usr/share/common-licenses/Apache-2.0."; } \
  > "$ROOT/usr/share/doc/edigate/copyright"
{ echo "edigate ($VERSION) unstable; urgency=medium"; echo; echo "  * Release $VERSION."; echo
  echo " -- edigate developers <packaging@edigate.dev>  $(date -R)"; } | gzip -9n > "$ROOT/usr/share/doc/edigate/changelog.gz"
install -m 0644 "$REPO/packaging/debian/lintian-overrides" "$ROOT/usr/share/lintian/overrides/edigate"

mkdir -p "$ROOT/DEBIAN"
sed -e "s/@VERSION@/$VERSION/" -e "s/@ARCH@/$ARCH/" "$REPO/packaging/debian/control.in" > "$ROOT/DEBIAN/control"
echo "Installed-Size: $(du -sk --exclude=DEBIAN "$ROOT" | cut -f1)" >> "$ROOT/DEBIAN/control"
for s in postinst prerm postrm; do install -m 0755 "$REPO/packaging/debian/$s" "$ROOT/DEBIAN/$s"; done
( cd "$ROOT" && find etc -type f | sed 's#^#/#' ) > "$ROOT/DEBIAN/conffiles"
( cd "$ROOT" && find . -path ./DEBIAN -prune -o -type f -print0 | xargs -0 md5sum | sed 's#  \./#  #' ) > "$ROOT/DEBIAN/md5sums"
DEB="$OUT/edigate_${VERSION}_${ARCH}.deb"
fakeroot dpkg-deb --root-owner-group -Zxz --build "$ROOT" "$DEB" >/dev/null
echo "$DEB"
