#!/usr/bin/env bash
# Rewrite the dev kit's old module names and paths to its own package (issue 24):
#
#   bot.emulator, bot.sim, bot.sandbox, bot.demo      ->  precoro_devkit.emulator, .sim, .sandbox, .demo
#   bot/emulator, bot/sim, bot/sandbox.*, bot/demo.py ->  devkit/precoro_devkit/emulator, ...
#   ROOT / "bot" / "emulator"  (and "sim", "sandbox.html", ...)  ->  ROOT / "devkit" / "precoro_devkit" / "emulator"
#   resources.files("bot") / "sandbox.html"           ->  resources.files("precoro_devkit") / "sandbox.html"
#
# in every tracked text file but this one. Idempotent: the new names never match the old patterns, so
# running it again (say after merging a branch that still imports bot.emulator) changes only what is
# still old. A name preceded by a letter, digit, '_', '-' or '.' is left alone (precoro-bot.demo,
# robot.sim, x.bot.sim). Then `ruff check --fix --select I001` on the Python files it changed
# ($RUFF, else ruff on the PATH, else .venv/bin/ruff). Needs git and GNU sed.
#
#   devkit/rename-imports.sh                                 rewrite in place
#   RUFF=/path/to/ruff devkit/rename-imports.sh              with that ruff for the import order
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"

KIT='emulator|sim|sandbox|demo'
B='(^|[^-[:alnum:]_.])'  # what may stand before "bot": not part of a longer name

mapfile -d '' files < <(git grep -lzIE \
  -e "${B}bot[./]($KIT)\b" \
  -e "\"bot\" */ *\"($KIT)\b" \
  -e "resources\.files\(\"bot\"\) */ *\"sandbox\.html\"" \
  -- . ':!devkit/rename-imports.sh' || true)

if [ "${#files[@]}" -eq 0 ]; then
  echo "rename-imports: nothing left to rewrite"
  exit 0
fi

sed -i -E \
  -e "s#${B}bot\.($KIT)\b#\1precoro_devkit.\2#g" \
  -e "s#${B}bot/($KIT)\b#\1devkit/precoro_devkit/\2#g" \
  -e "s#\"bot\"( */ *)\"($KIT)\b#\"devkit\"\1\"precoro_devkit\"\1\"\2#g" \
  -e "s#resources\.files\(\"bot\"\)( */ *\"sandbox\.html\")#resources.files(\"precoro_devkit\")\1#g" \
  "${files[@]}"

# precoro_devkit is first-party after bot (pyproject.toml: [tool.ruff] src): its imports move below bot's.
ruff="${RUFF:-$(command -v ruff || echo .venv/bin/ruff)}"
mapfile -t py < <(printf '%s\n' "${files[@]}" | grep '\.py$' || true)
if [ "${#py[@]}" -gt 0 ]; then
  if [ -x "$ruff" ] || command -v "$ruff" >/dev/null; then
    "$ruff" check --quiet --fix --select I001 "${py[@]}" || true
  else
    echo "rename-imports: no ruff (set RUFF=...): sort the imports with ruff check --fix --select I001" >&2
  fi
fi

echo "rename-imports: rewrote ${#files[@]} file(s)"
git diff --stat -- "${files[@]}" | tail -n 1
