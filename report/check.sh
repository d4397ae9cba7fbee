#!/bin/sh
# check.sh: render the report page in a real browser, headless Chromium,
# and check that every chart is drawn (make report-check, after make
# report; CI runs it).
#
#   sh ./check.sh [PAGE]       (default build/report.html)
#
# What it checks, and how, without a line of script in the page itself:
#   1. every chapter has its section and every section its chart: the page
#      holds CHARTS <svg> elements and no "Not measured";
#   2. every chart's SVG parses as XML on its own (xmllint when installed,
#      else Chromium's own parser: --dump-dom shows a <parsererror>);
#   3. every chart's screenshot is not blank: a PNG of a white 880x440
#      window compresses to a couple of KiB, a drawn chart to several times
#      that; the whole page's screenshot too;
#   4. nothing is wider than the page, at 1000 pixels and at 500 (Chromium's
#      narrowest window): a copy of the page gets a few lines of script at
#      its end (the check's, not the page's) that measure every element's
#      box after layout and write the offenders, and how many charts have a
#      size, into the DOM, which --dump-dom prints.
# Needs chromium (Debian: apt-get install chromium). Exits 1 on a failure.
. "$(dirname "$0")/../testkit/demo-lib.sh"
lib_init report-check
watchdog 600
page=$(cd "$(dirname "${1:-build/report.html}")" && pwd)/$(basename "${1:-build/report.html}")
CHARTS=10

browser=
for b in chromium chromium-browser google-chrome; do
    if have $b; then browser=$b; break; fi
done
if [ -z "$browser" ]; then
    echo "check.sh: no chromium on PATH (Debian: apt-get install chromium)" >&2
    exit 1
fi
[ -f "$page" ] || { echo "check.sh: no $page: run make report first" >&2; exit 1; }

# chrome ARGS...: headless, no sandbox (CI runs as root), its noise hidden.
chrome() {
    "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars \
        --user-data-dir="$tmp/profile" "$@" 2>/dev/null
}

echo "check.sh: $page in $("$browser" --version 2>/dev/null)"

# 1. Every chart is on the page.
svgs=$(grep -c '^<svg ' "$page")
[ "$svgs" -eq $CHARTS ] || bad "the page has $svgs charts, not $CHARTS"
if grep -q 'Not measured' "$page"; then bad "a chart was not measured: $(grep -c 'Not measured' "$page") of them"; fi
echo "1. charts on the page: $svgs of $CHARTS"

# 2. Each chart's SVG, cut out of the page, parses.
awk -v dir="$tmp" '/^<svg /{ n++; f = sprintf("%s/chart-%02d.svg", dir, n) }
    f != "" { print > f } /^<\/svg>/ { close(f); f = "" }' "$page"
for f in "$tmp"/chart-*.svg; do
    if have xmllint; then
        xmllint --noout "$f" 2>"$out" || bad "$(basename "$f") does not parse: $(head -1 "$out")"
    else
        chrome --dump-dom "file://$f" | grep -q parsererror && bad "$(basename "$f") does not parse"
    fi
done
echo "2. each chart's SVG parsed on its own ($(have xmllint && echo xmllint || echo "$browser"))"

# 3. Screenshots, each against a blank one of the same size.
printf '<svg xmlns="http://www.w3.org/2000/svg" width="880" height="440"><rect width="880" height="440" fill="#fff"/></svg>\n' >"$tmp/blank.svg"
chrome --window-size=880,440 --screenshot="$tmp/blank.png" "file://$tmp/blank.svg" >/dev/null
blank=$(wc -c <"$tmp/blank.png")
for f in "$tmp"/chart-*.svg; do
    chrome --window-size=880,440 --screenshot="${f%.svg}.png" "file://$f" >/dev/null
    size=$(wc -c <"${f%.svg}.png" 2>/dev/null || echo 0)
    [ "$size" -gt $((blank * 4)) ] || bad "$(basename "$f"): its screenshot looks blank ($size bytes, a blank one is $blank)"
    printf '   %s: %s bytes (blank: %s)\n' "$(basename "${f%.svg}.png")" "$size" "$blank"
done
chrome --window-size=1000,3000 --screenshot="$tmp/page.png" "file://$page" >/dev/null
size=$(wc -c <"$tmp/page.png" 2>/dev/null || echo 0)
[ "$size" -gt $((blank * 10)) ] || bad "the page's screenshot looks blank ($size bytes)"
echo "3. screenshots taken (the page: $size bytes)"

# 4. Nothing overflows the page, wide and narrow.
cp "$page" "$tmp/probe.html"
cat >>"$tmp/probe.html" <<'PROBE'
<script>
var w = document.documentElement.clientWidth, bad = [], drawn = 0;
document.querySelectorAll('body *').forEach(function (e) {
  var r = e.getBoundingClientRect();
  if (r.width > 0 && (r.right > w + 0.5 || r.left < -0.5))
    bad.push(e.tagName + '.' + (e.getAttribute('class') || '') + ' ' + Math.round(r.left) + '..' + Math.round(r.right));
});
document.querySelectorAll('svg.chart').forEach(function (e) {
  var r = e.getBoundingClientRect();
  if (r.width > 0 && r.height > 0) drawn++;
});
var p = document.createElement('pre');
p.id = 'probe';
p.textContent = 'width ' + w + ' drawn ' + drawn + ' overflow ' + bad.length + ': ' + bad.slice(0, 5).join(', ');
document.body.appendChild(p);
</script>
PROBE
for width in 1000 500; do
    chrome --window-size=$width,900 --dump-dom "file://$tmp/probe.html" >"$out"
    result=$(sed -n 's/.*<pre id="probe">\([^<]*\)<.*/\1/p' "$out")
    echo "4. at $width px: ${result:-no answer from the probe}"
    case $result in
    *"drawn $CHARTS overflow 0:"*) ;;
    *) bad "at $width px: ${result:-the probe did not run}" ;;
    esac
done

[ "$fail" = 0 ] && echo "check.sh: all $CHARTS charts drawn, parsed, inside the page"
exit "$fail"
