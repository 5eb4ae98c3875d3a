#!/usr/bin/env bash
# Builds the web app into src/orchestrator/web/static (served by the backend).
# Idempotent and quick when nothing changed: `npm ci` only when package-lock.json changed
# since the last install, `npm run build` (vue-tsc type-check + vite) only when a source did.
set -euo pipefail
cd "$(dirname "$0")/../frontend"

out=../src/orchestrator/web/static
install_stamp=node_modules/.orchestrator-install
build_stamp=node_modules/.orchestrator-build

if ! command -v npm >/dev/null; then
  if [[ -f $out/index.html ]]; then
    echo "npm not found: keeping the web app already built in $out" >&2
    exit 0
  fi
  echo "npm not found: install Node.js 20.19+ to build the web app (the API works without it)" >&2
  exit 1
fi

hash_of() { sha256sum "$@" | sha256sum | cut -d' ' -f1; }

lock_hash=$(hash_of package-lock.json)
if [[ ! -f $install_stamp || $(cat "$install_stamp") != "$lock_hash" ]]; then
  echo "frontend: npm ci"
  # A registry mirror that carries only this platform's optional binaries (rollup, tailwind's
  # oxide) leaves the other platforms out of the lock file, and `npm ci` then refuses it as out
  # of sync; `npm install --no-save` installs the same locked versions without touching the lock.
  npm ci --no-audit --no-fund --loglevel=error 2>/dev/null ||
    npm install --no-save --no-audit --no-fund --loglevel=error
  echo "$lock_hash" >"$install_stamp"
fi

mapfile -d '' sources < <(find src public index.html package-lock.json vite.config.ts tsconfig*.json \
  -type f -not -name '*.tsbuildinfo' -print0 | sort -z)
source_hash=$(hash_of "${sources[@]}")
if [[ -f $out/index.html && -f $build_stamp && $(cat "$build_stamp") == "$source_hash" ]]; then
  exit 0
fi
echo "frontend: building the web app"
npm run --silent build
echo "$source_hash" >"$build_stamp"
