# A check that never answers.
# hint: it hangs
#
# timeout: 1
sleep 30
