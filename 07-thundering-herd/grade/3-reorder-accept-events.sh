# Exercise 3: nginx's ngx_reorder_accept_events. An epoll-exclusive worker
# adds the listener again on its first accept and every 16th after, and so
# goes to the back of the line: the connections go round the workers,
# still one woken per connection.
#
# hint: in epoll-exclusive's wait (epoll_wait_conn, modes.c), after the
# accept that is the worker's 1st, 17th, 33rd..., epoll_ctl(EPOLL_CTL_DEL) the
# listener, then EPOLL_CTL_ADD it again with EPOLLIN | EPOLLEXCLUSIVE; README
# exercise 3
#
# timeout: 30
#
# Four workers, 200 connections one at a time: as shipped the first worker
# to register takes all 200 (Jain 0.25); re-added every 16 accepts, each
# takes 49 to 53 (Jain 1.00). woken/conn must stay near 1 (the kernel's
# count): taking EPOLLEXCLUSIVE away would spread them too, by waking all.
. "$(dirname "$0")/row.sh"

run_mode epoll-exclusive --workers 4 --connections 200 || exit 1
all_served 200 || exit 1
no_herd_but_spread 1.5 0.9 "one worker woken per connection: still EPOLLEXCLUSIVE" || exit 1
exit 0
