/*
 * fork_cost.h: `fork cost`, what creating a process really costs.
 *
 * The post says a fork costs "at least 30mm 10MB". That garbles old Node
 * docs about starting a whole new Node (about 30 ms and 10 MB then; a Node 20
 * child is ~40 MB and ~80 ms today). A C fork(2) is a different thing: it
 * copies the page tables, not the memory, and the pages are shared
 * copy-on-write until someone writes them. So its cost grows with the
 * parent's resident size, while vfork(2) and posix_spawn(3) (which lends the
 * parent's memory instead of copying its page tables) stay flat.
 *
 * cost_run() makes a parent of each requested size (anonymous memory, every
 * page touched so that it is resident), times each way of creating a process
 * `runs` times and prints the median, then shows copy-on-write at work: it
 * reads the child's /proc/PID/smaps_rollup (Linux 4.14+) right after fork and
 * again after the child has written a quarter, a half and all of the memory.
 *
 *   ./fork cost                          1, 100 and 1024 MiB
 *   ./fork cost --sizes 1,512 --runs 9
 */
#ifndef FORK_COST_H
#define FORK_COST_H

#include <stddef.h>

enum { COST_MAX_SIZES = 16 };

typedef struct cost_opts {
    size_t sizes_mib[COST_MAX_SIZES]; /* parent sizes to measure, in MiB */
    int nsizes;
    int runs;         /* timings per method and size; the median is shown */
    const char *prog; /* the trivial program for posix_spawn and exec */
    size_t cow_mib;   /* size for the copy-on-write view; 0: the largest */
    int no_vfork;     /* skip vfork (some sanitizer builds mishandle it) */
} cost_opts;

/* Measure and print, then return 0. A failure (mmap of a size the machine
 * cannot give, the program missing...) ends the process with exit status 1
 * and a message naming the call and the errno text, through err(3). */
int cost_run(const cost_opts *opts);

#endif
