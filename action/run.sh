#!/usr/bin/env bash
# The work of the GitHub Action (action.yml), as a plain script: it runs the same anywhere, and
# the test suite runs it on a temporary repository.
#
#   INPUT_PATHS         migration folders or files, separated by spaces (required)
#   INPUT_BASE          the revision to compare with (the pull request's base); empty: whole history
#   INPUT_FAIL_ON       the gate (default high)
#   INPUT_SARIF_FILE    where to write SARIF for code scanning (default schema-review.sarif)
#   INPUT_COMMENT_FILE  where to write the pull request comment (default schema-review-comment.md)
# GitHub's GITHUB_STEP_SUMMARY and GITHUB_OUTPUT are written when set.
set -euo pipefail

paths=${INPUT_PATHS:?INPUT_PATHS: the migration folders to lint}
base=${INPUT_BASE:-}
fail_on=${INPUT_FAIL_ON:-high}
sarif=${INPUT_SARIF_FILE:-schema-review.sarif}
comment=${INPUT_COMMENT_FILE:-schema-review-comment.md}

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
# Last, the gate: annotations on the pull request, and the exit status of the step.
schema-review lint "${targets[@]}" "${scope[@]}" --format github --fail-on "$fail_on"
