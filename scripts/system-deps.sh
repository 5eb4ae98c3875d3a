#!/usr/bin/env bash
# Installs the system packages the project needs, with apt-get when run as root;
# otherwise says what to install. `run`: bubblewrap (command sandbox), libseccomp2 (its
# seccomp filter, loaded by pyseccomp), and the toolchains the developer tools run inside
# it (git, pytest, mypy). `test`: also chromium.
set -euo pipefail
want=(bubblewrap libseccomp2 git python3-pytest mypy)
[[ ${1:-run} == test ]] && want+=(chromium)

missing=()
for pkg in "${want[@]}"; do
  case $pkg in
    bubblewrap) command -v bwrap >/dev/null || missing+=(bubblewrap) ;;
    libseccomp2) /sbin/ldconfig -p 2>/dev/null | grep -q 'libseccomp\.so\.2' || missing+=(libseccomp2) ;;
    chromium) command -v chromium >/dev/null || missing+=(chromium) ;;
    git) command -v git >/dev/null || missing+=(git) ;;
    python3-pytest) /usr/bin/python3 -c 'import pytest' 2>/dev/null || missing+=(python3-pytest) ;;
    mypy) [[ -x /usr/bin/mypy ]] || missing+=(mypy) ;;
  esac
done
((${#missing[@]})) || exit 0

if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
  echo "installing system packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "missing system packages: ${missing[*]}" >&2
  echo "  install them with: sudo apt-get install ${missing[*]}" >&2
  [[ ${1:-run} == test ]] && echo "  (tests that need them are skipped outside CI and fail in CI)" >&2
  [[ " ${missing[*]} " == *" bubblewrap "* ]] && \
    echo "  without bubblewrap, execute_command is refused (or set SANDBOX=none, unsandboxed)" >&2
  exit 0
fi
