/*
 * load.h: the two clients built into event-loop.
 *
 *   event-loop client [--count N] [--interval MS] LINE...
 *       One connection. Sends each LINE (N times over, MS apart), waits for
 *       each reply and prints it with its round-trip time:
 *           [client 4300] 0.081 ms  pid 4211: ping
 *       Then a summary line with the slowest round trip. Use it to talk to
 *       the server by hand, or to watch a ping stall while another client
 *       runs `busy`.
 *
 *   event-loop load --conns N --msgs M [--interval MS]
 *       N concurrent connections on one loop of its own (epoll on Linux,
 *       poll elsewhere: select could not hold more than ~1000). Each
 *       connection first says hello (so it is known to be served, or
 *       refused with an error line), then, once all N are connected, sends
 *       M pings one after the other (MS apart if --interval is given) and
 *       checks that each reply is its own. Prints:
 *           [load 4301] connections: 1000 asked, 1000 served, 0 refused, 0 failed
 *           [load 4301] round trips: 10000 in 0.29 s, p50 19.748 ms, p99 20.167 ms, ...
 *           [load 4301] server: stats mode=loop backend=select conns=1001 ...
 *       The stats come from one extra connection opened before the others,
 *       while all N are still open; --msgs 0 measures N idle connections.
 *       It raises its own soft fd limit when N needs it.
 *
 * Both exit 0 when everything they asked for was answered, 1 otherwise (a
 * refused or failed connection, a timeout), after printing what happened.
 */
#ifndef LOAD_H
#define LOAD_H

int client_main(int argc, char **argv);
int load_main(int argc, char **argv);

#endif
