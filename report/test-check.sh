#!/bin/sh
# test-check.sh: check the checker. Runs check.sh on a copy of the report
# page broken four ways at once and expects it to fail and to name each:
#   chart 1  a "<" left unescaped in its title: the SVG does not parse
#   chart 2  everything but its white background removed: a blank chart
#   chart 3  removed, its section saying "Not measured": a chart missing
#   the page gets an element 1400 pixels wide: it overflows
# A check that cannot fail is no check. CI runs it after make report-check
# (about as long: one Chromium start per chart).
#
#   sh ./test-check.sh [PAGE]      (default build/report.html, after make report)
. "$(dirname "$0")/../testkit/demo-lib.sh"
lib_init report-test-check
page=${1:-build/report.html}
[ -f "$page" ] || { echo "test-check.sh: no $page: run make report first" >&2; exit 1; }

awk '
    /^<h1>/ { print "<div style=\"width:1400px;height:4px\"></div>" }
    /^<svg / { n++ }
    n == 1 && /^<title>/ && !broke { print "<title>a < b</title>"; broke = 1; next }
    n == 2 && inside && !/^<\/svg>/ && !/^<rect width=/ { next }
    n == 3 && /^<svg / { print "<p class=\"note\">Not measured on this machine.</p>"; skip = 1 }
    skip { if (/^<\/svg>/) skip = 0; next }
    /^<svg / { inside = 1 }
    /^<\/svg>/ { inside = 0 }
    { print }
' "$page" >"$tmp/broken.html"

sh ./check.sh "$tmp/broken.html" >"$out" 2>&1
rc=$?
sed 's/^/  | /' "$out"
[ "$rc" -ne 0 ] || bad "check.sh passed a broken page"
expect_line() {
    grep -q -- "$1" "$out" || bad "check.sh did not say: $1"
}
expect_line "the page has 9 charts, not 10"
expect_line "a chart was not measured"
expect_line "chart-01.svg does not parse"
expect_line "chart-02.svg: its screenshot looks blank"
expect_line "overflow 1: DIV"
[ "$fail" = 0 ] && echo "test-check.sh: check.sh caught all four breakages"
exit "$fail"
