#!/usr/bin/env bash
# Prints the URI of the Debian archive this machine's own apt configuration
# uses (the one serving bookworm, not the security archive), so that no
# archive host is ever named in the repository. deb822 .sources files and
# one-line sources.list entries are both read; the first match wins.
set -euo pipefail

shopt -s nullglob
uri=$(
  {
    for f in /etc/apt/sources.list.d/*.sources; do
      awk 'BEGIN { RS = ""; FS = "\n" }
        {
          u = ""; s = ""
          for (i = 1; i <= NF; i++) {
            if ($i ~ /^URIs:/) { u = $i; sub(/^URIs:[ \t]*/, "", u); split(u, a, /[ \t]+/); u = a[1] }
            if ($i ~ /^Suites:/) { s = $i }
          }
          if (u != "" && s ~ /(^|[ \t])bookworm([ \t]|$)/) print u
        }' "$f"
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
      [ -f "$f" ] || continue
      awk '$1 == "deb" {
          i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
          if ($(i + 1) == "bookworm") print $i
        }' "$f"
    done
  } | head -n1
)
[ -n "$uri" ] || { echo "debian-mirror: no bookworm archive in /etc/apt's sources" >&2; exit 1; }
echo "${uri%/}"
