# Exercise 4: nginx's ngx_accept_disabled. An nginx-mutex worker that has
# accepted 8 connections in a row skips one try of the lock, so the others
# get turns: the accepts spread, and still one worker wakes per connection.
#
# hint: in nginx_wait (modes.c), count the worker's accepts in a row (a
# field of its own in struct herd: each worker has its copy); after 8,
# skip one nginx_trylock() and start counting again; README exercise 4
#
# timeout: 40
#
# Four workers, 96 connections one at a time, the default 500 ms delay: as
# shipped the holder keeps the lock and takes all 96 (Jain 0.25); skipping
# one try after 8 in a row gave Jain 0.78 to 1.00 in our runs, so the
# check asks for 0.6. woken/conn stays near 1 (1.04 to 1.14): the workers
# without the lock wake on their delay, not on every connection.
. "$(dirname "$0")/row.sh"

run_mode nginx-mutex --workers 4 --connections 96 || exit 1
all_served 96 || exit 1
no_herd_but_spread 2.0 0.6 "no herd: only the holder watches the listener" || exit 1
exit 0
