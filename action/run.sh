#!/usr/bin/env bash
# The work of the GitHub Action (action.yml), as a plain script: it runs the same anywhere, and
# the test suite runs it on temporary repositories with a simulated GitHub environment.
#
#   INPUT_PATHS         migration folders or files, separated by spaces or newlines (required)
#   INPUT_BASE          the revision to compare with (the pull request's base); empty: on push
#                       and merge_group, the commit before the push or the queue's base, unless
#                       INPUT_BASELINE is set; else the whole history
#   INPUT_FAIL_ON       the gate; empty: the repository's configuration decides (default high)
#   INPUT_CONFIG        a configuration file (default: the one found from the linted folders)
#   INPUT_BASELINE      a baseline file (`schema-review baseline`): its findings are not reported
#   INPUT_RUNNER, INPUT_PG_VERSION, INPUT_PLATFORM   the profile (default: detected, configured)
#   INPUT_ARGS          more arguments for `schema-review lint`, separated by spaces
#   INPUT_SARIF_FILE    where to write SARIF (default schema-review.sarif)
#   INPUT_COMMENT_FILE  where to write the pull request comment (default schema-review-comment.md)
#   INPUT_UPLOAD_SARIF  "true" (default): upload the SARIF to code scanning with `gh api`
#   INPUT_COMMENT       "true" (default): post the comment on the pull request (one comment,
#                       updated by later runs) with `gh api`
#   INPUT_VERIFY        "true": also run the migrations on PostgreSQL (schema-review verify)
#   INPUT_DATABASE_URL  with INPUT_VERIFY, the server to run on (default: an embedded one)
# GitHub's GITHUB_EVENT_NAME, GITHUB_EVENT_PATH, GITHUB_REPOSITORY, GITHUB_SHA, GITHUB_REF,
# GITHUB_STEP_SUMMARY and GITHUB_OUTPUT are read or written when set; `gh` uses GH_TOKEN.
set -euo pipefail

python_bin=$(command -v python || command -v python3)

# A field of the event's payload (dotted path), or nothing.
event_field() {
  [ -n "${GITHUB_EVENT_PATH:-}" ] && [ -f "$GITHUB_EVENT_PATH" ] || return 0
  "$python_bin" - "$GITHUB_EVENT_PATH" "$1" <<'PY'
import json, sys
value = json.load(open(sys.argv[1], encoding="utf-8"))
for key in sys.argv[2].split("."):
    value = value.get(key) if isinstance(value, dict) else None
print("" if value is None else value)
PY
}

# Every word of every line: a YAML block (`paths: |`) names one folder a line.
read -r -d '' -a targets <<< "${INPUT_PATHS:-}" || true
if [ "${#targets[@]}" -eq 0 ]; then
  echo "::error::schema-review: the paths input names no migration folder"
  exit 2
fi
read -r -d '' -a extra_args <<< "${INPUT_ARGS:-}" || true
sarif=${INPUT_SARIF_FILE:-schema-review.sarif}
comment=${INPUT_COMMENT_FILE:-schema-review-comment.md}
event=${GITHUB_EVENT_NAME:-}
base=${INPUT_BASE:-}
baseline=${INPUT_BASELINE:-}

# What the repository does not configure, given as inputs; nothing else is imposed (no
# --fail-on unless asked: the configuration's fail-on decides).
settings=()
[ -n "${INPUT_FAIL_ON:-}" ] && settings+=(--fail-on "$INPUT_FAIL_ON")
[ -n "${INPUT_CONFIG:-}" ] && settings+=(--config "$INPUT_CONFIG")
[ -n "${INPUT_RUNNER:-}" ] && settings+=(--runner "$INPUT_RUNNER")
[ -n "${INPUT_PG_VERSION:-}" ] && settings+=(--pg-version "$INPUT_PG_VERSION")
[ -n "${INPUT_PLATFORM:-}" ] && settings+=(--platform "$INPUT_PLATFORM")

# A push or a merge queue has no pull request base: review what it adds to the previous
# state, not the whole history (whose old findings would fail every push).
zeros=0000000000000000000000000000000000000000
if [ -z "$base" ] && [ -z "$baseline" ]; then
  case "$event" in
    push) base=$(event_field before) ;;
    merge_group) base=$(event_field merge_group.base_sha) ;;
  esac
  if [ "$event" = push ] || [ "$event" = merge_group ]; then
    if [ -z "$base" ] || [ "$base" = "$zeros" ]; then  # a new branch: its previous commit
      base=""
      # A shallow checkout has one commit: deepen it by one to see the previous one.
      git rev-parse -q --verify "HEAD~1^{commit}" > /dev/null 2>&1 \
        || git fetch --no-tags --deepen=1 origin > /dev/null 2>&1 || true
      base=$(git rev-parse -q --verify "HEAD~1^{commit}" 2> /dev/null || true)
    fi
    if [ -n "$base" ]; then
      echo "::notice::schema-review: $event: reviewing the changes since $base"
    else
      echo "::notice::schema-review: $event: no previous commit; reviewing the whole history"
    fi
  fi
fi

scope=()
if [ -n "$base" ]; then
  # A shallow checkout (actions/checkout's default) lacks the base: fetch just that commit.
  if ! git cat-file -e "${base}^{commit}" 2> /dev/null; then
    git fetch --no-tags --depth=1 origin "$base" \
      || { echo "::error::schema-review: cannot fetch the base revision $base"; exit 2; }
  fi
  scope+=(--diff-base "$base")
