#!/usr/bin/env bash
# The work of the GitHub Action (action.yml), as a plain script: it runs the same anywhere, and
# the test suite runs it on a temporary repository.
#
#   INPUT_PATHS         migration folders or files, separated by spaces (required)
#   INPUT_BASE          the revision to compare with (the pull request's base); empty: whole history
#   INPUT_FAIL_ON       the gate (default high)
#   INPUT_SARIF_FILE    where to write SARIF for code scanning (default schema-review.sarif)
#   INPUT_COMMENT_FILE  where to write the pull request comment (default schema-review-comment.md)
#   INPUT_VERIFY        "true": also run the migrations on PostgreSQL (schema-review verify)
#   INPUT_DATABASE_URL  with INPUT_VERIFY, the server to run on (default: an embedded one)
# GitHub's GITHUB_STEP_SUMMARY and GITHUB_OUTPUT are written when set.
set -euo pipefail

paths=${INPUT_PATHS:?INPUT_PATHS: the migration folders to lint}
base=${INPUT_BASE:-}
fail_on=${INPUT_FAIL_ON:-high}
sarif=${INPUT_SARIF_FILE:-schema-review.sarif}
comment=${INPUT_COMMENT_FILE:-schema-review-comment.md}
verify=${INPUT_VERIFY:-false}
database_url=${INPUT_DATABASE_URL:-}

read -r -a targets <<< "$paths"
scope=()
if [ -n "$base" ]; then
  # A shallow checkout (actions/checkout's default) lacks the base: fetch just that commit.
  if ! git cat-file -e "${base}^{commit}" 2>/dev/null; then
    git fetch --no-tags --depth=1 origin "$base" \
      || { echo "::error::schema-review: cannot fetch the base revision $base"; exit 2; }
  fi
  scope=(--diff-base "$base")
fi

schema-review lint "${targets[@]}" "${scope[@]}" --format sarif --fail-on none -o "$sarif"
schema-review report "${targets[@]}" "${scope[@]}" --template pr-comment --fail-on "$fail_on" \
  -o "$comment"
if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
  schema-review report "${targets[@]}" "${scope[@]}" --template summary --fail-on "$fail_on" \
    >> "$GITHUB_STEP_SUMMARY"
fi
if [ -n "${GITHUB_OUTPUT:-}" ]; then
  echo "sarif-file=$sarif" >> "$GITHUB_OUTPUT"
  echo "comment-file=$comment" >> "$GITHUB_OUTPUT"
fi
# Verify on PostgreSQL: its findings annotate the pull request too, and count for the gate.
verified=0
if [ "$verify" = "true" ]; then
  server=()
  if [ -n "$database_url" ]; then
    server=(--database-url "$database_url")
  fi
  annotations=$(mktemp)
  schema-review verify "${targets[@]}" "${server[@]}" --format github --fail-on "$fail_on" \
    > "$annotations" || verified=$?
  cat "$annotations"
  if [ "$verified" -ge 2 ]; then exit "$verified"; fi  # no server: say so, not "passed"
  if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
    # The last line: how many findings PostgreSQL gave, and the gate.
    { echo; echo "On PostgreSQL: $(tail -n 1 "$annotations")"; } >> "$GITHUB_STEP_SUMMARY"
  fi
  rm -f "$annotations"
fi
# Last, the gate: annotations on the pull request, and the exit status of the step.
linted=0
schema-review lint "${targets[@]}" "${scope[@]}" --format github --fail-on "$fail_on" || linted=$?
if [ "$linted" -ne 0 ]; then exit "$linted"; fi
exit "$verified"
