/*
 * costs.h: the two experiments behind the chapter's figures on what threads
 * cost, run as subcommands of ./event-loop (see costs.c):
 *
 *   event-loop thread-limit [--limit N] [--spare-maps M]
 *   event-loop switch-cost [--rounds N]
 */
#ifndef COSTS_H
#define COSTS_H

/* argv[0] is the subcommand's name. Return the exit status. */
int thread_limit_main(int argc, char **argv);
int switch_cost_main(int argc, char **argv);

#endif
