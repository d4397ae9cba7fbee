# row.sh: what 07's checks share, sourced (testkit/grade runs a check as
# `sh FILE` from the chapter's folder): run ./thundering-herd for one mode
# with --csv and read its csv line.

# run_mode MODE [FLAGS...]: run the mode with the load of FLAGS and set
# workers served errors woken ret eagain jain and accepts (what is left of
# the line: the accepts per worker, comma-separated). Returns 1 when it did
# not run, after an `expected ..., got ...` line.
run_mode() {
    mode=$1
    shift
    out=$(./thundering-herd --mode "$mode" --csv "$@" 2>&1)
    rc=$?
    line=$(printf '%s\n' "$out" | grep "^csv,$mode,")
    case $line in
    "" | *,skipped*)
        printf '%s\n' "$out" | tail -n 3
        echo "expected ./thundering-herd --mode $mode $* to run, got exit $rc:" \
            "$(printf '%s\n' "$out" | grep -v '^[[:space:]]*$' | head -n 1)"
        return 1
        ;;
    esac
    # shellcheck disable=SC2034 # for the checks that source this file
    IFS=, read -r _ _ workers served errors woken ret eagain jain _ <<END
$line
END
    accepts=$(printf '%s\n' "$line" | cut -d, -f16-)
    printf '%s\n' "$out" | grep -e '^mode ' -e "^$mode "
    return 0
}

# all_served N: the run served N connections without an error; else says so.
all_served() {
    [ "$served" = "$1" ] && [ "$errors" = 0 ] && return 0
    echo "expected $1 connections served, no errors, got $served served, $errors errors"
    return 1
}

# at_least X Y: X >= Y, as numbers.
at_least() {
    awk -v x="$1" -v y="$2" 'BEGIN { exit !(x + 0 >= y + 0) }'
}

# no_herd_but_spread MAX_WOKEN MIN_JAIN WHY: woken/conn at most MAX_WOKEN
# (WHY says why), and the accepts spread, Jain's index at least MIN_JAIN.
no_herd_but_spread() {
    if ! at_least "$1" "$woken"; then
        echo "expected woken/conn at most $1 ($3), got $woken"
        return 1
    fi
    at_least "$jain" "$2" && return 0
    echo "expected the accepts spread over the $workers workers (Jain >= $2), got Jain" \
        "$jain, accepts $accepts"
    return 1
}
