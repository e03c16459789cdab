#!/usr/bin/env bash
# Builds the Debian package mailsift_<version>_amd64.deb from the release build (CPack, rules in
# CMakeLists.txt) into build/release/package/ and checks it with lintian (the warnings we keep are
# explained in docs/service.md). Prints the package's path on its last line.
# Usage: bash scripts/package.sh        (after scripts/install-deps.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
cmake --preset release >/dev/null
cmake --build --preset release -j"$(nproc)"
rm -f build/release/package/mailsift_*.deb
(cd build/release && cpack -G DEB >/dev/null)
deb=$(ls build/release/package/mailsift_*_amd64.deb)
# Errors fail the build; the warnings and infos we accept are listed in dist/debian/lintian-overrides
# reasons (docs/service.md, "The package").
lintian --fail-on error --suppress-tags-from-file dist/debian/lintian-suppress "$deb" >&2
echo "$deb"
