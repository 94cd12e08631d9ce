#!/usr/bin/env bash
# Downloads Debian packages from a suite the system does not use (e.g. trixie-backports)
# without installing them and without touching the system's apt sources: a private apt
# configuration under $IOMMUFD4J_APT_DIR whose mirror is derived from the system's sources.
#
#   debian-fetch.sh SUITE OUTDIR PACKAGE[=VERSION]...
#
# Prints "<package> <version> <file>" per package. Verifies each .deb against the
# suite's signed index (apt does that for apt-get download).
set -euo pipefail
suite=$1; out=$2; shift 2
state=${IOMMUFD4J_APT_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/iommufd4j/apt}/$suite
mkdir -p "$state/lists/partial" "$state/archives/partial" "$out"

# The mirror the system already uses (first URIs line of the deb822 sources, or a one-line list).
mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
if [ -z "$mirror" ]; then
  mirror=$(awk '/^deb / {print $2; exit}' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true)
fi
[ -n "$mirror" ] || { echo "debian-fetch: cannot derive a Debian mirror from /etc/apt/sources*" >&2; exit 1; }
# Security suites live beside the main archive.
case "$suite" in *-security) mirror="${mirror%/debian}/debian-security" ;; esac

keyring=/usr/share/keyrings/debian-archive-keyring.gpg
cat > "$state/sources.list" <<EOS
deb [signed-by=$keyring] $mirror $suite main
EOS
opts=(-o APT::Sandbox::User=root -o Dir::Etc::SourceList="$state/sources.list" -o Dir::Etc::SourceParts=/dev/null
      -o Dir::State::Lists="$state/lists" -o Dir::Cache="$state" -o Dir::State::Status=/dev/null
      -o Debug::NoLocking=1 -o APT::Get::List-Cleanup=0)
# Refresh the index at most once an hour.
if [ -z "$(find "$state/lists" -name '*Packages*' -mmin -60 2>/dev/null | head -1)" ]; then
  apt-get "${opts[@]}" update -qq >&2
fi
cd "$out"
for p in "$@"; do
  name=${p%%=*}
  if [ "$p" = "$name" ]; then
    ver=$(apt-cache "${opts[@]}" show "$name" 2>/dev/null | awk '/^Version:/ {print $2; exit}')
  else
    ver=${p#*=}
  fi
  [ -n "$ver" ] || { echo "debian-fetch: $name not found in $suite" >&2; exit 1; }
  apt-get "${opts[@]}" download -qq "$name=$ver" >&2
  file=$(ls -1 "${name}_"*"$(echo "${ver#*:}" | sed 's/+/%2b/g;s/~/%7e/g')"*.deb 2>/dev/null | head -1 || true)
  [ -n "$file" ] || file=$(ls -1t "${name}_"*.deb | head -1)
  echo "$name $ver $out/$file"
done
