/* Exercise 9: o.detached, Node's `detached: true` on Unix: the child leads a
 * new session (setsid), so the terminal's hang-up and Ctrl-C no longer
 * reach it.
 *
 * hint: add int detached to proc_options_t and proc_start_t, and call setsid() in
 * child_main (instead of setpgid: a session leader already leads its group); README
 * exercise 9
 *
 * link: build/proc.o build/net.o build/loop.o build/loop_select.o build/loop_poll.o
 * build/loop_epoll.o
 *
 * The child is this program again, run with --ids: it prints its pid, its
 * process group and its session. Detached, all three are equal, with or
 * without process_group; not detached, the session is ours.
 */
#include "run.h"

#include <unistd.h>

/* Run self --ids; 0 when its ids are as expected. */
static int check(const char *self, int detached, int group)
{
    const char *argv[] = {self, "--ids", NULL};
    proc_options_t o = {0};
    o.detached = detached;
    o.process_group = group;
    struct run r;
    if (run(argv, &o, &r, 5000) == -1)
        return -1;
    long pid = 0, pgrp = 0, sid = 0;
    if (r.status[0] || sscanf(r.out, "%ld %ld %ld", &pid, &pgrp, &sid) != 3) {
        printf("expected the child (detached %d, process_group %d) to run, got \"%s\"\n",
               detached, group, r.status[0] ? r.status : r.out);
        return -1;
    }
    int ok = detached ? (sid == pid && pgrp == pid) : (sid == (long)getsid(0));
    if (!ok) {
        printf("expected detached %d, process_group %d: %s, got pid %ld, group %ld, "
               "session %ld (ours %ld)\n",
               detached, group,
               detached ? "a session and group led by the child" : "our session", pid,
               pgrp, sid, (long)getsid(0));
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--ids") == 0) {
        printf("%ld %ld %ld\n", (long)getpid(), (long)getpgrp(), (long)getsid(0));
        return 0;
    }
    if (check(argv[0], 0, 0) == -1 || check(argv[0], 1, 0) == -1 ||
        check(argv[0], 1, 1) == -1)
        return 1;
    return 0;
}
