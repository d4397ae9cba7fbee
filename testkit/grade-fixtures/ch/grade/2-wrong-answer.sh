# An exercise with the wrong answer: the last line is the report.
# hint: print 43
#
# timeout: 5
echo "some noise first"
echo "expected 43, got $(./prog)"
exit 1
