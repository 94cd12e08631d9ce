#!/usr/bin/env bash
# Verifies that a config fragment survived into a final .config:
#   check-config.sh FRAGMENT KERNEL_SRC_DIR DOT_CONFIG
# Every "CONFIG_X=y" line of the fragment must be in .config and every
# "# CONFIG_X is not set" must not be =y/=m. `make allnoconfig KCONFIG_ALLCONFIG=...`
# silently drops options whose dependencies are unmet, hence this check.
# Symbols the kernel version does not define at all (e.g. IOMMU_PT on 6.12,
# PROC_SYSCTL on 7.x) are reported and skipped, so one fragment serves all versions.
set -euo pipefail
fragment=$1; src=$2; config=$3

# All symbols defined by this source tree's Kconfig files.
known=$(find "$src" -name 'Kconfig*' -type f -print0 \
          | xargs -0 sed -nE 's/^[[:space:]]*(menu)?config[[:space:]]+([A-Za-z0-9_]+).*/\2/p' | sort -u)
is_known() { grep -qx "$1" <<<"$known"; }

missing=() skipped=() wrong=()
while IFS= read -r line; do
  if [[ $line =~ ^CONFIG_([A-Za-z0-9_]+)=y$ ]]; then
    sym=${BASH_REMATCH[1]}
    if ! is_known "$sym"; then skipped+=("$sym")
    elif ! grep -qx "CONFIG_$sym=y" "$config"; then missing+=("$line")
    fi
  elif [[ $line =~ ^#\ CONFIG_([A-Za-z0-9_]+)\ is\ not\ set$ ]]; then
    sym=${BASH_REMATCH[1]}
    if grep -qE "^CONFIG_$sym=[ym]$" "$config"; then wrong+=("CONFIG_$sym should be off")
    fi
  fi
done < "$fragment"

((${#skipped[@]} == 0)) || echo "check-config: not defined in this kernel, skipped: ${skipped[*]}" >&2
if ((${#missing[@]} + ${#wrong[@]} > 0)); then
  echo "check-config: options of $fragment that did not survive into $config (unmet dependencies?):" >&2
  printf '  %s\n' "${missing[@]}" "${wrong[@]}" >&2
  exit 1
fi
echo "check-config: all options of $(basename "$fragment") are in .config" >&2
