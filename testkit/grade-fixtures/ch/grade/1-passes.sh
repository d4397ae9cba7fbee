# A solved exercise.
# hint: not shown
[ "$(./prog)" = 42 ] && exit 0
echo "expected 42, got $(./prog)"
exit 1