fi
[ -n "$baseline" ] && scope+=(--baseline "$baseline")

# One run: annotations on standard output, SARIF, the comment and the summary from the same
# findings, and its exit status is the gate.
summary=$(mktemp)
trap 'rm -f "$summary"' EXIT
linted=0
schema-review lint "${targets[@]}" "${scope[@]}" "${settings[@]}" "${extra_args[@]}" \
  --format github --output-format-file "sarif=$sarif" \
  --output-format-file "pr-comment=$comment" --output-format-file "summary=$summary" \
  || linted=$?
if [ "$linted" -ge 2 ]; then exit "$linted"; fi  # a usage or configuration error: no outputs
if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then cat "$summary" >> "$GITHUB_STEP_SUMMARY"; fi
if [ -n "${GITHUB_OUTPUT:-}" ]; then
  echo "sarif-file=$sarif" >> "$GITHUB_OUTPUT"
  echo "comment-file=$comment" >> "$GITHUB_OUTPUT"
fi

# Publishing needs a token that may write: a pull request from a fork (or from Dependabot)
# gets a read-only one, so there the findings stay in the annotations and the summary.
pull_request=""
case "$event" in
  pull_request | pull_request_target) pull_request=$(event_field pull_request.number) ;;
esac
read_only=""
if [ "$event" = pull_request ]; then
  head_repo=$(event_field pull_request.head.repo.full_name)
  if [ "$head_repo" != "$(event_field repository.full_name)" ]; then
    read_only="a pull request from a fork (${head_repo:-deleted}) has a read-only token"
  elif [ "${GITHUB_ACTOR:-}" = "dependabot[bot]" ]; then
    read_only="Dependabot's pull requests have a read-only token"
  fi
fi
publish() {  # what, so that a skipped step says why
  if [ -n "$read_only" ]; then
    echo "::notice::schema-review: $1 skipped: $read_only"
    return 1
  fi
  if ! command -v gh > /dev/null 2>&1; then
    echo "::notice::schema-review: $1 skipped: the gh command is not installed"
    return 1
  fi
}
if [ "${INPUT_UPLOAD_SARIF:-true}" = true ] && [ -n "${GITHUB_REPOSITORY:-}" ] \
  && publish "the SARIF upload"; then
  body=$(mktemp)
  "$python_bin" - "$sarif" "${GITHUB_SHA:-$(git rev-parse HEAD)}" "${GITHUB_REF:-}" > "$body" <<'PY'
import base64, gzip, json, sys
sarif = base64.b64encode(gzip.compress(open(sys.argv[1], "rb").read())).decode()
print(json.dumps({"commit_sha": sys.argv[2], "ref": sys.argv[3], "sarif": sarif}))
PY
  gh api --method POST "repos/$GITHUB_REPOSITORY/code-scanning/sarifs" --input "$body" \
    > /dev/null \
    || echo "::warning::schema-review: the SARIF upload failed (does the job have security-events: write?)"
  rm -f "$body"
fi
if [ "${INPUT_COMMENT:-true}" = true ] && [ -n "$pull_request" ] \
  && [ -n "${GITHUB_REPOSITORY:-}" ] && publish "the pull request comment"; then
  # One comment per job, found again by its marker and updated by later runs.
  marker="<!-- schema-review:${GITHUB_JOB:-review} -->"
  body=$(mktemp)
  { cat "$comment"; echo; echo "$marker"; } > "$body"
  existing=$(gh api --paginate "repos/$GITHUB_REPOSITORY/issues/$pull_request/comments" \
    --jq ".[] | select(.body | contains(\"$marker\")) | .id" 2> /dev/null | head -n 1 || true)
  if [ -n "$existing" ]; then
    gh api --method PATCH "repos/$GITHUB_REPOSITORY/issues/comments/$existing" \
      -F "body=@$body" > /dev/null || existing=failed
  else
    gh api --method POST "repos/$GITHUB_REPOSITORY/issues/$pull_request/comments" \
      -F "body=@$body" > /dev/null || existing=failed
  fi
  if [ "$existing" = failed ]; then
    echo "::warning::schema-review: the comment could not be posted (does the job have pull-requests: write?)"
  fi
  rm -f "$body"
fi

# Verify on PostgreSQL: its findings annotate the pull request too, and count for the gate.
verified=0
if [ "${INPUT_VERIFY:-false}" = "true" ]; then
  server=()
  [ -n "${INPUT_DATABASE_URL:-}" ] && server=(--database-url "$INPUT_DATABASE_URL")
  annotations=$(mktemp)
  schema-review verify "${targets[@]}" "${server[@]}" "${settings[@]}" --format github \
    > "$annotations" || verified=$?
  cat "$annotations"
  if [ "$verified" -ge 2 ]; then exit "$verified"; fi  # no server: say so, not "passed"
  if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
    # The last line: how many findings PostgreSQL gave, and the gate.
    { echo; echo "On PostgreSQL: $(tail -n 1 "$annotations")"; } >> "$GITHUB_STEP_SUMMARY"
  fi
  rm -f "$annotations"
fi
if [ "$linted" -ne 0 ]; then exit "$linted"; fi
exit "$verified"
