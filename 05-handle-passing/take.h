/*
 * take.h: `handle-passing take PID FD`, the other way to give a running
 * process a socket: it takes one with pidfd_getfd(2) (Linux 5.6+). See
 * take.c.
 */
#ifndef TAKE_H
#define TAKE_H

/* argv[0] is "take". Returns the exit status. */
int take_main(int argc, char **argv);

#endif
